package marketotest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// describeLeads is Describe Lead: the lead field schema, one entry per
// field with its REST and SOAP names; length only on string-like fields.
func (s *Server) describeLeads() answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, len(s.st.fields))
	for i, f := range s.st.fields {
		out[i] = map[string]any{
			"id": i + 1, "displayName": f.Name, "dataType": f.DataType,
			"rest": map[string]any{"name": f.Name, "readOnly": f.ReadOnly},
			"soap": map[string]any{"name": f.Name, "readOnly": f.ReadOnly},
		}
		if f.MaxLength > 0 {
			out[i]["length"] = f.MaxLength
		}
	}
	return ok(out)
}

// describeLeads2 is Describe Lead2 (describe2.json), in its own shape: one
// "API Lead" object with the searchable fields (an array of key sets) and
// the fields by REST name with updateable and crmManaged.
func (s *Server) describeLeads2() answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	fields := make([]map[string]any, len(s.st.fields))
	for i, f := range s.st.fields {
		fields[i] = map[string]any{"name": f.Name, "displayName": f.Name, "dataType": f.DataType, "updateable": !f.ReadOnly, "crmManaged": false}
		if f.MaxLength > 0 {
			fields[i]["length"] = f.MaxLength
		}
	}
	searchable := [][]string{}
	for _, f := range s.st.fields {
		if s.st.searchable[f.Name] {
			searchable = append(searchable, []string{f.Name})
		}
	}
	return ok([]map[string]any{{"name": "API Lead", "searchableFields": searchable, "fields": fields}})
}

// getLead is Get Lead by Id: one lead, or an empty result.
func (s *Server) getLead(id int, r *request) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.leads[id]
	if l == nil {
		return ok([]any{})
	}
	return ok([]marketo.Lead{s.project(l, splitCSV(r.params.Get("fields")))})
}

// getLeadsByFilter is Get Leads by Filter Type, paged by nextPageToken.
func (s *Server) getLeadsByFilter(r *request) answer {
	ft := r.params.Get("filterType")
	values := splitCSV(r.params.Get("filterValues"))
	if ft == "" || len(values) == 0 {
		return fail("1003", "filterType and filterValues are required")
	}
	if len(values) > MaxPage {
		return fail(s.opts.capCode, "filterValues has %d values, at most %d", len(values), MaxPage)
	}
	bs, a, done := s.batchSize(r)
	if done {
		return a
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.st.searchable[ft] {
		return fail("1011", "Field '%s' not supported for filterType", ft)
	}
	ids := s.leadsByValues(ft, values)
	if len(ids) > 1000 {
		return fail("1003", "Too many results match the filter")
	}
	scope := "filter|" + ft + "|" + strings.Join(values, ",")
	off, valid := parsePageToken(r.params.Get("nextPageToken"), scope)
	if !valid {
		return fail("1003", "Invalid nextPageToken")
	}
	fields := splitCSV(r.params.Get("fields"))
	start, end, more := pageBounds(len(ids), off, bs)
	var out []marketo.Lead
	for _, id := range ids[start:end] {
		out = append(out, s.project(s.st.leads[id], fields))
	}
	a = ok(out)
	if more {
		a.next = pageToken(scope, end)
	}
	return a
}

// syncLeadsBody is the body of Sync Leads.
type syncLeadsBody struct {
	Action      string         `json:"action"`
	LookupField string         `json:"lookupField"`
	Input       []marketo.Lead `json:"input"`
}

// leadResult is one record's outcome of Sync Leads.
type leadResult struct {
	ID      int              `json:"id,omitempty"`
	Status  string           `json:"status"`
	Reasons []marketo.Reason `json:"reasons,omitempty"`
}

// skip is a skipped record's outcome with its reason.
func skip(code, format string, args ...any) leadResult {
	return leadResult{Status: marketo.StatusSkipped, Reasons: []marketo.Reason{{Code: code, Message: fmt.Sprintf(format, args...)}}}
}

// syncLeads is Sync Leads: each record is checked and matched (and an
// update applied) under the lock; creates come last, in input order, and
// with WithDuplicateRace only after a pause that lets overlapping calls
// decide the same.
func (s *Server) syncLeads(ctx context.Context, r *request) answer {
	b, a, done := s.parseSyncLeads(r)
	if done {
		return a
	}
	res := make([]leadResult, len(b.Input))
	creates := map[int]bool{}
	s.mu.Lock()
	seenKey := map[string]bool{}
	for i, in := range b.Input {
		var create bool
		if res[i], create = s.syncLead(b, in, seenKey); create {
			creates[i] = true
		}
	}
	if s.opts.duplicateRace && len(creates) > 0 {
		// Decide now, create later: overlapping calls for the same new key
		// both create, as Marketo documents.
		s.mu.Unlock()
		s.sleep(ctx, max(s.opts.latency, 50*time.Millisecond))
		s.mu.Lock()
	}
	for _, i := range slices.Sorted(maps.Keys(creates)) {
		res[i] = leadResult{ID: s.createLead(b.Input[i]), Status: marketo.StatusCreated}
	}
	s.mu.Unlock()
	return ok(res)
}

// parseSyncLeads decodes the body, fills in the default action and lookup
// field, and checks the action and the number of records.
func (s *Server) parseSyncLeads(r *request) (syncLeadsBody, answer, bool) {
	var b syncLeadsBody
	if err := decodeJSON(r.body, &b); err != nil {
		return b, fail("609", "Invalid JSON: %v", err), true
	}
	if b.Action == "" {
		b.Action = marketo.ActionCreateOrUpdate
	}
	if b.LookupField == "" {
		b.LookupField = "email"
	}
	switch b.Action {
	case marketo.ActionCreateOrUpdate, marketo.ActionCreateOnly, marketo.ActionUpdateOnly, "createDuplicate":
	default:
		return b, fail("1003", "Invalid action '%s'", b.Action), true
	}
	if len(b.Input) == 0 {
		return b, fail("1003", "input is required"), true
	}
	if len(b.Input) > MaxPage {
		return b, fail(s.opts.capCode, "input has %d records, at most %d", len(b.Input), MaxPage), true
	}
	return b, answer{}, false
}

// syncLead handles one input record: a skip, an update of its one match, or
// create (true) for the caller to create later. mu held.
func (s *Server) syncLead(b syncLeadsBody, in marketo.Lead, seenKey map[string]bool) (res leadResult, create bool) {
	if res, refused := s.checkLead(b, in, seenKey); refused {
		return res, false
	}
	if res, refused := s.typeLead(in); refused {
		return res, false
	}
	matches := s.matchLead(b.LookupField, in)
	switch {
	case b.Action == "createDuplicate":
		return leadResult{}, true
	case b.Action == marketo.ActionCreateOnly && len(matches) > 0:
		return skip("1005", "Lead already exists"), false
	case b.Action == marketo.ActionUpdateOnly && len(matches) == 0:
		return skip("1004", "Lead not found"), false
	case len(matches) > 1:
		return skip("1007", "Multiple lead match lookup criteria"), false
	case len(matches) == 1:
		s.updateLead(matches[0], in)
		return leadResult{ID: matches[0], Status: marketo.StatusUpdated}, false
	}
	return leadResult{}, true
}

// checkLead refuses a record without a lookup value, one its action does not
// allow, a repeat of an earlier record's key, or one with an unknown field.
func (s *Server) checkLead(b syncLeadsBody, in marketo.Lead, seenKey map[string]bool) (leadResult, bool) {
	key := scalar(in[b.LookupField])
	if b.LookupField == "email" && !s.opts.caseSensitiveEmail {
		key = strings.ToLower(key)
	}
	switch {
	case key == "":
		return skip("1003", "Value for lookup field '%s' not found", b.LookupField), true
	case b.LookupField == "id" && b.Action != marketo.ActionUpdateOnly:
		return skip("1003", "Lookup field 'id' is allowed only with updateOnly"), true
	case b.Action == marketo.ActionCreateOnly && in["id"] != nil:
		return skip("1003", "Field 'id' not allowed with createOnly"), true
	case seenKey[key]:
		return skip("1036", "Duplicate lead in input"), true
	}
	seenKey[key] = true
	if bad := s.unknownLeadField(in); bad != "" {
		return skip("1006", "Field '%s' not found", bad), true
	}
	return leadResult{}, false
}

// typeLead puts every value of in through the field layer, replacing it
// with its typed form; the first that does not fit (by field name) skips
// the record with 1003 and no id, as recorded even for lookupField id.
func (s *Server) typeLead(in marketo.Lead) (leadResult, bool) {
	for _, k := range slices.Sorted(maps.Keys(in)) {
		v, fits := s.typedValue(s.st.leadSpec(k), in[k])
		if !fits {
			code, msg := s.invalid(k, in[k])
			return skip(code, "%s", msg), true
		}
		in[k] = v
	}
	return leadResult{}, false
}

// matchLead returns the ids of the leads the record's lookup field matches.
// mu held.
func (s *Server) matchLead(lookupField string, in marketo.Lead) []int {
	if lookupField == "id" {
		if s.st.leads[in.ID()] != nil {
			return []int{in.ID()}
		}
		return nil
	}
	return s.leadsByKey(lookupField, scalar(in[lookupField]))
}

// unknownLeadField returns the first field of in (by name) the schema lacks.
func (s *Server) unknownLeadField(in marketo.Lead) string {
	for _, k := range slices.Sorted(maps.Keys(in)) {
		if !s.st.hasField(k) {
			return k
		}
	}
	return ""
}
