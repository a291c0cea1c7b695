package certain

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// getString reads a field path (fieldpath.go) from decoded JSON as a
// trimmed string; "" when absent, null or not a scalar.
func getString(m map[string]any, name string) string {
	v, _ := LookupPath(m, name)
	return scalarString(v)
}

// ParseTime reads a Certain timestamp leniently: "T" or space separator,
// optional fraction and zone; no zone means UTC. Unparseable gives zero.
func ParseTime(s string) time.Time { return ParseTimeIn(s, time.UTC) }

// ParseTimeIn is ParseTime with a zone for timestamps that carry none (the
// tenant's, docs/certain.md §4). The result is in UTC.
func ParseTimeIn(s string, loc *time.Location) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if loc == nil {
		loc = time.UTC
	}
	s = strings.Replace(s, " ", "T", 1)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// getNum reads a number at a field path (0 when absent or not numeric).
func getNum(m map[string]any, path string) float64 {
	v, _ := LookupPath(m, path)
	return num(v)
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

// getTags reads the tags at a field path. Every shape seen or plausible
// is accepted (docs/certain.md §5.4): a list of names; a list of objects
// whose name is under nameKey (else "name" or "tagName"); a wrapper object
// holding the list ({"tag": [...]}); a single element instead of a list;
// a comma-separated string. present is false when the field is absent.
func getTags(m map[string]any, field, nameKey string) (tags []string, present bool) {
	v, present := LookupPath(m, field)
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e, depth)
			}
		case string:
			for _, s := range strings.Split(x, ",") {
				add(s)
			}
		case float64:
			add(scalarString(x))
		case map[string]any:
			if name := firstNonEmpty(getString(x, nameKey), getString(x, "name"), getString(x, "tagName")); name != "" {
				add(name)
				return
			}
			if len(x) == 1 && depth < 2 {
				for _, inner := range x {
					walk(inner, depth+1) // a wrapper: {"tag": [...]}
				}
			}
		}
	}
	walk(v, 0)
	return out, present
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
