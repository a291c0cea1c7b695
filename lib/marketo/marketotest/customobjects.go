package marketotest

import (
	"maps"
	"slices"
	"strings"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

func (t *coType) hasField(n string) bool {
	return n == "marketoGUID" || slices.ContainsFunc(t.def.Fields, func(f marketo.CustomObjectField) bool { return f.Name == n })
}

func (t *coType) key(r marketo.Record) (string, bool) {
	parts := make([]string, len(t.def.DedupeFields))
	for i, f := range t.def.DedupeFields {
		v, has := r[f]
		if !has || v == nil || scalar(v) == "" {
			return "", false
		}
		parts[i] = scalar(v)
	}
	return strings.Join(parts, "\x00"), true
}

// find returns the record with a dedupe key, through the index (a scan per
// record would make a sync of n records cost O(n x stored)).
func (t *coType) find(key string) *coRecord { return t.byKey[key] }

// reindex files a record under its current dedupe key, after a create or an
// update that may have changed a dedupe field (updateOnly by idField).
func (t *coType) reindex(r *coRecord, oldKey string) {
	if t.byKey == nil {
		t.byKey = map[string]*coRecord{}
	}
	if oldKey != "" && t.byKey[oldKey] == r {
		delete(t.byKey, oldKey)
	}
	if k, ok := t.key(r.fields); ok {
		t.byKey[k] = r
	}
}

func (t *coType) findGUID(g string) (int, *coRecord) {
	for i, r := range t.records {
		if r.guid == g {
			return i, r
		}
	}
	return -1, nil
}

func (s *Server) describeCO(name string) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.st.coTypes[name]
	if t == nil {
		return fail("1013", "Object not found")
	}
	fields := []map[string]any{{"name": "marketoGUID", "displayName": "Marketo GUID", "dataType": "string", "length": 36, "updateable": false}}
	for _, f := range t.def.Fields {
		fields = append(fields, map[string]any{"name": f.Name, "displayName": f.Name, "dataType": f.DataType, "updateable": f.Updatable})
	}
	searchable := [][]string{slices.Clone(t.def.DedupeFields), {"marketoGUID"}}
	var rels []map[string]any
	if t.def.LinkField != "" {
		searchable = append(searchable, []string{t.def.LinkField})
		rels = append(rels, map[string]any{"field": t.def.LinkField, "type": "child", "relatedTo": map[string]string{"name": "Lead", "field": "id"}})
	}
	return ok([]map[string]any{{
		"name": t.def.Name, "displayName": t.def.Name, "idField": "marketoGUID",
		"dedupeFields": t.def.DedupeFields, "searchableFields": searchable, "fields": fields, "relationships": rels,
	}})
}

type coResult struct {
	Seq         int              `json:"seq"`
	Status      string           `json:"status"`
	MarketoGUID string           `json:"marketoGUID,omitempty"`
	Reasons     []marketo.Reason `json:"reasons,omitempty"`
}

func coSkip(seq int, code, msg string) coResult {
	return coResult{Seq: seq, Status: marketo.StatusSkipped, Reasons: []marketo.Reason{{Code: code, Message: msg}}}
}

func (s *Server) syncCO(name string, r *request) answer {
	var b struct {
		Action   string           `json:"action"`
		DedupeBy string           `json:"dedupeBy"`
		Input    []marketo.Record `json:"input"`
	}
	if err := decodeJSON(r.body, &b); err != nil {
		return fail("609", "Invalid JSON: %v", err)
	}
	if b.Action == "" {
		b.Action = marketo.ActionCreateOrUpdate
	}
	if b.DedupeBy == "" {
		b.DedupeBy = "dedupeFields"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.st.coTypes[name]
	switch {
	case t == nil:
		return fail("1013", "Object not found")
	case len(b.Input) == 0:
		return fail("1003", "input is required")
	case len(b.Input) > MaxPage:
		return fail(s.opts.capCode, "input has %d records, at most %d", len(b.Input), MaxPage)
	case b.DedupeBy != "dedupeFields" && b.DedupeBy != "idField":
		return fail("1003", "Invalid dedupeBy '%s'", b.DedupeBy)
	case b.DedupeBy == "idField" && b.Action != marketo.ActionUpdateOnly:
		return fail("1003", "dedupeBy idField requires updateOnly")
	}
	res := make([]coResult, len(b.Input))
	seen := map[string]bool{}
	for i, in := range b.Input {
		for k, v := range in {
			in[k] = normalize(v)
		}
		if bad := firstUnknown(t, in); bad != "" {
			res[i] = coSkip(i, "1006", "Field '"+bad+"' not found")
			continue
		}
		var rec *coRecord
		var key string
		if b.DedupeBy == "idField" {
			key = scalar(in["marketoGUID"])
			if key == "" {
				res[i] = coSkip(i, "1003", "marketoGUID is required")
				continue
			}
			_, rec = t.findGUID(key)
		} else {
			var complete bool
			if key, complete = t.key(in); !complete {
				res[i] = coSkip(i, "1003", "Value for dedupe field not found")
				continue
			}
			rec = t.find(key)
		}
		if seen[key] {
			res[i] = coSkip(i, "1036", "Duplicate object in input")
			continue
		}
		seen[key] = true
		if t.def.LinkField != "" {
			if v, has := in[t.def.LinkField]; has || rec == nil {
				if s.st.leads[atoi(scalar(v))] == nil {
					res[i] = coSkip(i, "1004", "Lead not found")
					continue
				}
			}
		}
		switch {
		case rec != nil && b.Action == marketo.ActionCreateOnly:
			res[i] = coSkip(i, "1005", "Object already exists")
		case rec == nil && b.Action == marketo.ActionUpdateOnly:
			res[i] = coSkip(i, "1013", "Object not found")
		case rec != nil:
			oldKey, _ := t.key(rec.fields)
			for k, v := range in {
				if k != "marketoGUID" {
					rec.fields[k] = v
				}
			}
			t.reindex(rec, oldKey)
			res[i] = coResult{Seq: i, Status: marketo.StatusUpdated, MarketoGUID: rec.guid}
		default:
			nr := &coRecord{guid: newGUID(), fields: maps.Clone(in)}
			t.records = append(t.records, nr)
			t.reindex(nr, "")
			res[i] = coResult{Seq: i, Status: marketo.StatusCreated, MarketoGUID: nr.guid}
		}
	}
	return ok(res)
}

func firstUnknown(t *coType, in marketo.Record) string {
	for _, k := range slices.Sorted(maps.Keys(in)) {
		if !t.hasField(k) {
			return k
		}
	}
	return ""
}

func (s *Server) queryCO(name string, r *request) answer {
	bs, a, done := s.batchSize(r)
	if done {
		return a
	}
	var ft string
	var fields []string
	var filters []marketo.Record // compound-key JSON form
	var values []string
	tok := r.params.Get("nextPageToken")
	if r.isJSON && len(r.body) > 0 {
		var b struct {
			FilterType    string           `json:"filterType"`
			Fields        []string         `json:"fields"`
			Input         []marketo.Record `json:"input"`
			NextPageToken string           `json:"nextPageToken"`
		}
		if err := decodeJSON(r.body, &b); err != nil {
			return fail("609", "Invalid JSON: %v", err)
		}
		ft, fields, filters, tok = b.FilterType, b.Fields, b.Input, b.NextPageToken
		if len(filters) == 0 {
			return fail("1003", "input is required")
		}
		if len(filters) > MaxPage {
			return fail(s.opts.capCode, "input has %d filters, at most %d", len(filters), MaxPage)
		}
	} else {
		ft, fields, values = r.params.Get("filterType"), splitCSV(r.params.Get("fields")), splitCSV(r.params.Get("filterValues"))
		if ft == "" || len(values) == 0 {
			return fail("1003", "filterType and filterValues are required")
		}
		if len(values) > MaxPage {
			return fail(s.opts.capCode, "filterValues has %d values, at most %d", len(values), MaxPage)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.st.coTypes[name]
	if t == nil {
		return fail("1013", "Object not found")
	}
	searchable := ft == "marketoGUID" || ft == "dedupeFields" || ft == t.def.LinkField ||
		(len(t.def.DedupeFields) == 1 && ft == t.def.DedupeFields[0])
	if !searchable {
		return fail("1003", "Invalid filterType '%s'", ft)
	}
	var hits []*coRecord
	for _, rec := range t.records {
		if matchCO(t, rec, ft, values, filters) {
			hits = append(hits, rec)
		}
	}
	scope := "co|" + name + "|" + ft + "|" + strings.Join(values, ",") + "|" + string(r.body)
	off, valid := parsePageToken(tok, scope)
	if !valid {
		return fail("1003", "Invalid nextPageToken")
	}
	if len(fields) == 0 {
		fields = append(slices.Clone(t.def.DedupeFields), "updatedAt")
	}
	var out []marketo.Record
	end := min(off+bs, len(hits))
	for i, rec := range hits[min(off, len(hits)):end] {
		o := marketo.Record{"seq": off + i, "marketoGUID": rec.guid}
		for _, f := range fields {
			if v, has := rec.fields[f]; has {
				o[f] = v
			}
		}
		out = append(out, o)
	}
	a = ok(out)
	if end < len(hits) {
		a.next = pageToken(scope, end)
	}
	return a
}

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
	if ft == "dedupeFields" {
		f = t.def.DedupeFields[0]
	}
	return slices.Contains(values, get(f))
}

func (s *Server) deleteCO(name string, r *request) answer {
	var b struct {
		DeleteBy string           `json:"deleteBy"`
		Input    []marketo.Record `json:"input"`
	}
	if err := decodeJSON(r.body, &b); err != nil {
		return fail("609", "Invalid JSON: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.st.coTypes[name]
	switch {
	case t == nil:
		return fail("1013", "Object not found")
	case len(b.Input) > MaxPage:
		return fail(s.opts.capCode, "input has %d records, at most %d", len(b.Input), MaxPage)
	}
	res := make([]coResult, len(b.Input))
	for i, in := range b.Input {
		for k, v := range in {
			in[k] = normalize(v)
		}
		var rec *coRecord
		if b.DeleteBy == "idField" {
			_, rec = t.findGUID(scalar(in["marketoGUID"]))
		} else if key, complete := t.key(in); complete {
			rec = t.find(key)
		}
		if rec == nil {
			res[i] = coSkip(i, "1013", "Object not found")
			continue
		}
		idx, _ := t.findGUID(rec.guid)
		t.records = append(t.records[:idx], t.records[idx+1:]...)
		if k, ok := t.key(rec.fields); ok && t.byKey[k] == rec {
			delete(t.byKey, k)
		}
		res[i] = coResult{Seq: i, Status: "deleted", MarketoGUID: rec.guid}
	}
	return ok(res)
}
