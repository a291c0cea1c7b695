package dryrun

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// SyncLeads answers each input as Marketo's Sync Leads would, from a look-up
// of the inputs' keys (one Get Leads by filter per 300 keys, with the fields
// sent, so that the changes can be listed): no lead is a create (under a
// placeholder id) unless the action is updateOnly (1004), one lead is an
// update unless the action is createOnly (1005), several are 1007. Keys
// this plan already looked up and found no lead for are not asked again.
// What Marketo could still refuse only when written (a value it cannot
// store, for one) is not foreseen.
func (m *Marketo) SyncLeads(ctx context.Context, req marketo.SyncLeadsRequest) ([]marketo.SyncResult, error) {
	if req.Action == "" {
		req.Action = marketo.ActionCreateOrUpdate
	}
	if req.LookupField == "" {
		req.LookupField = "email"
	}
	switch req.Action {
	case marketo.ActionCreateOrUpdate, marketo.ActionCreateOnly, marketo.ActionUpdateOnly:
	default:
		return nil, fmt.Errorf("marketo: SyncLeads: unknown action %q", req.Action)
	}
	if req.LookupField == "id" && req.Action != marketo.ActionUpdateOnly {
		return nil, fmt.Errorf("marketo: SyncLeads: lookupField id needs action updateOnly, not %q", req.Action)
	}
	if len(req.Input) == 0 {
		return nil, nil
	}
	found, err := m.lookUp(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("dry run: look up the leads Sync Leads would write: %w", err)
	}
	m.mu.Lock()
	out := make([]marketo.SyncResult, len(req.Input))
	writes := make([]LeadWrite, len(req.Input))
	seen := map[string]bool{}
	for i, in := range req.Input {
		out[i], writes[i] = m.syncLead(req, in, found, seen)
	}
	m.mu.Unlock()
	n := calls(len(req.Input), marketo.MaxBatch)
	m.log.add(func(w *Writes) {
		w.Leads = append(w.Leads, writes...)
		w.Calls.SyncLeads += n
	})
	return out, nil
}

// lookupKey is an input's lookup value as Marketo compares it.
func lookupKey(field string, v any) string {
	if field == "email" {
		return emailKey(scalar(v))
	}
	return scalar(v)
}

// lookUp finds the leads the inputs' keys name, by key, with the fields
// sent; keys known to have no lead are not asked.
func (m *Marketo) lookUp(ctx context.Context, req marketo.SyncLeadsRequest) (map[string][]marketo.Lead, error) {
	fieldSet := map[string]bool{"id": true, req.LookupField: true}
	var ask []string
	asked := map[string]bool{}
	m.mu.Lock()
	for _, in := range req.Input {
		for k := range in {
			fieldSet[k] = true
		}
		k := lookupKey(req.LookupField, in[req.LookupField])
		if k == "" || asked[k] || (req.LookupField == "email" && m.absent[k]) {
			continue
		}
		asked[k] = true
		ask = append(ask, scalar(in[req.LookupField]))
	}
	m.mu.Unlock()
	found := map[string][]marketo.Lead{}
	if len(ask) > 0 {
		leads, err := m.GetLeadsByFilter(ctx, req.LookupField, ask, slices.Sorted(maps.Keys(fieldSet)))
		if err != nil {
			return nil, err
		}
		for _, l := range leads {
			k := lookupKey(req.LookupField, l[req.LookupField])
			found[k] = append(found[k], l)
		}
	}
	return found, nil
}

// syncLead decides one input and applies it to the plan's view of Marketo.
// mu held.
func (m *Marketo) syncLead(req marketo.SyncLeadsRequest, in marketo.Lead, found map[string][]marketo.Lead, seen map[string]bool) (marketo.SyncResult, LeadWrite) {
	key := lookupKey(req.LookupField, in[req.LookupField])
	w := LeadWrite{Action: req.Action, Email: scalar(in[req.LookupField])}
	skip := func(code, msg string) (marketo.SyncResult, LeadWrite) {
		w.Result, w.Code, w.Reason = marketo.StatusSkipped, code, msg
		return marketo.SyncResult{Status: marketo.StatusSkipped, Reasons: []marketo.Reason{{Code: code, Message: msg}}}, w
	}
	if key == "" {
		return skip("1003", "Value for lookup field '"+req.LookupField+"' not found")
	}
	if seen[key] {
		return skip("1036", "Duplicate lead in input")
	}
	seen[key] = true
	matches := found[key]
	if req.LookupField == "email" && len(matches) == 0 {
		for _, id := range m.byEmail[key] {
			matches = append(matches, m.newLeads[id-NewLeadBase-1])
		}
	}
	switch {
	case req.Action == marketo.ActionCreateOnly && len(matches) > 0:
		return skip("1005", "Lead already exists")
	case req.Action == marketo.ActionUpdateOnly && len(matches) == 0:
		return skip("1004", "Lead not found")
	case len(matches) > 1:
		return skip("1007", "Multiple lead match lookup criteria")
	case len(matches) == 1:
		id := matches[0].ID()
		w.Result, w.Lead = marketo.StatusUpdated, LeadRefOf(id)
		w.Changes = changes(matches[0], in, "id", req.LookupField)
		m.apply(id, in)
		return marketo.SyncResult{ID: id, Status: marketo.StatusUpdated}, w
	}
	id := NewLeadBase + len(m.newLeads) + 1
	lead := maps.Clone(in)
	lead["id"] = id
	m.newLeads = append(m.newLeads, lead)
	if req.LookupField == "email" {
		m.byEmail[key] = append(m.byEmail[key], id)
	}
	w.Result, w.Lead = marketo.StatusCreated, LeadRefOf(id)
	w.Changes = changes(nil, in, "id")
	return marketo.SyncResult{ID: id, Status: marketo.StatusCreated}, w
}

// apply records the fields an update sets on lead id. mu held.
func (m *Marketo) apply(id int, in marketo.Lead) {
	if n, ok := NewLeadNumber(id); ok {
		maps.Copy(m.newLeads[n-1], in)
		m.newLeads[n-1]["id"] = id
		return
	}
	over := m.updated[id]
	if over == nil {
		over = marketo.Lead{}
		m.updated[id] = over
	}
	for k, v := range in {
		if k != "id" {
			over[k] = v
		}
	}
}

// itoa is strconv.Itoa, for values sent as filter values.
func itoa(id int) string { return strconv.Itoa(id) }
