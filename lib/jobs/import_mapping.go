package jobs

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/fieldtype"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// profileField is one entry of the reversed field mapping: the Marketo lead
// field a profile field is filled from. path is the Certain profile field
// split on dots ("address.city" -> [address city]).
type profileField struct {
	marketo string
	certain string
	path    []string
}

// reverseMapping turns the connection's mapping (Certain field -> Marketo
// field) into the list of profile fields a lead fills. Entries addressing the
// registration ("registration.x") do not describe a profile and are left out,
// and so are the fields the import owns: pin (assigned by Certain), email
// (always the lead's), and the External Profile ID and Source of Profile
// fields (always the lead id and the Marketo source value).
func reverseMapping(mapping []config.FieldMap, f certain.FieldNames) ([]profileField, error) {
	owned := []string{"pin", "email", f.ExternalID, f.Source}
	var out []profileField
	for i, m := range mapping {
		c, mk := strings.TrimSpace(m.Certain), strings.TrimSpace(m.Marketo)
		if c == "" || mk == "" {
			return nil, Configf("fieldMapping[%d]: both the Certain and the Marketo field are required", i)
		}
		if strings.HasPrefix(c, "registration.") || slices.Contains(owned, c) {
			continue
		}
		c = strings.TrimPrefix(c, "profile.")
		path := strings.Split(c, ".")
		if slices.Contains(path, "") {
			return nil, Configf("fieldMapping[%d].certain: %q has an empty part", i, m.Certain)
		}
		out = append(out, profileField{marketo: mk, certain: c, path: path})
	}
	// A field that is both a value and an object ("address" and
	// "address.city") cannot be written in one profile.
	for _, a := range out {
		for _, b := range out {
			if len(a.path) < len(b.path) && slices.Equal(a.path, b.path[:len(a.path)]) {
				return nil, Configf("fieldMapping: profile field %q is both a value and the parent of %q", a.certain, b.certain)
			}
		}
	}
	return out, nil
}

// leadFields is the fields parameter of the list read: id and email, then
// every Marketo field the reversed mapping reads, each once.
func leadFields(pf []profileField) []string {
	out := []string{"id", "email"}
	for _, p := range pf {
		if !slices.Contains(out, p.marketo) {
			out = append(out, p.marketo)
		}
	}
	return out
}

// profileBody builds the body of a profile create from a lead: the mapped
// fields that are not blank (nested for dotted names), the lead's email, its
// id as External Profile ID and Source of Profile = Marketo. When two
// mappings fill the same profile field, the first non-blank one wins.
// Marketo's typed values become what the Certain field takes
// (fieldtype.ToCertain): a boolean for a known boolean field, else text
// (5, not 5.0; true; dates as Marketo gives them).
func profileBody(lead marketo.Lead, email, leadID string, pf []profileField, f certain.FieldNames) map[string]any {
	body := map[string]any{}
	for _, p := range pf {
		v, ok := lead[p.marketo]
		if !ok || v == nil {
			continue
		}
		v = fieldtype.ToCertain(v, fieldtype.CertainKind(p.certain))
		if s, isStr := v.(string); isStr {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			v = s
		}
		obj := body
		for _, part := range p.path[:len(p.path)-1] {
			next, ok := obj[part].(map[string]any)
			if !ok {
				next = map[string]any{}
				obj[part] = next
			}
			obj = next
		}
		last := p.path[len(p.path)-1]
		if _, set := obj[last]; !set {
			obj[last] = v
		}
	}
	body["email"] = email
	body[f.ExternalID] = leadID
	body[f.Source] = f.SourceValueMarketo
	return body
}

// plausibleEmail rejects what no mail system accepts (no "@", an empty side,
// spaces), so such leads are skipped without spending a Certain call. Certain
// stays the judge of everything else: its 400 on create skips the lead too.
func plausibleEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n,;<>")
}

// keyLock serialises work on one key (an email, a pin) while letting other
// keys proceed. Entries are dropped when their last holder leaves, so the
// map stays as small as the number of leads in flight.
type keyLock struct {
	mu sync.Mutex
	m  map[string]*keyEntry
}

// keyEntry is one key's lock: a channel, not a sync.Mutex, as its holder
// waits for services (a waiter on a channel is durably blocked, which
// simulated clocks rely on).
type keyEntry struct {
	ch chan struct{}
	n  int
}

func (k *keyLock) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyEntry{ch: make(chan struct{}, 1)}
		k.m[key] = e
	}
	e.n++
	k.mu.Unlock()
	e.ch <- struct{}{}
	return func() {
		<-e.ch
		k.mu.Lock()
		e.n--
		if e.n == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// canonicalStatus returns the vocabulary's spelling of a status name.
func canonicalStatus(conn config.Connection, name string) string {
	list := conn.Statuses
	if len(list) == 0 {
		list = config.DefaultStatuses()
	}
	for _, s := range list {
		if strings.EqualFold(strings.TrimSpace(s.Name), strings.TrimSpace(name)) {
			return s.Name
		}
	}
	return strings.TrimSpace(name)
}

func describeFields(pf []profileField) string {
	parts := make([]string, len(pf))
	for i, p := range pf {
		parts[i] = fmt.Sprintf("%s<-%s", p.certain, p.marketo)
	}
	return strings.Join(parts, ",")
}
