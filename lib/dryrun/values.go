package dryrun

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// scalar is a value as a key compares it: numbers without a fraction as
// integers, everything else as fmt prints it; nil is "".
func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return scalar(float64(x))
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return scalar(f)
		}
		return x.String()
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprint(v)
}

// Text is a value as a plan prints it: numbers without a fraction as
// integers (a placeholder id decoded from JSON included), nil as "".
func Text(v any) string { return scalar(v) }

// sameValue reports whether a service holding have would be left as it is
// by a write of want: equal as text, as numbers, or as booleans, and blank
// equals absent.
func sameValue(have, want any) bool {
	a, b := strings.TrimSpace(scalar(have)), strings.TrimSpace(scalar(want))
	if a == b {
		return true
	}
	fa, ea := strconv.ParseFloat(a, 64)
	fb, eb := strconv.ParseFloat(b, 64)
	if ea == nil && eb == nil {
		return fa == fb
	}
	ba, ea := strconv.ParseBool(a)
	bb, eb := strconv.ParseBool(b)
	return ea == nil && eb == nil && ba == bb
}

// changes lists the fields of sent whose value differs from have's, by
// name; skip names fields not to list (the lookup field, ids).
func changes(have, sent map[string]any, skip ...string) []FieldChange {
	var out []FieldChange
	for _, k := range slices.Sorted(maps.Keys(sent)) {
		if slices.Contains(skip, k) {
			continue
		}
		var cur any
		if have != nil {
			cur = have[k]
		}
		if have != nil && sameValue(cur, sent[k]) {
			continue
		}
		if have == nil && sent[k] == nil {
			continue
		}
		out = append(out, FieldChange{Field: k, From: cur, To: sent[k]})
	}
	return out
}

// emailKey is an e-mail as Marketo's lookup compares it (case-insensitive).
func emailKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// placeholder finds the numbers that may be a planned lead's placeholder
// id, with the word "lead" before one if there is.
var placeholder = regexp.MustCompile(`(\blead )?\b2\d{9}\b`)

// Readable names the placeholders of a plan in a text (a reason the rules
// wrote with a placeholder id, pin or registration code in it): "new lead
// #3" (for "lead 2000000003" too), "new profile #2", "new registration #1".
func Readable(s string) string {
	s = placeholder.ReplaceAllStringFunc(s, func(m string) string {
		id, _ := strconv.Atoi(strings.TrimPrefix(m, "lead "))
		if n, ok := NewLeadNumber(id); ok {
			return "new lead #" + strconv.Itoa(n)
		}
		return m
	})
	s = strings.ReplaceAll(s, NewProfilePrefix, "new profile #")
	return strings.ReplaceAll(s, NewRegistrationPrefix, "new registration #")
}
