package certain

import (
	"fmt"
	"strconv"
	"strings"
)

// Field paths (docs/certain.md §5.3 and §9). A configurable field name is a
// path: a plain key ("externalKey"), dotted keys that walk nested objects
// ("integration.externalId"), and selectors that pick an element of a list:
// "[N]" by position and "[key=value]" by the value of one of its keys.
// Certain wraps nested lists as {plural: {singular: [...]}}, so a profile
// question's answer reads as
//
//	profileQuestions.question[questionCode=SRC].answers.answer[0].value
//
// A list that holds a single element may arrive as that element alone (an
// object, not an array); selectors accept both.

// pathStep is one dotted part of a path: a key and its selectors.
type pathStep struct {
	key  string
	sels []selector
}

// selector picks a list element: by index, or by key=value.
type selector struct {
	index int
	key   string
	value string
	byKey bool
}

// ParsePath checks a field path; the error says what is wrong with it
// (configuration validation uses it).
func ParsePath(path string) error {
	_, err := parsePath(path)
	return err
}

// parsePath splits a path into its steps.
func parsePath(path string) ([]pathStep, error) {
	if strings.TrimSpace(path) == "" {
		return nil, fmt.Errorf("field path is empty")
	}
	var steps []pathStep
	rest := path
	for {
		step, after, err := parseStep(rest)
		if err != nil {
			return nil, fmt.Errorf("field path %q: %w", path, err)
		}
		steps = append(steps, step)
		if after == "" {
			return steps, nil
		}
		if after[0] != '.' || len(after) == 1 {
			return nil, fmt.Errorf("field path %q: expected '.' and a key after %q", path, path[:len(path)-len(after)])
		}
		rest = after[1:]
	}
}

// TopKey is the key a field path starts with: the top-level field that
// holds the path's value ("address" for "address.city", "customFields" for
// "customFields[name=Tier].value").
func TopKey(path string) string {
	if end := strings.IndexAny(path, ".["); end >= 0 {
		return path[:end]
	}
	return path
}

// parseStep reads one key and its selectors from the front of s.
func parseStep(s string) (pathStep, string, error) {
	step := pathStep{key: TopKey(s)}
	if step.key == "" {
		return step, "", fmt.Errorf("empty key")
	}
	s = s[len(step.key):]
	for strings.HasPrefix(s, "[") {
		closeAt := strings.IndexByte(s, ']')
		if closeAt < 0 {
			return step, "", fmt.Errorf("unclosed '['")
		}
		sel, err := parseSelector(s[1:closeAt])
		if err != nil {
			return step, "", err
		}
		step.sels = append(step.sels, sel)
		s = s[closeAt+1:]
	}
	return step, s, nil
}

// parseSelector reads the inside of [...]: a non-negative index or key=value.
func parseSelector(in string) (selector, error) {
	if k, v, ok := strings.Cut(in, "="); ok {
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "" || v == "" {
			return selector{}, fmt.Errorf("selector [%s] needs a key and a value", in)
		}
		return selector{key: k, value: v, byKey: true}, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(in))
	if err != nil || n < 0 {
		return selector{}, fmt.Errorf("selector [%s] is neither an index nor key=value", in)
	}
	return selector{index: n}, nil
}

// LookupPath returns the value a field path addresses in decoded JSON; ok is
// false when some step is missing. A path that does not parse finds nothing.
func LookupPath(m map[string]any, path string) (any, bool) {
	if !strings.Contains(path, "[") {
		return lookupDotted(m, path)
	}
	steps, err := parsePath(path)
	if err != nil {
		return nil, false
	}
	var cur any = m
	for _, st := range steps {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[st.key]; !ok {
			return nil, false
		}
		for _, sel := range st.sels {
			if cur, ok = pick(cur, sel); !ok {
				return nil, false
			}
		}
	}
	return cur, true
}

// lookupDotted is LookupPath for a path without selectors, without allocating.
func lookupDotted(m map[string]any, path string) (any, bool) {
	var cur any = m
	for rest, more := path, true; more; {
		var part string
		part, rest, more = strings.Cut(rest, ".")
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// pick applies one selector to a list (or to a single element standing for
// a list of one).
func pick(v any, sel selector) (any, bool) {
	list, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil, false
		}
		list = []any{v}
	}
	if !sel.byKey {
		if sel.index < len(list) {
			return list[sel.index], true
		}
		return nil, false
	}
	for _, e := range list {
		if obj, ok := e.(map[string]any); ok && scalarString(obj[sel.key]) == sel.value {
			return e, true
		}
	}
	return nil, false
}

// SetPath stores value at path in body, creating the objects and list
// elements the path walks through (a key selector creates an element that
// carries its key; an index selector pads the list with empty objects). It
// is how a write addresses a nested field: the body then carries only that
// field, and a server that merges updates leaves the rest alone. The path
// must end in a key.
func SetPath(body map[string]any, path string, value any) error {
	steps, err := parsePath(path)
	if err != nil {
		return err
	}
	if len(steps[len(steps)-1].sels) > 0 {
		return fmt.Errorf("field path %q: a written path must end in a key, not a selector", path)
	}
	obj := body
	for _, st := range steps[:len(steps)-1] {
		if len(st.sels) == 0 {
			obj = childObject(obj, st.key)
			continue
		}
		if len(st.sels) > 1 {
			return fmt.Errorf("field path %q: %q has more than one selector (Certain has no lists of lists)", path, st.key)
		}
		list, _ := obj[st.key].([]any)
		list, elem := element(list, st.sels[0])
		obj[st.key] = list
		obj = elem
	}
	obj[steps[len(steps)-1].key] = value
	return nil
}

// childObject returns obj[key] as an object, creating it when absent.
func childObject(obj map[string]any, key string) map[string]any {
	next, ok := obj[key].(map[string]any)
	if !ok {
		next = map[string]any{}
		obj[key] = next
	}
	return next
}

// element returns the list element sel picks as an object, appending it
// (with its key, for a key selector) or padding the list when missing.
func element(list []any, sel selector) ([]any, map[string]any) {
	if sel.byKey {
		for _, e := range list {
			if o, ok := e.(map[string]any); ok && scalarString(o[sel.key]) == sel.value {
				return list, o
			}
		}
		o := map[string]any{sel.key: sel.value}
		return append(list, o), o
	}
	for len(list) <= sel.index {
		list = append(list, map[string]any{})
	}
	o, ok := list[sel.index].(map[string]any)
	if !ok {
		o = map[string]any{}
		list[sel.index] = o
	}
	return list, o
}

// ExpandPaths returns fields as a request body: keys that are field paths
// (with dots or selectors) are written nested, the others as they are; both
// kinds merge into the same objects.
func ExpandPaths(fields map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(fields))
	for k, v := range fields {
		if !strings.ContainsAny(k, ".[") {
			mergeInto(out, k, v)
		}
	}
	for k, v := range fields {
		if strings.ContainsAny(k, ".[") {
			if err := SetPath(out, k, v); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// mergeInto sets out[k] = v, merging objects key by key with what is there.
func mergeInto(out map[string]any, k string, v any) {
	src, ok := v.(map[string]any)
	dst, ok2 := out[k].(map[string]any)
	if !ok || !ok2 {
		if ok {
			cp := make(map[string]any, len(src))
			for sk, sv := range src {
				mergeInto(cp, sk, sv)
			}
			out[k] = cp
			return
		}
		out[k] = v
		return
	}
	for sk, sv := range src {
		mergeInto(dst, sk, sv)
	}
}

// scalarString formats a JSON scalar as a trimmed string ("" otherwise).
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}
