package certaintest

import (
	"fmt"
	"maps"
	"slices"
)

// CheckIndexes rebuilds every index from the records and reports the first
// difference from the maintained one: a missing entry would hide a record
// from a search, a stale one would keep a replaced record alive.
func (s *Server) CheckIndexes() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for code, a := range s.accounts {
		fresh := &account{byField: map[string]map[string]recSet{}}
		for i, r := range a.profileList {
			pin, _ := r.f["pin"].(string)
			if r.ord != i || a.profiles[pin] != r {
				return fmt.Errorf("account %s: profile %d (%s) out of place", code, i, pin)
			}
			s.indexProfile(fresh, r)
		}
		if len(a.profiles) != len(a.profileList) {
			return fmt.Errorf("account %s: %d profiles by pin, %d in order", code, len(a.profiles), len(a.profileList))
		}
		if !maps.EqualFunc(a.byField, fresh.byField, func(x, y map[string]recSet) bool {
			return maps.EqualFunc(x, y, maps.Equal)
		}) {
			return fmt.Errorf("account %s: profile index %v, rebuilt %v", code, keys(a.byField), keys(fresh.byField))
		}
		for ev, e := range a.events {
			byPin := map[string]recSet{}
			for i, r := range e.regList {
				rc, _ := r.f["registrationCode"].(string)
				if r.ord != i || e.regs[rc] != r {
					return fmt.Errorf("event %s/%s: registration %d (%s) out of place", code, ev, i, rc)
				}
				pin, _ := r.f["profile"].(string)
				if byPin[pin] == nil {
					byPin[pin] = recSet{}
				}
				byPin[pin][r] = struct{}{}
			}
			if len(e.regs) != len(e.regList) || !maps.EqualFunc(e.byPin, byPin, maps.Equal) {
				return fmt.Errorf("event %s/%s: pin index %v, rebuilt %v", code, ev, slices.Sorted(maps.Keys(e.byPin)), slices.Sorted(maps.Keys(byPin)))
			}
		}
	}
	return nil
}

func keys(idx map[string]map[string]recSet) map[string][]string {
	out := map[string][]string{}
	for f, m := range idx {
		out[f] = slices.Sorted(maps.Keys(m))
	}
	return out
}
