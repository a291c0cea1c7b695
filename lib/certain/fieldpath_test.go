package certain_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/certain"
)

// A profile shaped like recorded Certain JSON: nested objects and the
// {plural: {singular: [...]}} list wrappers of questions and answers.
const profileJSON = `{"pin":"P-1","externalKey":"88","integration":{"marketoId":"4411"},
 "profileQuestions":{"question":[
   {"questionCode":"SRC","answers":{"answer":[{"answerId":null,"value":"Marketo"}]}},
   {"questionCode":"ONE","answers":{"answer":{"value":"single element, not a list"}}}]}}`

func TestLookupPath(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal([]byte(profileJSON), &m); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]any{
		"externalKey":           "88",
		"integration.marketoId": "4411",
		"profileQuestions.question[questionCode=SRC].answers.answer[0].value": "Marketo",
		"profileQuestions.question[1].questionCode":                           "ONE",
		"profileQuestions.question[questionCode=ONE].answers.answer[0].value": "single element, not a list",
	} {
		got, ok := certain.LookupPath(m, path)
		if !ok || got != want {
			t.Errorf("LookupPath(%s) = %v, %v; want %v", path, got, ok, want)
		}
	}
	for _, path := range []string{"missing", "integration.other", "profileQuestions.question[questionCode=NOPE].answers",
		"profileQuestions.question[7]", "profileQuestions.question[", "a..b"} {
		if got, ok := certain.LookupPath(m, path); ok {
			t.Errorf("LookupPath(%s) = %v, want not found", path, got)
		}
	}
}

func TestParsePathRejectsBadPaths(t *testing.T) {
	for _, bad := range []string{"", ".a", "a.", "a..b", "a[", "a[]", "a[-1]", "a[x]", "a[=v]", "a[k=]"} {
		if err := certain.ParsePath(bad); err == nil {
			t.Errorf("ParsePath(%q) accepted", bad)
		}
	}
	for _, good := range []string{"externalKey", "a.b.c", "q.question[questionCode=SRC].answers.answer[0].value", "tags.tag"} {
		if err := certain.ParsePath(good); err != nil {
			t.Errorf("ParsePath(%q) = %v", good, err)
		}
	}
}

func TestExpandPathsWritesNestedFields(t *testing.T) {
	got, err := certain.ExpandPaths(map[string]any{
		"email":                 "a@x.example",
		"address":               map[string]any{"city": "Oslo"},
		"address.line1":         "Storgata 1",
		"integration.marketoId": "4411",
		"profileQuestions.question[questionCode=SRC].answers.answer[0].value": "Marketo",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"email":       "a@x.example",
		"address":     map[string]any{"city": "Oslo", "line1": "Storgata 1"},
		"integration": map[string]any{"marketoId": "4411"},
		"profileQuestions": map[string]any{"question": []any{map[string]any{"questionCode": "SRC",
			"answers": map[string]any{"answer": []any{map[string]any{"value": "Marketo"}}}}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ExpandPaths =\n%#v\nwant\n%#v", got, want)
	}
	// What is written reads back through the same path.
	if v, ok := certain.LookupPath(got, "profileQuestions.question[questionCode=SRC].answers.answer[0].value"); !ok || v != "Marketo" {
		t.Errorf("read back %v, %v", v, ok)
	}
	if _, err := certain.ExpandPaths(map[string]any{"q.question[questionCode=SRC]": "x"}); err == nil {
		t.Error("a path ending in a selector was written")
	}
}

func TestTopKey(t *testing.T) {
	for path, want := range map[string]string{"email": "email", "address.city": "address",
		"customFields[name=Tier].value": "customFields", "ids[0]": "ids", "": ""} {
		if got := certain.TopKey(path); got != want {
			t.Errorf("TopKey(%q) = %q, want %q", path, got, want)
		}
	}
}
