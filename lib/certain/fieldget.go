package certain

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// getString reads a (possibly dotted) field from decoded JSON as a trimmed string.
func getString(m map[string]any, name string) string {
	var cur any = m
	for _, part := range strings.Split(name, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = obj[part]
	}
	switch v := cur.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}

// ParseTime reads a Certain timestamp leniently: "T" or space separator,
// optional fraction and zone; no zone means UTC. Unparseable gives zero.
func ParseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	s = strings.Replace(s, " ", "T", 1)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// getBool reads a field as a boolean: "true", "1" or "yes" in any case.
func getBool(m map[string]any, name string) bool {
	s := strings.ToLower(getString(m, name))
	return s == "true" || s == "1" || s == "yes"
}

// num reads a JSON number, or a numeric string, as float64 (0 otherwise).
func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case json.Number:
		f, _ := x.Float64()
		return f
	case string:
		f, _ := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f
	}
	return 0
}

// getTags accepts an array of names, an array of {"name"|"tagName"} objects,
// or a comma-separated string.
func getTags(m map[string]any, field string) []string {
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	switch v := m[field].(type) {
	case []any:
		for _, t := range v {
			switch x := t.(type) {
			case string:
				add(x)
			case map[string]any:
				add(firstNonEmpty(getString(x, "name"), getString(x, "tagName")))
			}
		}
	case string:
		for _, s := range strings.Split(v, ",") {
			add(s)
		}
	}
	return out
}

// firstNonEmpty returns the first non-empty string of s.
func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
