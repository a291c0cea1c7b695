package marketotest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// MaxPage is the per-call cap on records, values and page size.
const MaxPage = 300

// batchSize reads batchSize: the page size, default and at most MaxPage.
func (s *Server) batchSize(r *request) (int, answer, bool) {
	bs := MaxPage
	if v := r.params.Get("batchSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return 0, fail("1003", "Invalid batchSize %q", v), true
		}
		if n > MaxPage {
			return 0, fail(s.opts.capCode, "batchSize %d exceeds %d", n, MaxPage), true
		}
		bs = n
	}
	return bs, answer{}, false
}

// Paging tokens are opaque and long but deterministic: the same token always
// resumes at the same offset of the same query, even after a restart.
func pageToken(scope string, offset int) string {
	sum := sha256.Sum256([]byte(scope))
	raw := fmt.Sprintf("%d|%s|%s", offset, hex.EncodeToString(sum[:]), strings.Repeat("=", 8))
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// parsePageToken returns the offset a token of scope resumes at; "" is the
// first page, and a token of another query is not valid.
func parsePageToken(tok, scope string) (int, bool) {
	if tok == "" {
		return 0, true
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	parts := strings.SplitN(string(raw), "|", 3)
	sum := sha256.Sum256([]byte(scope))
	if len(parts) != 3 || parts[1] != hex.EncodeToString(sum[:]) {
		return 0, false
	}
	n, err := strconv.Atoi(parts[0])
	return n, err == nil && n >= 0
}

// pageBounds cuts the page of size rows starting at off out of n matches:
// rows [start, end), and whether more follow (the next page starts at end).
func pageBounds(n, off, size int) (start, end int, more bool) {
	return min(off, n), min(off+size, n), off+size < n
}

// splitCSV splits a comma-separated parameter, dropping empty items.
func splitCSV(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// defaultLeadFields are the fields a lead read answers without fields=.
var defaultLeadFields = []string{"id", "email", "firstName", "lastName", "createdAt", "updatedAt"}

// project is the lead as a read answers it: id and the fields asked for,
// typed; an unset field is null, except a boolean, which reads false
// (recorded). mu held.
func (s *Server) project(l marketo.Lead, fields []string) marketo.Lead {
	if len(fields) == 0 {
		fields = defaultLeadFields
	}
	out := marketo.Lead{"id": l["id"]}
	for _, f := range fields {
		out[f] = readValue(s.st.leadType(f), l[f])
	}
	return out
}

// leadsByKey returns ids (sorted) of leads whose field matches value. Caller holds s.mu.
func (s *Server) leadsByKey(field, value string) []int {
	switch field {
	case "email":
		ids := slices.Clone(s.st.byEmail[s.emailKey(value)])
		slices.Sort(ids)
		return ids
	case "id":
		if n, err := strconv.Atoi(value); err == nil && s.st.leads[n] != nil {
			return []int{n}
		}
		return nil
	}
	var ids []int
	for id, l := range s.st.leads {
		if s.sameValue(field, l[field], value) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// leadsByValues returns the ids (sorted, each once) of the leads whose field
// matches one of values. mu held.
func (s *Server) leadsByValues(field string, values []string) []int {
	var ids []int
	seen := map[int]bool{}
	for _, v := range values {
		for _, id := range s.leadsByKey(field, v) {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// sameValue compares a stored field with a filter value, e-mail ignoring
// case unless WithCaseSensitiveEmail.
func (s *Server) sameValue(field string, stored any, want string) bool {
	if field == "email" && !s.opts.caseSensitiveEmail {
		return strings.EqualFold(scalar(stored), want)
	}
	return scalar(stored) == want
}

// searchable reports whether ft may be a query's filterType: idField (or
// marketoGUID, its field), dedupeFields, the link field, or the single dedupe
// field.
func (t *coType) searchable(ft string) bool {
	return ft == "idField" || ft == "marketoGUID" || ft == "dedupeFields" || ft == t.def.LinkField ||
		(len(t.def.DedupeFields) == 1 && ft == t.def.DedupeFields[0])
}

// matching returns the type's records q selects, in creation order.
func (t *coType) matching(q coQuery) []*coRecord {
	var hits []*coRecord
	for _, rec := range t.records {
		if matchCO(t, rec, q.filterType, q.values, q.filters) {
			hits = append(hits, rec)
		}
	}
	return hits
}

// matchCO reports whether rec matches one of the compound filters, or else
// one of the values of filterType ft.
func matchCO(t *coType, rec *coRecord, ft string, values []string, filters []marketo.Record) bool {
	get := func(f string) string {
		if f == "marketoGUID" {
			return rec.guid
		}
		return scalar(rec.fields[f])
	}
	if filters != nil {
		for _, flt := range filters {
			all := true
			for k, v := range flt {
				if get(k) != scalar(normalize(v)) {
					all = false
				}
			}
			if all {
				return true
			}
		}
		return false
	}
	f := ft
	switch ft {
	case "dedupeFields":
		f = t.def.DedupeFields[0]
	case "idField":
		f = "marketoGUID"
	}
	return slices.Contains(values, get(f))
}
