package certaintest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
)

// rec is one stored record: its JSON fields and the timestamps the wire
// renders as dateCreated and dateModified.
type rec struct {
	f        map[string]any
	created  time.Time
	modified time.Time
	ord      int // position in its collection's insertion order (profiles, registrations)
}

// recSet is an index bucket. Order is not kept: a look-up sorts its (few)
// hits by ord to get insertion order back.
type recSet map[*rec]struct{}

// account holds the profiles in insertion order (profiles[pin] is
// profileList[ord]) and indexes them by the searchable fields, so a profile
// search is a map look-up, not a scan: byField[field][foldKey(value)].
type account struct {
	profiles    map[string]*rec
	profileList []*rec
	byField     map[string]map[string]recSet
	events      map[string]*eventData
	eventIDs    []string
	// users are the account's users (User/{account}): every account has
	// at least the one the API signs in as, also an account without a
	// profile or an event yet.
	users []*rec
}

// eventData keeps registrations in insertion order (regs[code] is
// regList[ord]) and indexed by profile pin for the duplicate check.
type eventData struct {
	ev           *rec
	regs         map[string]*rec
	regList      []*rec
	byPin        map[string]recSet
	agendaItems  []*rec
	agendaLines  []*rec
	sessions     []*rec
	sessionLines []*rec // carry instanceId
	appointments []*rec
}

// acct returns the account, creating it when missing. mu held.
func (s *Server) acct(code string) *account {
	a := s.accounts[code]
	if a == nil {
		a = &account{profiles: map[string]*rec{}, byField: map[string]map[string]recSet{}, events: map[string]*eventData{}}
		t := s.stamp()
		a.users = []*rec{{f: map[string]any{"username": "api." + strings.ToLower(code), "name": "API user"}, created: t, modified: t}}
		s.accounts[code] = a
	}
	return a
}

// event returns the event, creating it (and its account) when missing. mu held.
func (s *Server) event(acct, code string) *eventData {
	a := s.acct(acct)
	e := a.events[code]
	if e == nil {
		t := s.stamp()
		e = &eventData{ev: &rec{f: map[string]any{"eventCode": code, "accountCode": acct, "isActive": true}, created: t, modified: t}, regs: map[string]*rec{}, byPin: map[string]recSet{}}
		a.events[code] = e
		a.eventIDs = append(a.eventIDs, code)
	}
	return e
}

// stamp is the clock truncated to whole seconds, like the wire format.
func (s *Server) stamp() time.Time { return s.now().UTC().Truncate(time.Second) }

// newRec copies fields; time.Time or string values of dateCreated and
// dateModified set the record's timestamps, otherwise the clock does.
func (s *Server) newRec(fields map[string]any) *rec {
	s.gen++
	r := &rec{f: make(map[string]any, len(fields)+2)}
	now := s.stamp()
	r.created, r.modified = now, now
	for k, v := range fields {
		switch k {
		case "dateCreated", "dateModified":
			t, ok := v.(time.Time)
			if !ok {
				t = certain.ParseTime(fmt.Sprint(v))
			}
			if k == "dateCreated" {
				r.created = t.UTC()
			} else {
				r.modified = t.UTC()
			}
		default:
			r.f[k] = jsonValue(v)
		}
	}
	return r
}

// jsonValue normalises seeded Go values to what JSON decoding would give, so
// filters and merges compare like the wire.
func jsonValue(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	case []int:
		out := make([]any, len(x))
		for i, n := range x {
			out[i] = float64(n)
		}
		return out
	case []float64:
		out := make([]any, len(x))
		for i, n := range x {
			out[i] = n
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonValue(e)
		}
		return out
	}
	return v
}

// numericID takes a record's numeric id from its field, or gives it the next
// one above base, and stores it as JSON numbers decode (float64). mu held.
func (s *Server) numericID(r *rec, field string, base int) int {
	id := int(toFloat(r.f[field]))
	if id == 0 {
		s.seq++
		id = base + s.seq
	}
	r.f[field] = float64(id)
	return id
}

// nextCode generates a code such as "P-000042". mu held.
func (s *Server) nextCode(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s-%06d", prefix, s.seq)
}

// addProfile stores r under its pin (generated when missing), replacing a
// profile with the same pin in place, and indexes it. mu held.
func (s *Server) addProfile(acct string, r *rec) string {
	a := s.acct(acct)
	pin, _ := r.f["pin"].(string)
	if pin == "" {
		pin = s.nextCode("P")
		r.f["pin"] = pin
	}
	if old, dup := a.profiles[pin]; dup {
		s.unindexProfile(a, old)
		r.ord = old.ord
		a.profileList[r.ord] = r
	} else {
		r.ord = len(a.profileList)
		a.profileList = append(a.profileList, r)
	}
	a.profiles[pin] = r
	s.indexProfile(a, r)
	return pin
}

// addRegistration stores r as pin's registration for the event under its
// code (generated when missing), replacing one with the same code in place,
// and files it by pin. mu held.
func (s *Server) addRegistration(acct, event, pin string, r *rec) string {
	e := s.event(acct, event)
	code, _ := r.f["registrationCode"].(string)
	if code == "" {
		code = s.nextCode("R")
	}
	r.f["registrationCode"] = code
	r.f["eventCode"] = event
	r.f["accountCode"] = acct
	r.f["profile"] = pin // rendered as the current profile object
	if _, ok := r.f["isActive"]; !ok {
		r.f["isActive"] = true
	}
	if old, dup := e.regs[code]; dup {
		oldPin, _ := old.f["profile"].(string)
		if set := e.byPin[oldPin]; set != nil {
			delete(set, old)
			if len(set) == 0 {
				delete(e.byPin, oldPin)
			}
		}
		r.ord = old.ord
		e.regList[r.ord] = r
	} else {
		r.ord = len(e.regList)
		e.regList = append(e.regList, r)
	}
	e.regs[code] = r
	if e.byPin[pin] == nil {
		e.byPin[pin] = recSet{}
	}
	e.byPin[pin][r] = struct{}{}
	return code
}

// registeredAs returns the code of pin's first registration for the event
// (in insertion order), or "".
func (e *eventData) registeredAs(pin string) string {
	var first *rec
	for r := range e.byPin[pin] {
		if first == nil || r.ord < first.ord {
			first = r
		}
	}
	if first == nil {
		return ""
	}
	code, _ := first.f["registrationCode"].(string)
	return code
}

// render is r as the API answers it.
func render(r *rec) map[string]any {
	m := make(map[string]any, len(r.f)+2)
	for k, v := range r.f {
		m[k] = v
	}
	m["dateCreated"] = r.created.Format(wire)
	m["dateModified"] = r.modified.Format(wire)
	return m
}

// renderReg is a registration as the API answers it, with the current
// profile embedded.
func (s *Server) renderReg(a *account, r *rec) map[string]any {
	m := render(r)
	if pin, ok := r.f["profile"].(string); ok {
		if p := a.profiles[pin]; p != nil {
			m["profile"] = render(p)
		} else {
			m["profile"] = map[string]any{"pin": pin}
		}
	}
	return m
}

// toFloat reads a numeric field (0 when it is not one).
func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case string:
		f, _ := strconv.ParseFloat(x, 64)
		return f
	}
	return 0
}

// merge applies only the sent fields; protected keys are ignored. Nested
// objects merge key by key, and list elements merge with the element that
// has the same code (a key ending in "Code" or "Id", such as questionCode)
// or, without one, the same position: so an update that carries one profile
// question's answer changes that answer alone.
func merge(r *rec, body map[string]any, now time.Time, protected ...string) {
	for k, v := range body {
		if slices.Contains(protected, k) || k == "dateCreated" || k == "dateModified" {
			continue
		}
		r.f[k] = mergeValue(r.f[k], jsonValue(v))
	}
	r.modified = now
}

// mergeValue merges src into a copy of dst (see merge).
func mergeValue(dst, src any) any {
	switch sv := src.(type) {
	case map[string]any:
		dm, ok := dst.(map[string]any)
		if !ok {
			return sv
		}
		out := make(map[string]any, len(dm)+len(sv))
		for k, v := range dm {
			out[k] = v
		}
		for k, v := range sv {
			out[k] = mergeValue(dm[k], v)
		}
		return out
	case []any:
		dl, ok := dst.([]any)
		if !ok {
			if dm, single := dst.(map[string]any); single {
				dl = []any{dm}
			} else {
				return sv
			}
		}
		return mergeList(dl, sv)
	}
	return src
}

// mergeList merges each element of src into the element of dst it matches.
func mergeList(dst, src []any) []any {
	out := slices.Clone(dst)
	for i, e := range src {
		em, ok := e.(map[string]any)
		if !ok {
			return src // a list of scalars is replaced whole
		}
		j := matchElement(out, em, i)
		if j < 0 {
			out = append(out, em)
			continue
		}
		out[j] = mergeValue(out[j], em)
	}
	return out
}

// matchElement finds the element of list that el updates: the one with the
// same code, or without codes the one at position pos; -1 for none.
func matchElement(list []any, el map[string]any, pos int) int {
	for k, v := range el {
		if !strings.HasSuffix(k, "Code") && !strings.HasSuffix(k, "Id") {
			continue
		}
		for j, x := range list {
			if xm, ok := x.(map[string]any); ok && xm[k] == v && v != nil {
				return j
			}
		}
		return -1
	}
	if pos < len(list) {
		return pos
	}
	return -1
}
