package certaintest

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// indexedFields are the profile fields a search finds through byField: the
// ones the jobs search by (docs/certain.md §7). The timestamps are read
// from the record, not its fields, so they are never indexed.
func (s *Server) indexedFields() []string {
	if x := s.fields.ExternalID; x != "email" && x != "dateModified" && x != "dateCreated" && x != "" {
		return []string{"email", x}
	}
	return []string{"email"}
}

// indexProfile files r under each indexed field it has. The key folds case
// for every field: a bucket is a superset of the exact matches, and
// collection re-checks each hit with the same rule a scan applies.
func (s *Server) indexProfile(a *account, r *rec) {
	for _, field := range s.indexedFields() {
		v, ok := lookup(r.f, field)
		if !ok {
			continue
		}
		idx := a.byField[field]
		if idx == nil {
			idx = map[string]recSet{}
			a.byField[field] = idx
		}
		k := foldKey(v)
		if idx[k] == nil {
			idx[k] = recSet{}
		}
		idx[k][r] = struct{}{}
	}
}

// unindexProfile removes r from the indexes; call it before r's fields
// change and indexProfile after.
func (s *Server) unindexProfile(a *account, r *rec) {
	for _, field := range s.indexedFields() {
		v, ok := lookup(r.f, field)
		if !ok {
			continue
		}
		k := foldKey(v)
		if set := a.byField[field][k]; set != nil {
			delete(set, r)
			if len(set) == 0 {
				delete(a.byField[field], k)
			}
		}
	}
}

// findProfiles returns the profiles filed under field and value's fold key,
// in insertion order; ok is false when field is not indexed.
func (a *account) findProfiles(field, value string) (hits []*rec, ok bool) {
	idx, ok := a.byField[field]
	if !ok {
		return nil, false
	}
	return sortedByOrd(idx[foldKey(value)]), true
}

// sortedByOrd returns the bucket's records in insertion order.
func sortedByOrd(set recSet) []*rec {
	out := make([]*rec, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y *rec) int { return cmp.Compare(x.ord, y.ord) })
	return out
}

// foldKey maps s to a key shared by every string strings.EqualFold accepts
// as equal to it: each rune becomes the smallest rune of its case-folding
// orbit (ASCII letters their upper case).
func foldKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		lo := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			lo = min(lo, f)
		}
		b.WriteRune(lo)
	}
	return b.String()
}
