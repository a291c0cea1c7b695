package certain

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// decodeObject decodes a response body that must be one JSON object.
func decodeObject(method, resource string, body []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, notJSONObject(method, resource, body, err)
	}
	return m, nil
}

// notJSONObject is the error of an answer that is not the JSON object
// expected, quoting its start.
func notJSONObject(method, resource string, body []byte, err error) error {
	return fmt.Errorf("certain: %s %s: response is not a JSON object (%.40q): %w", method, resource, body, err)
}

// seg joins path segments, escaping each.
func seg(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}

// required checks that each (name, value) pair has a non-blank value.
func required(what string, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			return fmt.Errorf("certain: %s: %s is required", what, pairs[i])
		}
	}
	return nil
}

// keyOf returns the row key of the repeated-row check: the given fields'
// values joined ("" when the first is blank).
func keyOf(fields ...string) func(map[string]any) string {
	return func(m map[string]any) string {
		k := getString(m, fields[0])
		if k == "" {
			return ""
		}
		for _, f := range fields[1:] {
			k += "\x00" + getString(m, f)
		}
		return k
	}
}

// tagsCheck stops a read whose rows carry their tags in another field than
// the configured one: read as they are, every item would have no tags and
// every interest metric would be zero, without an error.
func (c *Client) tagsCheck(resource string) func(map[string]any) error {
	field := c.cfg.Fields.Tags
	return func(m map[string]any) error {
		if _, ok := LookupPath(m, field); ok {
			return nil
		}
		for _, alt := range []string{"tag", "tags", "tagList"} { // docs/certain.md §5.4
			if _, ok := m[alt]; ok && alt != field {
				return &ContractError{Resource: resource,
					What:  fmt.Sprintf("rows carry their tags in %q, not in the configured %q", alt, field),
					Cause: fmt.Sprintf("set certainFields.tagsField: %s", alt)}
			}
		}
		return nil
	}
}
