package template

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// repoRoot is the repository root, found from this file's location so the tests work from
// any working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// decodeCFN turns a YAML node into plain Go values (map[string]any, []any, string, ...),
// expanding CloudFormation's short tags into their long form: !Ref X -> {"Ref": X},
// !GetAtt A.B -> {"Fn::GetAtt": [A, B]}, !Condition X -> {"Condition": X}, and any other
// !Name v -> {"Fn::Name": v}.
func decodeCFN(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: want one document, got %d", n.Line, len(n.Content))
		}
		return decodeCFN(n.Content[0])
	case yaml.AliasNode:
		return decodeCFN(n.Alias)
	}
	var v any
	var err error
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", n.Content[i].Line, k)
			}
			if m[k], err = decodeCFN(n.Content[i+1]); err != nil {
				return nil, err
			}
		}
		v = m
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, c := range n.Content {
			if s[i], err = decodeCFN(c); err != nil {
				return nil, err
			}
		}
		v = s
	case yaml.ScalarNode:
		tag := n.Tag
		if strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") {
			tag = "!!str" // a short intrinsic's argument is decoded as text
		}
		plain := yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: n.Value, Style: n.Style}
		if err := plain.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
	}
	if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
		return v, nil
	}
	name := strings.TrimPrefix(n.Tag, "!")
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q has no attribute", n.Line, s)
			}
			return map[string]any{"Fn::GetAtt": []any{res, attr}}, nil
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	}
	return map[string]any{"Fn::" + name: v}, nil
}

// template is template.yaml decoded by decodeCFN, with helpers for the shapes the tests use.
type template struct {
	raw map[string]any
}

func loadTemplate(t *testing.T) template {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatalf("read template.yaml: %v", err)
	}
	tpl, err := parseTemplate(b)
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	return tpl
}

func parseTemplate(b []byte) (template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return template{}, err
	}
	v, err := decodeCFN(&doc)
	if err != nil {
		return template{}, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return template{}, fmt.Errorf("top level is %T, want a mapping", v)
	}
	return template{raw: m}, nil
}

func (tp template) resources() map[string]any { return asMap(tp.raw["Resources"]) }

func (tp template) resource(t *testing.T, id string) map[string]any {
	t.Helper()
	r := asMap(tp.resources()[id])
	if r == nil {
		t.Fatalf("template has no resource %s", id)
	}
	return r
}

func (tp template) globalsFunction() map[string]any {
	return asMap(asMap(tp.raw["Globals"])["Function"])
}

// fnProp is a function property with Globals applied (the function's own value wins; SAM
// merges Environment variables, handled by envVars).
func (tp template) fnProp(id, key string) any {
	if v, ok := asMap(asMap(tp.resources()[id])["Properties"])[key]; ok {
		return v
	}
	return tp.globalsFunction()[key]
}

// envVars is the function's environment after SAM merges Globals with its own.
func (tp template) envVars(id string) map[string]any {
	out := map[string]any{}
	for k, v := range asMap(asMap(tp.globalsFunction()["Environment"])["Variables"]) {
		out[k] = v
	}
	props := asMap(asMap(tp.resources()[id])["Properties"])
	for k, v := range asMap(asMap(props["Environment"])["Variables"]) {
		out[k] = v
	}
	return out
}

func (tp template) functionIDs() []string {
	var ids []string
	for id, r := range tp.resources() {
		if asMap(r)["Type"] == "AWS::Serverless::Function" {
			ids = append(ids, id)
		}
	}
	return ids
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// number reads an integer property (YAML gives int; a quoted number gives a string).
func number(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case string:
		var n int
		if _, err := fmt.Sscanf(x, "%d", &n); err == nil {
			return n, true
		}
	}
	return 0, false
}
