package ops

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Shape checks: a decoded JSON or YAML tree is walked against the Go type
// it will decode into, so that every mistake of a file is reported, each
// with its JSON path, before anything is decoded.

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// checkShape walks a generic tree against the Go type it will decode into
// and reports, with the JSON path of each: unknown fields (exact,
// case-sensitive names, unlike encoding/json's folding), values of the
// wrong JSON type, and values a field's own decoder rejects (durations,
// times).
func checkShape(v any, t reflect.Type, path string, add func(path, msg string)) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		checkUnmarshal(v, t, path, add)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		checkStruct(v, t, path, add)
	case reflect.Map:
		checkMap(v, t, path, add)
	case reflect.Slice, reflect.Array:
		checkList(v, t, path, add)
	default:
		checkScalar(v, t.Kind(), path, add)
	}
}

// checkUnmarshal runs a type's own decoder on the value.
func checkUnmarshal(v any, t reflect.Type, path string, add func(path, msg string)) {
	raw, err := json.Marshal(v)
	if err == nil {
		err = reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(raw)
	}
	if err != nil {
		add(path, err.Error())
	}
}

// checkStruct checks an object's fields, in name order, against the
// struct's JSON fields.
func checkStruct(v any, t reflect.Type, path string, add func(path, msg string)) {
	m, ok := v.(map[string]any)
	if !ok {
		add(path, "want an object, got "+describe(v))
		return
	}
	fields := jsonFields(t)
	for _, k := range sortedKeys(m) {
		ft, ok := fields[k]
		if !ok {
			add(joinPath(path, k), "unknown field"+suggest(k, fields))
			continue
		}
		checkShape(m[k], ft, joinPath(path, k), add)
	}
}

// checkMap checks an object's values, in key order, against the map's
// element type.
func checkMap(v any, t reflect.Type, path string, add func(path, msg string)) {
	m, ok := v.(map[string]any)
	if !ok {
		add(path, "want an object, got "+describe(v))
		return
	}
	for _, k := range sortedKeys(m) {
		checkShape(m[k], t.Elem(), joinPath(path, k), add)
	}
}

// checkList checks a list's elements against the element type.
func checkList(v any, t reflect.Type, path string, add func(path, msg string)) {
	a, ok := v.([]any)
	if !ok {
		add(path, "want a list, got "+describe(v))
		return
	}
	for i, e := range a {
		checkShape(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), add)
	}
}

// checkScalar checks a string, boolean or number.
func checkScalar(v any, k reflect.Kind, path string, add func(path, msg string)) {
	switch k {
	case reflect.String:
		if _, ok := v.(string); !ok {
			add(path, "want a string, got "+describe(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			add(path, "want true or false, got "+describe(v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			add(path, "want a whole number, got "+describe(v))
			return
		}
		if _, err := n.Int64(); err != nil {
			add(path, "want a whole number, got "+n.String())
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			add(path, "want a number, got "+describe(v))
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func suggest(k string, fields map[string]reflect.Type) string {
	for name := range fields {
		if strings.EqualFold(name, k) {
			return fmt.Sprintf(" (did you mean %q?)", name)
		}
	}
	return ""
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("%t", x)
	case json.Number:
		return "the number " + x.String()
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func jsonText(v any) string {
	if v == nil {
		return "nothing"
	}
	return describe(v)
}
