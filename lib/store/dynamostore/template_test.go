package dynamostore_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/certain-marketo/certain-marketo/lib/store/dynamostore"
)

// TestTemplateMatchesTableDefs fails when template.yaml (repo root) declares
// the tables differently from TableDefs: key names, key types, attribute
// types, TTL, or any secondary index.
func TestTemplateMatchesTableDefs(t *testing.T) {
	path := filepath.Join("..", "..", "..", "template.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("template.yaml must exist at the repository root and declare the tables of dynamostore.TableDefs: %v", err)
	}
	for _, p := range templateProblems(raw) {
		t.Errorf("%s: %s", path, p)
	}
}

// templateProblems lists every way the template's tables disagree with
// TableDefs.
func templateProblems(raw []byte) []string {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil || len(doc.Content) == 0 {
		return []string{fmt.Sprintf("not parseable YAML: %v", err)}
	}
	resources := get(doc.Content[0], "Resources")
	if resources == nil {
		return []string{"no Resources"}
	}
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	for _, d := range dynamostore.TableDefs() {
		res := get(resources, d.LogicalID)
		if res == nil {
			add("no resource %s", d.LogicalID)
			continue
		}
		if typ := scalar(get(res, "Type")); typ != "AWS::DynamoDB::Table" {
			add("%s: Type %q, want AWS::DynamoDB::Table", d.LogicalID, typ)
		}
		props := get(res, "Properties")
		keys := map[string]string{}
		for _, k := range seq(get(props, "KeySchema")) {
			keys[scalar(get(k, "AttributeName"))] = scalar(get(k, "KeyType"))
		}
		want := map[string]string{d.HashKey: "HASH", d.RangeKey: "RANGE"}
		if fmt.Sprint(keys) != fmt.Sprint(want) {
			add("%s: KeySchema %v, want %v", d.LogicalID, keys, want)
		}
		attrs := map[string]string{}
		for _, a := range seq(get(props, "AttributeDefinitions")) {
			attrs[scalar(get(a, "AttributeName"))] = scalar(get(a, "AttributeType"))
		}
		wantAttrs := map[string]string{d.HashKey: "S", d.RangeKey: "S"}
		if fmt.Sprint(attrs) != fmt.Sprint(wantAttrs) {
			add("%s: AttributeDefinitions %v, want %v", d.LogicalID, attrs, wantAttrs)
		}
		for _, idx := range []string{"GlobalSecondaryIndexes", "LocalSecondaryIndexes"} {
			if get(props, idx) != nil {
				add("%s: declares %s; the store uses none", d.LogicalID, idx)
			}
		}
		ttl := get(props, "TimeToLiveSpecification")
		switch {
		case d.TTL == "" && ttl != nil && scalar(get(ttl, "Enabled")) == "true":
			add("%s: TTL enabled on %q, the store declares none", d.LogicalID, scalar(get(ttl, "AttributeName")))
		case d.TTL != "" && (ttl == nil || scalar(get(ttl, "AttributeName")) != d.TTL || scalar(get(ttl, "Enabled")) != "true"):
			add("%s: TimeToLiveSpecification must enable TTL on %q", d.LogicalID, d.TTL)
		}
	}
	return probs
}

const goodTemplate = `Resources:
  ConfigTable:
    Type: AWS::DynamoDB::Table
    DeletionPolicy: Retain
    Properties:
      BillingMode: PAY_PER_REQUEST
      DeletionProtectionEnabled: !If [IsProd, true, false]
      AttributeDefinitions: [{ AttributeName: pk, AttributeType: S }, { AttributeName: sk, AttributeType: S }]
      KeySchema: [{ AttributeName: pk, KeyType: HASH }, { AttributeName: sk, KeyType: RANGE }]
  StateTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{ AttributeName: pk, AttributeType: S }, { AttributeName: sk, AttributeType: S }]
      KeySchema: [{ AttributeName: pk, KeyType: HASH }, { AttributeName: sk, KeyType: RANGE }]
      TimeToLiveSpecification: { AttributeName: expiresAt, Enabled: true }
`

func TestTemplateChecker(t *testing.T) {
	if p := templateProblems([]byte(goodTemplate)); len(p) != 0 {
		t.Fatalf("good template flagged: %v", p)
	}
	bad := map[string][2]string{
		"ttl attribute":  {"AttributeName: expiresAt", "AttributeName: ttl"},
		"range key name": {"{ AttributeName: sk, KeyType: RANGE }]\n  StateTable", "{ AttributeName: id, KeyType: RANGE }]\n  StateTable"},
		"hash only":      {", { AttributeName: sk, KeyType: RANGE }]\n      TimeToLive", "]\n      TimeToLive"},
		"number key":     {"{ AttributeName: sk, AttributeType: S }]\n      KeySchema: [{ AttributeName: pk, KeyType: HASH }, { AttributeName: sk, KeyType: RANGE }]\n      TimeToLive", "{ AttributeName: sk, AttributeType: N }]\n      KeySchema: [{ AttributeName: pk, KeyType: HASH }, { AttributeName: sk, KeyType: RANGE }]\n      TimeToLive"},
		"gsi":            {"      TimeToLiveSpecification", "      GlobalSecondaryIndexes: []\n      TimeToLiveSpecification"},
		"missing table":  {"  StateTable:", "  OtherTable:"},
	}
	for name, r := range bad {
		if !strings.Contains(goodTemplate, r[0]) {
			t.Fatalf("%s: fixture text %q not found", name, r[0])
		}
		if p := templateProblems([]byte(strings.Replace(goodTemplate, r[0], r[1], 1))); len(p) == 0 {
			t.Errorf("%s: not flagged", name)
		}
	}
}

// get returns the value of key in a YAML mapping node, or nil.
func get(n *yaml.Node, key ...string) *yaml.Node {
	if n == nil {
		return nil
	}
	if len(key) == 0 {
		return n
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key[0] {
			return get(n.Content[i+1], key[1:]...)
		}
	}
	return nil
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

func seq(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}
