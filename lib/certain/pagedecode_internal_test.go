package certain

import (
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"testing"
)

// decodePage reads what json.Unmarshal reads, hands each row to row in
// order (whole, before the next is decoded), keeps what row returns, and
// refuses every envelope the whole-body decoder refused, and one more: a
// body of null, which that decoder took for an empty page (a read that
// ended without an error on an answer that is no envelope).
func TestDecodePage(t *testing.T) {
	keepCode := func(x any) (map[string]any, error) {
		m := x.(map[string]any)
		return map[string]any{"code": m["code"]}, nil
	}
	body := `{"size":2,"completeCollectionSize":9,"rows":[{"code":"a","big":"x","n":{"k":[1,2]}},{"code":"b","big":"y"}],"echo":{"q":[null,true,1.5]}}`
	var seen []map[string]any
	env, err := decodePage("Thing", "rows", []byte(body), func(x any) (map[string]any, error) {
		seen = append(seen, maps.Clone(x.(map[string]any)))
		return keepCode(x)
	})
	if err != nil {
		t.Fatal(err)
	}
	var whole map[string]any
	if err := json.Unmarshal([]byte(body), &whole); err != nil {
		t.Fatal(err)
	}
	rows := whole["rows"].([]any)
	if len(seen) != 2 || !reflect.DeepEqual(seen[0], rows[0]) || !reflect.DeepEqual(seen[1], rows[1]) {
		t.Errorf("row saw %v, want the whole rows %v", seen, rows)
	}
	whole["rows"] = []map[string]any{{"code": "a"}, {"code": "b"}}
	if !reflect.DeepEqual(env, whole) {
		t.Errorf("envelope %v, want %v", env, whole)
	}
	if env, err := decodePage("Thing", "rows", []byte(`{"rows":null,"size":0}`), keepCode); err != nil || len(env["rows"].([]map[string]any)) != 0 {
		t.Errorf("null rows: %v, %v; want no rows", env, err)
	}

	for name, c := range map[string]struct{ body, want string }{
		"empty":          {``, "not a JSON object"},
		"null":           {`null`, "not a JSON object"},
		"array":          {`[{"code":"a"}]`, "not a JSON object"},
		"html":           {`<html>busy</html>`, "not a JSON object"},
		"truncated":      {`{"rows":[{"code":"a"},{"co`, "not a JSON object"},
		"unclosed":       {`{"rows":[]`, "not a JSON object"},
		"trailing":       {`{"rows":[]} {"rows":[]}`, "not a JSON object"},
		"rows an object": {`{"rows":{"code":"a"}}`, `"rows" is not a list`},
		"rows a string":  {`{"rows":"a"}`, `"rows" is not a list`},
		"bad member":     {`{"size":[1,}`, "not a JSON object"},
	} {
		_, err := decodePage("Thing", "rows", []byte(c.body), keepCode)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one that says %q", name, err, c.want)
		}
	}
	r := &reader{ps: pageSpec{resource: "Thing", key: "rows"}}
	if _, err := r.decode([]byte(`{"rows":[{"code":"a"},1]}`)); err == nil || !strings.Contains(err.Error(), `"rows" holds a non-object entry`) {
		t.Errorf("a row that is not an object: %v", err)
	}
}
