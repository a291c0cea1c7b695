package dryrun

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// SyncCustomObjects answers each record as Marketo would: a record whose
// dedupe key exists (read with one Get Custom Objects per 300 keys, by the
// first dedupe field) is updated, others created; a record linking to a
// lead that does not exist is refused (1004, read with Get Leads by id), a
// record without its dedupe values 1003, a repeated key in one call 1036.
// The object's describe is the one the job read first.
func (m *Marketo) SyncCustomObjects(ctx context.Context, apiName string, req marketo.SyncCustomObjectsRequest) ([]marketo.CustomObjectResult, error) {
	if req.Action == "" {
		req.Action = marketo.ActionCreateOrUpdate
	}
	if req.DedupeBy == "" {
		req.DedupeBy = "dedupeFields"
	}
	if req.DedupeBy != "dedupeFields" {
		return nil, fmt.Errorf("dry run: Sync Custom Objects by %q is not planned (the jobs dedupe by dedupeFields)", req.DedupeBy)
	}
	if len(req.Input) == 0 {
		return nil, nil
	}
	m.mu.Lock()
	t, ok := m.types[apiName]
	m.mu.Unlock()
	if !ok {
		var err error
		if t, err = m.DescribeCustomObject(ctx, apiName); err != nil {
			return nil, err
		}
	}
	existing, err := m.existingRecords(ctx, t, req.Input)
	if err != nil {
		return nil, fmt.Errorf("dry run: read the custom object records Sync Custom Objects would write: %w", err)
	}
	leads, err := m.linkedLeads(ctx, t, req.Input)
	if err != nil {
		return nil, fmt.Errorf("dry run: check the leads custom object records link to: %w", err)
	}
	m.mu.Lock()
	out := make([]marketo.CustomObjectResult, len(req.Input))
	writes := make([]RecordWrite, len(req.Input))
	seen := map[string]bool{}
	for i, in := range req.Input {
		out[i], writes[i] = m.syncRecord(t, req.Action, i, in, existing, leads, seen)
	}
	m.mu.Unlock()
	n := calls(len(req.Input), marketo.MaxBatch)
	m.log.add(func(w *Writes) {
		w.CustomObjects = append(w.CustomObjects, writes...)
		w.Calls.SyncCustomObjects += n
	})
	return out, nil
}

// dedupeKey is a record's dedupe values joined, and whether all are set.
func dedupeKey(t marketo.CustomObjectType, r marketo.Record) (string, bool) {
	parts := make([]string, len(t.DedupeFields))
	for i, f := range t.DedupeFields {
		parts[i] = scalar(r[f])
		if parts[i] == "" {
			return "", false
		}
	}
	return strings.Join(parts, "\x00"), true
}

// existingRecords reads the stored records the inputs' dedupe keys name,
// by key (records the plan created included).
func (m *Marketo) existingRecords(ctx context.Context, t marketo.CustomObjectType, in []marketo.Record) (map[string]marketo.Record, error) {
	out := map[string]marketo.Record{}
	q, ok := m.inner.(customObjectQuerier)
	if !ok || len(t.DedupeFields) == 0 {
		return out, nil
	}
	first := t.DedupeFields[0]
	var values []string
	fieldSet := map[string]bool{}
	for _, r := range in {
		if v := scalar(r[first]); v != "" && !slices.Contains(values, v) {
			values = append(values, v)
		}
		for k := range r {
			fieldSet[k] = true
		}
	}
	for _, f := range t.DedupeFields {
		fieldSet[f] = true
	}
	if len(values) > 0 {
		recs, err := q.QueryCustomObjects(ctx, t.Name, first, values, slices.Sorted(maps.Keys(fieldSet)))
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if k, ok := dedupeKey(t, r); ok {
				out[k] = r
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, r := range m.coNew[t.Name] {
		out[k] = r
	}
	return out, nil
}

// linkedLeads returns which lead ids the inputs' link field names exist
// (placeholders of leads the plan created do).
func (m *Marketo) linkedLeads(ctx context.Context, t marketo.CustomObjectType, in []marketo.Record) (map[string]bool, error) {
	exists := map[string]bool{}
	if t.LinkField == "" {
		return exists, nil
	}
	var ids []string
	for _, r := range in {
		if v := scalar(r[t.LinkField]); v != "" && !slices.Contains(ids, v) {
			ids = append(ids, v)
		}
	}
	if len(ids) == 0 {
		return exists, nil
	}
	leads, err := m.GetLeadsByFilter(ctx, "id", ids, []string{"id"})
	if err != nil {
		return nil, err
	}
	for _, l := range leads {
		exists[itoa(l.ID())] = true
	}
	return exists, nil
}

// syncRecord decides input record i and applies it to the plan's view.
// mu held.
func (m *Marketo) syncRecord(t marketo.CustomObjectType, action string, i int, in marketo.Record, existing map[string]marketo.Record, leads, seen map[string]bool) (marketo.CustomObjectResult, RecordWrite) {
	w := RecordWrite{Object: t.Name, Values: maps.Clone(in)}
	skip := func(code, msg string) (marketo.CustomObjectResult, RecordWrite) {
		w.Result, w.Code, w.Reason = marketo.StatusSkipped, code, msg
		return marketo.CustomObjectResult{Seq: i, Status: marketo.StatusSkipped, Reasons: []marketo.Reason{{Code: code, Message: msg}}}, w
	}
	key, ok := dedupeKey(t, in)
	if !ok {
		return skip("1003", "Value for dedupe field not found")
	}
	if seen[key] {
		return skip("1036", "Duplicate object in input")
	}
	seen[key] = true
	have, exists := existing[key]
	if v, set := in[t.LinkField]; t.LinkField != "" && (set || !exists) && !leads[scalar(v)] {
		return skip("1004", "Lead not found")
	}
	switch {
	case exists && action == marketo.ActionCreateOnly:
		return skip("1005", "Object already exists")
	case !exists && action == marketo.ActionUpdateOnly:
		return skip("1013", "Object not found")
	case exists:
		w.Result = marketo.StatusUpdated
		w.Changes = changes(have, in, t.DedupeFields...)
	default:
		w.Result = marketo.StatusCreated
	}
	if m.coNew[t.Name] == nil {
		m.coNew[t.Name] = map[string]marketo.Record{}
	}
	rec := maps.Clone(have)
	if rec == nil {
		rec = marketo.Record{}
	}
	maps.Copy(rec, in)
	m.coNew[t.Name][key] = rec
	return marketo.CustomObjectResult{Seq: i, Status: w.Result}, w
}
