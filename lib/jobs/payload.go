package jobs

import (
	"strings"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// registrationPrefix marks a mapped Certain name that addresses the
// registration itself rather than its profile.
const registrationPrefix = "registration."

// certainValue reads one mapped Certain name from a registration: the
// profile by default, the registration with the prefix "registration.".
// Values are trimmed; "" means blank.
func certainValue(reg certain.Registration, name string) string {
	if rest, ok := strings.CutPrefix(name, registrationPrefix); ok {
		return certain.Profile{Fields: reg.Fields}.Get(rest)
	}
	return reg.Profile.Get(name)
}

// BuildLeadPayload maps a registration to a Marketo lead through the
// connection's field mapping. Blank Certain values are left out, so a blank
// never overwrites a value in Marketo. When several mappings target the same
// Marketo field the first non-blank value wins.
func BuildLeadPayload(mapping []config.FieldMap, reg certain.Registration) marketo.Lead {
	lead := marketo.Lead{}
	for _, m := range mapping {
		if m.Marketo == "" || m.Certain == "" {
			continue
		}
		if _, done := lead[m.Marketo]; done {
			continue
		}
		if v := certainValue(reg, m.Certain); v != "" {
			lead[m.Marketo] = v
		}
	}
	return lead
}

// leadEmail is the email a registration's lead is looked up by: the mapped
// Marketo "email" value when the mapping sets it, else the profile's email.
func leadEmail(payload marketo.Lead, reg certain.Registration) string {
	if s, ok := payload["email"].(string); ok && strings.TrimSpace(s) != "" {
		return strings.TrimSpace(s)
	}
	return strings.TrimSpace(reg.Profile.Email)
}

// emailKey is how emails are compared: Marketo matches them case-insensitively.
func emailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
