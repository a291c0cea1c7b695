package template

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseTemplateExpandsShortTags(t *testing.T) {
	src := `
Resources:
  Q:
    Properties:
      A: !Ref Stage
      B: !GetAtt Queue.Arn
      C: !Sub arn:${AWS::Partition}:x
      D: !If [IsProd, ENABLED, DISABLED]
      E: !Equals [!Ref Stage, prod]
      F: 900
      G: "900"
      H: true
`
	tp, err := parseTemplate([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	p := asMap(asMap(tp.resources()["Q"])["Properties"])
	want := map[string]string{
		"A": "map[Ref:Stage]",
		"B": "map[Fn::GetAtt:[Queue Arn]]",
		"C": "map[Fn::Sub:arn:${AWS::Partition}:x]",
		"D": "map[Fn::If:[IsProd ENABLED DISABLED]]",
		"E": "map[Fn::Equals:[map[Ref:Stage] prod]]",
		"F": "900",
		"G": "900",
		"H": "true",
	}
	for k, w := range want {
		if got := fmt.Sprint(p[k]); got != w {
			t.Errorf("%s = %s, want %s", k, got, w)
		}
	}
	if _, ok := p["F"].(int); !ok {
		t.Errorf("F is %T, want int", p["F"])
	}
	if _, ok := p["G"].(string); !ok {
		t.Errorf("G is %T, want string", p["G"])
	}
}

func TestParseTemplateErrors(t *testing.T) {
	for name, src := range map[string]string{
		"duplicate key": "A: 1\nA: 2\n",
		"bad GetAtt":    "A: !GetAtt NoDot\n",
		"not a map":     "- 1\n",
	} {
		if _, err := parseTemplate([]byte(src)); err == nil {
			t.Errorf("%s: parsed without error", name)
		} else if strings.TrimSpace(err.Error()) == "" {
			t.Errorf("%s: empty error", name)
		}
	}
}
