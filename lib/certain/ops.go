package certain

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// Path prefixes of Certain's two API families: v1 (certainExternal) and
// Standard 2.0 (sessions).
const (
	v1Base = "/certainExternal/service/v1/"
	v2Base = "/api/standard/2.0/"
)

// decodeObject decodes a response body that must be one JSON object.
func decodeObject(method, resource string, body []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("certain: %s %s: response is not a JSON object (%.40q): %w", method, resource, body, err)
	}
	return m, nil
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
