package marketotest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// describeCO is Describe Custom Object.
func (s *Server) describeCO(name string) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.st.coTypes[name]
	if t == nil {
		return fail("1013", "Object not found")
	}
	return ok([]map[string]any{s.coMeta(t)})
}

// coMeta is a custom object type as Describe answers it: keys, searchable
// fields, relationships (relatedTo, as List and swagger spell it), and the
// fields, marketoGUID, createdAt and updatedAt (not updateable) included;
// length only on string-like fields. mu held.
func (s *Server) coMeta(t *coType) map[string]any {
	fields := []map[string]any{
		{"name": "marketoGUID", "displayName": "Marketo GUID", "dataType": "string", "length": 36, "updateable": false},
		{"name": "createdAt", "displayName": "Created At", "dataType": "datetime", "updateable": false},
		{"name": "updatedAt", "displayName": "Updated At", "dataType": "datetime", "updateable": false},
	}
	for _, f := range t.def.Fields {
		m := map[string]any{"name": f.Name, "displayName": f.Name, "dataType": f.DataType, "updateable": f.Updatable}
		if f.Length > 0 {
			m["length"] = f.Length
		}
		fields = append(fields, m)
	}
	searchable := [][]string{slices.Clone(t.def.DedupeFields), {"marketoGUID"}}
	rels := []map[string]any{}
	if t.def.LinkField != "" {
		searchable = append(searchable, []string{t.def.LinkField})
		rels = append(rels, map[string]any{"field": t.def.LinkField, "type": "child", "relatedTo": map[string]string{"name": "Lead", "field": "id"}})
	}
	ts := s.epoch()
	return map[string]any{
		"name": t.def.Name, "displayName": t.def.Name, "description": "", "createdAt": ts, "updatedAt": ts,
		"idField": "marketoGUID", "dedupeFields": t.def.DedupeFields, "searchableFields": searchable,
		"relationships": rels, "fields": fields,
	}
}

// coResult is one record's outcome of a custom object sync or delete.
type coResult struct {
	Seq         int              `json:"seq"`
	Status      string           `json:"status"`
	MarketoGUID string           `json:"marketoGUID,omitempty"`
	Reasons     []marketo.Reason `json:"reasons,omitempty"`
}

// coSkip is a skipped record's outcome with its reason.
func coSkip(seq int, code, msg string) coResult {
	return coResult{Seq: seq, Status: marketo.StatusSkipped, Reasons: []marketo.Reason{{Code: code, Message: msg}}}
}

// syncCOBody is the body of Sync Custom Objects.
type syncCOBody struct {
	Action   string           `json:"action"`
	DedupeBy string           `json:"dedupeBy"`
	Input    []marketo.Record `json:"input"`
}

// syncCO is Sync Custom Objects: each record is created, updated or skipped
// with its reason, keyed by seq.
func (s *Server) syncCO(name string, r *request) answer {
	var b syncCOBody
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
	if a, refused := s.checkSyncCO(t, b); refused {
		return a
	}
	res := make([]coResult, len(b.Input))
	seen := map[string]bool{}
	now := s.opts.clock.Now().UTC().Format(time.RFC3339)
	for i, in := range b.Input {
		res[i] = s.syncCORecord(t, b, i, in, seen, now)
	}
	return ok(res)
}

// checkSyncCO refuses a call to an unknown type, with no or too many
// records, or with a dedupeBy its action does not allow.
func (s *Server) checkSyncCO(t *coType, b syncCOBody) (answer, bool) {
	switch {
	case t == nil:
		return fail("1013", "Object not found"), true
	case len(b.Input) == 0:
		return fail("1003", "input is required"), true
	case len(b.Input) > MaxPage:
		return fail(s.opts.capCode, "input has %d records, at most %d", len(b.Input), MaxPage), true
	case b.DedupeBy != "dedupeFields" && b.DedupeBy != "idField":
		return fail("1003", "Invalid dedupeBy '%s'", b.DedupeBy), true
	case b.DedupeBy == "idField" && b.Action != marketo.ActionUpdateOnly:
		return fail("1003", "dedupeBy idField requires updateOnly"), true
	}
	return answer{}, false
}

// syncCORecord handles input record i: unknown fields (1006), then the
// field layer (1003), then its key, link and action. mu held.
func (s *Server) syncCORecord(t *coType, b syncCOBody, i int, in marketo.Record, seen map[string]bool, now string) coResult {
	if bad := firstUnknown(t, in); bad != "" {
		return coSkip(i, "1006", "Field '"+bad+"' not found")
	}
	if r, refused := s.typeCO(t, i, in); refused {
		return r
	}
	rec, key, missing := t.locate(b.DedupeBy, in)
	if missing != "" {
		return coSkip(i, "1003", missing)
	}
	if seen[key] {
		return coSkip(i, "1036", "Duplicate object in input")
	}
	seen[key] = true
	if s.linkedLeadMissing(t, in, rec) {
		return coSkip(i, "1004", "Lead not found")
	}
	return t.apply(b.Action, i, in, rec, now)
}

// typeCO puts the record's values through the field layer (each as is with
// WithCustomObjectTypeCheck(false)); the first that does not fit skips the
// record with 1003.
func (s *Server) typeCO(t *coType, i int, in marketo.Record) (coResult, bool) {
	for _, k := range slices.Sorted(maps.Keys(in)) {
		if s.opts.noCOTypeCheck || k == "marketoGUID" {
			in[k] = normalize(in[k])
			continue
		}
		v, fits := s.typedValue(t.spec(k), in[k])
		if !fits {
			code, msg := s.invalid(k, in[k])
			return coSkip(i, code, msg), true
		}
		in[k] = v
	}
	return coResult{}, false
}

// spec is the field layer's view of one of the type's fields.
func (t *coType) spec(name string) fieldSpec {
	for _, f := range t.def.Fields {
		if f.Name == name {
			return fieldSpec{name: name, dataType: f.DataType, length: f.Length}
		}
	}
	return fieldSpec{name: name, dataType: "string"}
}

// locate finds the stored record an input names, by marketoGUID (dedupeBy
// idField) or by its dedupe key; rec is nil when there is none. missing says
// why the input names no key.
func (t *coType) locate(dedupeBy string, in marketo.Record) (rec *coRecord, key, missing string) {
	if dedupeBy == "idField" {
		key = scalar(in["marketoGUID"])
		if key == "" {
			return nil, "", "marketoGUID is required"
		}
		_, rec = t.findGUID(key)
		return rec, key, ""
	}
	key, complete := t.key(in)
	if !complete {
		return nil, "", "Value for dedupe field not found"
	}
	return t.find(key), key, ""
}

// linkedLeadMissing reports whether the record links to a lead that does not
// exist: checked when the input sets the link field, and for every create.
// mu held.
func (s *Server) linkedLeadMissing(t *coType, in marketo.Record, rec *coRecord) bool {
	if t.def.LinkField == "" {
		return false
	}
	v, has := in[t.def.LinkField]
	return (has || rec == nil) && s.st.leads[atoi(scalar(v))] == nil
}

// apply writes input record i as its action allows: an update of rec, a
// create when rec is nil, or a skip; now stamps updatedAt (and createdAt).
func (t *coType) apply(action string, i int, in marketo.Record, rec *coRecord, now string) coResult {
	switch {
	case rec != nil && action == marketo.ActionCreateOnly:
		return coSkip(i, "1005", "Object already exists")
	case rec == nil && action == marketo.ActionUpdateOnly:
		return coSkip(i, "1013", "Object not found")
	case rec != nil:
		oldKey, _ := t.key(rec.fields)
		for k, v := range in {
			if k != "marketoGUID" {
				rec.fields[k] = v
			}
		}
		rec.fields["updatedAt"] = now
		t.reindex(rec, oldKey)
		return coResult{Seq: i, Status: marketo.StatusUpdated, MarketoGUID: rec.guid}
	}
	nr := &coRecord{guid: newGUID(), fields: maps.Clone(in)}
	nr.fields["createdAt"], nr.fields["updatedAt"] = now, now
	t.records = append(t.records, nr)
	t.reindex(nr, "")
	return coResult{Seq: i, Status: marketo.StatusCreated, MarketoGUID: nr.guid}
}

// firstUnknown returns the first field of in (by name) the type lacks.
func firstUnknown(t *coType, in marketo.Record) string {
	for _, k := range slices.Sorted(maps.Keys(in)) {
		if !t.hasField(k) {
			return k
		}
	}
	return ""
}

// coQuery is a custom object query: filterValues from the parameters, or
// compound filters from a JSON body (whose filterType defaults to
// dedupeFields and which may carry batchSize and nextPageToken).
type coQuery struct {
	filterType string
	fields     []string
	values     []string
	filters    []marketo.Record // compound-key JSON form
	token      string
	batchSize  int // from a JSON body; 0 = the parameter's
}

// queryCO is Get Custom Objects, paged by nextPageToken.
func (s *Server) queryCO(name string, r *request) answer {
	bs, a, done := s.batchSize(r)
	if done {
		return a
	}
	q, a, done := s.parseCOQuery(r)
	if done {
		return a
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.st.coTypes[name]
	if t == nil {
		return fail("1013", "Object not found")
	}
	if !t.searchable(q.filterType) {
		return fail("1003", "Invalid filterType '%s'", q.filterType)
	}
	if q.batchSize > 0 {
		if q.batchSize > MaxPage {
			return fail(s.opts.capCode, "batchSize %d exceeds %d", q.batchSize, MaxPage)
		}
		bs = q.batchSize
	}
	hits := t.matching(q)
	scope := "co|" + name + "|" + q.filterType + "|" + strings.Join(q.values, ",") + "|" + fmt.Sprint(q.filters)
	off, valid := parsePageToken(q.token, scope)
	if !valid {
		return fail("1003", "Invalid nextPageToken")
	}
	fields := q.fields
	if len(fields) == 0 {
		// swagger: "If unset marketoGuid, dedupeFields, updatedAt, createdAt
		// will be returned".
		fields = append(slices.Clone(t.def.DedupeFields), "updatedAt", "createdAt")
	}
	start, end, more := pageBounds(len(hits), off, bs)
	var out []marketo.Record
	for i, rec := range hits[start:end] {
		out = append(out, rec.project(off+i, fields))
	}
	a = ok(out)
	if more {
		a.next = pageToken(scope, end)
	}
	return a
}

// parseCOQuery reads the query from a JSON body, or else from the
// parameters, and checks its size.
func (s *Server) parseCOQuery(r *request) (coQuery, answer, bool) {
	if !r.isJSON || len(r.body) == 0 {
		q := coQuery{filterType: r.params.Get("filterType"), fields: splitCSV(r.params.Get("fields")),
			values: splitCSV(r.params.Get("filterValues")), token: r.params.Get("nextPageToken")}
		if q.filterType == "" || len(q.values) == 0 {
			return q, fail("1003", "filterType and filterValues are required"), true
		}
		if len(q.values) > MaxPage {
			return q, fail(s.opts.capCode, "filterValues has %d values, at most %d", len(q.values), MaxPage), true
		}
		return q, answer{}, false
	}
	var b struct {
		FilterType    string           `json:"filterType"`
		Fields        []string         `json:"fields"`
		Input         []marketo.Record `json:"input"`
		NextPageToken string           `json:"nextPageToken"`
		BatchSize     int              `json:"batchSize"`
	}
	if err := decodeJSON(r.body, &b); err != nil {
		return coQuery{}, fail("609", "Invalid JSON: %v", err), true
	}
	if b.FilterType == "" {
		b.FilterType = "dedupeFields"
	}
	if b.BatchSize < 0 {
		return coQuery{}, fail("1003", "Invalid batchSize %d", b.BatchSize), true
	}
	q := coQuery{filterType: b.FilterType, fields: b.Fields, filters: b.Input, token: b.NextPageToken, batchSize: b.BatchSize}
	if len(q.filters) == 0 {
		return q, fail("1003", "input is required"), true
	}
	if len(q.filters) > MaxPage {
		return q, fail(s.opts.capCode, "input has %d filters, at most %d", len(q.filters), MaxPage), true
	}
	return q, answer{}, false
}

// project is the record as a query answers it: seq, marketoGUID and those of
// fields it has.
func (rec *coRecord) project(seq int, fields []string) marketo.Record {
	o := marketo.Record{"seq": seq, "marketoGUID": rec.guid}
	for _, f := range fields {
		if v, has := rec.fields[f]; has {
			o[f] = v
		}
	}
	return o
}

// deleteCO is Delete Custom Objects, by dedupe fields or marketoGUID.
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
