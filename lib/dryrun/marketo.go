package dryrun

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// MarketoAPI is the Marketo client a twin wraps: the calls the jobs make
// (jobs.Marketo), all of which *marketo.Client has.
type MarketoAPI interface {
	DescribeLeads(ctx context.Context) ([]marketo.LeadField, error)
	GetLeadsByFilter(ctx context.Context, filterType string, values []string, fields []string) ([]marketo.Lead, error)
	GetLeadByID(ctx context.Context, id int, fields []string) (marketo.Lead, bool, error)
	SyncLeads(ctx context.Context, req marketo.SyncLeadsRequest) ([]marketo.SyncResult, error)
	GetList(ctx context.Context, listID int) (marketo.List, error)
	ListLeadsPage(ctx context.Context, listID int, fields []string, pageToken string, batchSize int) (marketo.ListPage, error)
	RequestCampaign(ctx context.Context, campaignID int, leadIDs []int, tokens []marketo.Token) (int, error)
	DescribeCustomObject(ctx context.Context, apiName string) (marketo.CustomObjectType, error)
	SyncCustomObjects(ctx context.Context, apiName string, req marketo.SyncCustomObjectsRequest) ([]marketo.CustomObjectResult, error)
	Stats() marketo.Stats
}

// customObjectQuerier is the custom object read the twin uses to tell a
// create from an update (*marketo.Client has it).
type customObjectQuerier interface {
	QueryCustomObjects(ctx context.Context, apiName, filterType string, values []string, fields []string) ([]marketo.Record, error)
}

// NewLeadBase is added to a planned lead's number to make the placeholder
// id the rules see: above any id a Marketo instance hands out in practice,
// below the 32-bit limit the API's ids keep to.
const NewLeadBase = 2_000_000_000

// NewLeadNumber returns the plan's number of a placeholder lead id, and
// whether id is one.
func NewLeadNumber(id int) (int, bool) {
	if id > NewLeadBase {
		return id - NewLeadBase, true
	}
	return 0, false
}

// LeadRefOf names a lead id the rules used: a placeholder is a new lead.
func LeadRefOf(id int) LeadRef {
	if n, ok := NewLeadNumber(id); ok {
		return LeadRef{New: n}
	}
	return LeadRef{ID: id}
}

// Marketo is the Marketo twin: reads go to the real client (and count
// against the budget like any call), writes are recorded in the log and
// answered from what the reads show. Safe for concurrent use.
type Marketo struct {
	inner MarketoAPI
	log   *Log

	mu       sync.Mutex
	newLeads []marketo.Lead       // leads the plan created, by number-1
	byEmail  map[string][]int     // email key -> planned lead ids
	updated  map[int]marketo.Lead // existing lead id -> fields the plan set
	absent   map[string]bool      // email keys Marketo has no lead for
	types    map[string]marketo.CustomObjectType
	coNew    map[string]map[string]marketo.Record // object -> dedupe key -> record the plan created
}

// NewMarketo returns a twin of inner recording into log.
func NewMarketo(inner MarketoAPI, log *Log) *Marketo {
	return &Marketo{inner: inner, log: log, byEmail: map[string][]int{}, updated: map[int]marketo.Lead{},
		absent: map[string]bool{}, types: map[string]marketo.CustomObjectType{}, coNew: map[string]map[string]marketo.Record{}}
}

// DescribeLeads reads through.
func (m *Marketo) DescribeLeads(ctx context.Context) ([]marketo.LeadField, error) {
	return m.inner.DescribeLeads(ctx)
}

// GetList reads through.
func (m *Marketo) GetList(ctx context.Context, listID int) (marketo.List, error) {
	return m.inner.GetList(ctx, listID)
}

// ListLeadsPage reads through.
func (m *Marketo) ListLeadsPage(ctx context.Context, listID int, fields []string, pageToken string, batchSize int) (marketo.ListPage, error) {
	return m.inner.ListLeadsPage(ctx, listID, fields, pageToken, batchSize)
}

// Stats are the real client's: the plan's reads.
func (m *Marketo) Stats() marketo.Stats { return m.inner.Stats() }

// GetLeadsByFilter reads through, and answers as Marketo would after the
// plan's writes: leads the plan created are found by id and e-mail, and
// fields the plan set read as set. Placeholder ids are not sent.
func (m *Marketo) GetLeadsByFilter(ctx context.Context, filterType string, values []string, fields []string) ([]marketo.Lead, error) {
	send := values
	if filterType == "id" {
		send = slices.DeleteFunc(slices.Clone(values), func(v string) bool {
			id, _ := strconv.Atoi(v)
			_, planned := NewLeadNumber(id)
			return planned
		})
	}
	var got []marketo.Lead
	if len(send) > 0 {
		var err error
		if got, err = m.inner.GetLeadsByFilter(ctx, filterType, send, fields); err != nil {
			return nil, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]marketo.Lead, 0, len(got))
	seen := map[string]bool{}
	for _, l := range got {
		out = append(out, project(merge(l, m.updated[l.ID()]), fields))
		seen[emailKey(l.Email())] = true
	}
	for _, v := range values {
		for _, id := range m.plannedMatching(filterType, v) {
			out = append(out, project(m.newLeads[id-NewLeadBase-1], fields))
		}
		if filterType == "email" && (len(fields) == 0 || slices.Contains(fields, "email")) && !seen[emailKey(v)] {
			m.absent[emailKey(v)] = true
		}
	}
	return out, nil
}

// plannedMatching returns the planned leads a filter value finds. mu held.
func (m *Marketo) plannedMatching(filterType, v string) []int {
	switch filterType {
	case "id":
		id, _ := strconv.Atoi(v)
		if n, ok := NewLeadNumber(id); ok && n <= len(m.newLeads) {
			return []int{id}
		}
	case "email":
		return m.byEmail[emailKey(v)]
	}
	return nil
}

// GetLeadByID reads through, or answers for a lead the plan created.
func (m *Marketo) GetLeadByID(ctx context.Context, id int, fields []string) (marketo.Lead, bool, error) {
	if n, ok := NewLeadNumber(id); ok {
		m.mu.Lock()
		defer m.mu.Unlock()
		if n > len(m.newLeads) {
			return nil, false, nil
		}
		return project(m.newLeads[n-1], fields), true, nil
	}
	l, ok, err := m.inner.GetLeadByID(ctx, id, fields)
	if err != nil || !ok {
		return l, ok, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return project(merge(l, m.updated[id]), fields), true, nil
}

// merge returns l with the fields of over set (a copy when over has any).
func merge(l, over marketo.Lead) marketo.Lead {
	if len(over) == 0 {
		return l
	}
	out := maps.Clone(l)
	if out == nil {
		out = marketo.Lead{}
	}
	maps.Copy(out, over)
	return out
}

// project keeps the requested fields (all when none is named; id always).
func project(l marketo.Lead, fields []string) marketo.Lead {
	out := marketo.Lead{}
	for k, v := range l {
		if len(fields) == 0 || k == "id" || slices.Contains(fields, k) {
			out[k] = v
		}
	}
	return out
}

// calls is how many requests n items take at per items a call.
func calls(n, per int) int { return (n + per - 1) / per }

// RequestCampaign checks the request as the client does, then records it.
func (m *Marketo) RequestCampaign(_ context.Context, campaignID int, leadIDs []int, tokens []marketo.Token) (int, error) {
	if err := marketo.CheckCampaignRequest(campaignID, leadIDs, tokens); err != nil {
		return 0, err
	}
	req := CampaignRequest{Campaign: campaignID, Tokens: slices.Clone(tokens)}
	for _, id := range leadIDs {
		req.Leads = append(req.Leads, LeadRefOf(id))
	}
	n := calls(len(leadIDs), marketo.MaxCampaignLeads)
	m.log.add(func(w *Writes) {
		w.Campaigns = append(w.Campaigns, req)
		w.Calls.RequestCampaign += n
	})
	return n, nil
}

// DescribeCustomObject reads through and remembers the object for
// SyncCustomObjects.
func (m *Marketo) DescribeCustomObject(ctx context.Context, apiName string) (marketo.CustomObjectType, error) {
	t, err := m.inner.DescribeCustomObject(ctx, apiName)
	if err == nil {
		m.mu.Lock()
		m.types[apiName] = t
		m.mu.Unlock()
	}
	return t, err
}

var errNoInput = fmt.Errorf("dry run: a write with no input")
