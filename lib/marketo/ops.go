package marketo

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Per-call caps documented by Marketo (docs/marketo.md §2).
const (
	MaxBatch          = 300 // records per write, values per filter, rows per page
	MaxCampaignLeads  = 100
	MaxCampaignTokens = 100
)

// chunks cuts s into slices of at most n.
func chunks[T any](s []T, n int) [][]T {
	var out [][]T
	for len(s) > n {
		out = append(out, s[:n:n])
		s = s[n:]
	}
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}

// decodeResult decodes the envelope's result into into; no result leaves it
// untouched.
func decodeResult(env *envelope, into any, tmpl string) error {
	if len(env.Result) == 0 || string(env.Result) == "null" {
		return nil
	}
	if err := json.Unmarshal(env.Result, into); err != nil {
		return fmt.Errorf("marketo %s: decode result: %w", tmpl, err)
	}
	return nil
}

// checkValues refuses filter values a comma-separated list cannot carry.
func checkValues(what string, values []string) error {
	for i, v := range values {
		if v == "" {
			return fmt.Errorf("marketo: %s value %d is empty", what, i)
		}
		if strings.Contains(v, ",") {
			return fmt.Errorf("marketo: %s value %d (%q) contains a comma", what, i, v)
		}
	}
	return nil
}

// validLeadActions are the sync actions of leads and custom objects.
var validLeadActions = map[string]bool{ActionCreateOrUpdate: true, ActionCreateOnly: true, ActionUpdateOnly: true}
