package jobs

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// fakeMarketo keeps leads in memory and answers Sync Leads the way Marketo
// does (docs/marketo.md §6.4), including 1004/1005/1007 and 1036 for a repeated
// key in one input.
type fakeMarketo struct {
	mu        sync.Mutex
	leads     map[int]marketo.Lead
	next      int
	fields    []marketo.LeadField
	syncs     []marketo.SyncLeadsRequest
	lookups   [][]string
	idChecks  [][]string // Get Leads by filterType=id calls
	campaigns []fakeCampaign
	calls     int
	failSync  error // returned by the next SyncLeads
}

type fakeCampaign struct {
	ID     int
	Leads  []int
	Tokens []marketo.Token
}

func newFakeMarketo() *fakeMarketo {
	return &fakeMarketo{leads: map[int]marketo.Lead{}, next: 5000, fields: []marketo.LeadField{
		{Name: "id", ReadOnly: true}, {Name: "email"}, {Name: "firstName"}, {Name: "lastName"}, {Name: "company"}, {Name: "title"},
	}}
}

func (f *fakeMarketo) add(l marketo.Lead) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := l.ID()
	if id == 0 {
		f.next++
		id = f.next
	}
	c := maps.Clone(l)
	c["id"] = id
	f.leads[id] = c
	return id
}

func (f *fakeMarketo) byEmail(email string) []int {
	var ids []int
	for id, l := range f.leads {
		if strings.EqualFold(l.Email(), email) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (f *fakeMarketo) DescribeLeads(context.Context) ([]marketo.LeadField, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return slices.Clone(f.fields), nil
}

func (f *fakeMarketo) GetLeadsByFilter(_ context.Context, filterType string, values []string, _ []string) ([]marketo.Lead, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if filterType != "email" && filterType != "id" {
		return nil, fmt.Errorf("fake: filter %q", filterType)
	}
	var out []marketo.Lead
	for chunk := range slices.Chunk(values, 300) {
		f.calls++
		if filterType == "id" {
			f.idChecks = append(f.idChecks, slices.Clone(chunk))
			for _, v := range chunk {
				if id, err := strconv.Atoi(v); err == nil && f.leads[id] != nil {
					out = append(out, marketo.Lead{"id": id})
				}
			}
			continue
		}
		f.lookups = append(f.lookups, slices.Clone(chunk))
		for _, v := range chunk {
			for _, id := range f.byEmail(v) {
				out = append(out, marketo.Lead{"id": id, "email": f.leads[id].Email()})
			}
		}
	}
	return out, nil
}

// SyncLeads chunks by 300 as the real client does; each chunk is one call.
func (f *fakeMarketo) SyncLeads(_ context.Context, req marketo.SyncLeadsRequest) ([]marketo.SyncResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failSync != nil {
		err := f.failSync
		f.failSync = nil
		return nil, err
	}
	var res []marketo.SyncResult
	for chunk := range slices.Chunk(req.Input, 300) {
		f.calls++
		f.syncs = append(f.syncs, marketo.SyncLeadsRequest{Action: req.Action, LookupField: req.LookupField, Input: chunk})
		res = append(res, f.syncChunk(req.Action, chunk)...)
	}
	return res, nil
}

func (f *fakeMarketo) syncChunk(action string, input []marketo.Lead) []marketo.SyncResult {
	seen := map[string]bool{}
	res := make([]marketo.SyncResult, len(input))
	skip := func(code string) marketo.SyncResult {
		return marketo.SyncResult{Status: marketo.StatusSkipped, Reasons: []marketo.Reason{{Code: code, Message: "fake " + code}}}
	}
	for i, in := range input {
		k := strings.ToLower(in.Email())
		if seen[k] {
			res[i] = skip("1036")
			continue
		}
		seen[k] = true
		ids := f.byEmail(in.Email())
		switch {
		case len(ids) > 1 && action != marketo.ActionCreateOnly:
			res[i] = skip("1007")
		case len(ids) >= 1 && action == marketo.ActionCreateOnly:
			res[i] = skip("1005")
		case len(ids) == 1:
			maps.Copy(f.leads[ids[0]], in)
			res[i] = marketo.SyncResult{ID: ids[0], Status: marketo.StatusUpdated}
		case action == marketo.ActionUpdateOnly:
			res[i] = skip("1004")
		default:
			f.next++
			l := maps.Clone(in)
			l["id"] = f.next
			f.leads[f.next] = l
			res[i] = marketo.SyncResult{ID: f.next, Status: marketo.StatusCreated}
		}
	}
	return res
}

func (f *fakeMarketo) RequestCampaign(_ context.Context, id int, leads []int, tokens []marketo.Token) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for chunk := range slices.Chunk(leads, 100) {
		f.calls++
		n++
		f.campaigns = append(f.campaigns, fakeCampaign{id, slices.Clone(chunk), slices.Clone(tokens)})
	}
	return n, nil
}

func (f *fakeMarketo) GetLeadByID(context.Context, int, []string) (marketo.Lead, bool, error) {
	return nil, false, errors.New("fake: GetLeadByID not expected")
}
func (f *fakeMarketo) GetList(context.Context, int) (marketo.List, error) {
	return marketo.List{}, errors.New("fake: not expected")
}
func (f *fakeMarketo) ListLeadsPage(context.Context, int, []string, string, int) (marketo.ListPage, error) {
	return marketo.ListPage{}, errors.New("fake: not expected")
}
func (f *fakeMarketo) DescribeCustomObject(context.Context, string) (marketo.CustomObjectType, error) {
	return marketo.CustomObjectType{}, errors.New("fake: not expected")
}
func (f *fakeMarketo) SyncCustomObjects(context.Context, string, marketo.SyncCustomObjectsRequest) ([]marketo.CustomObjectResult, error) {
	return nil, errors.New("fake: not expected")
}
func (f *fakeMarketo) Stats() marketo.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return marketo.Stats{Calls: f.calls}
}

// fakeCertain serves registrations from memory and records profile writes.
type fakeCertain struct {
	mu      sync.Mutex
	regs    []certain.Registration
	updates map[string]map[string]any // pin -> merged changes
	writes  int
	reads   int
	pageErr error // returned once instead of the next page
}

func newFakeCertain() *fakeCertain { return &fakeCertain{updates: map[string]map[string]any{}} }

func (c *fakeCertain) Fields() certain.FieldNames { return certain.Defaults() }

func (c *fakeCertain) RegistrationPages(_ context.Context, _, _ string, q certain.RegistrationQuery) iter.Seq2[certain.Page[certain.Registration], error] {
	return func(yield func(certain.Page[certain.Registration], error) bool) {
		c.mu.Lock()
		var all []certain.Registration
		for _, r := range c.regs {
			if (q.ModifiedAfter.IsZero() || r.DateModified.After(q.ModifiedAfter)) && (!q.ActiveOnly || r.Active) {
				all = append(all, r)
			}
		}
		c.mu.Unlock()
		slices.SortStableFunc(all, func(a, b certain.Registration) int { return a.DateModified.Compare(b.DateModified) })
		const size = 200
		for start := q.StartIndex; ; start += size {
			c.mu.Lock()
			c.reads++
			perr := c.pageErr
			c.pageErr = nil
			c.mu.Unlock()
			if perr != nil {
				yield(certain.Page[certain.Registration]{}, perr)
				return
			}
			end := min(start+size, len(all))
			if start >= end {
				return
			}
			p := certain.Page[certain.Registration]{Items: slices.Clone(all[start:end]), StartIndex: start, NextIndex: end, Total: len(all), Last: end == len(all)}
			if !yield(p, nil) || p.Last {
				return
			}
		}
	}
}

func (c *fakeCertain) GetRegistration(_ context.Context, _, _, code string) (certain.Registration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	for _, r := range c.regs {
		if r.Code == code {
			return r, nil
		}
	}
	return certain.Registration{}, errors.New("fake: no such registration")
}

func (c *fakeCertain) UpdateProfile(_ context.Context, _, pin string, changed map[string]any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	if c.updates[pin] == nil {
		c.updates[pin] = map[string]any{}
	}
	maps.Copy(c.updates[pin], changed)
	for i := range c.regs {
		if c.regs[i].Profile.PIN == pin {
			p := &c.regs[i].Profile
			p.Fields = maps.Clone(p.Fields)
			maps.Copy(p.Fields, changed)
			p.ExternalID, _ = p.Fields["externalKey"].(string)
			p.Source, _ = p.Fields["sourceOfProfile"].(string)
		}
	}
	return nil
}

func (c *fakeCertain) Stats() certain.Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return certain.Stats{Calls: c.reads + c.writes}
}

func (c *fakeCertain) GetEvent(context.Context, string, string) (certain.Event, error) {
	return certain.Event{}, errors.New("fake: not expected")
}
func (c *fakeCertain) CheckAccount(context.Context, string) error {
	return errors.New("fake: not expected")
}
func (c *fakeCertain) CreateRegistration(context.Context, string, string, certain.NewRegistration) (certain.Registration, error) {
	return certain.Registration{}, errors.New("fake: not expected")
}
func (c *fakeCertain) FindProfiles(context.Context, string, string, string) ([]certain.Profile, error) {
	return nil, errors.New("fake: not expected")
}
func (c *fakeCertain) CountProfiles(context.Context, string) (certain.ProfileCollection, error) {
	return certain.ProfileCollection{}, errors.New("fake: not expected")
}
func (c *fakeCertain) ProfilePages(context.Context, string) iter.Seq2[certain.Page[certain.Profile], error] {
	return nil
}
func (c *fakeCertain) GetProfile(context.Context, string, string) (certain.Profile, error) {
	return certain.Profile{}, errors.New("fake: not expected")
}
func (c *fakeCertain) CreateProfile(context.Context, string, map[string]any) (certain.Profile, error) {
	return certain.Profile{}, errors.New("fake: not expected")
}
func (c *fakeCertain) AgendaItemPages(context.Context, string, string) iter.Seq2[certain.Page[certain.AgendaItem], error] {
	return nil
}
func (c *fakeCertain) RegistrationAgendaPages(context.Context, string, string, int) iter.Seq2[certain.Page[certain.AgendaLine], error] {
	return nil
}
func (c *fakeCertain) SessionPages(context.Context, string, string) iter.Seq2[certain.Page[certain.Session], error] {
	return nil
}
func (c *fakeCertain) SessionRegistrations(context.Context, string, string, int) ([]certain.SessionLine, error) {
	return nil, errors.New("fake: not expected")
}
func (c *fakeCertain) AppointmentPages(context.Context, string, string, int) iter.Seq2[certain.Page[certain.Appointment], error] {
	return nil
}

// reg builds a registration whose profile carries the given fields.
func reg(code, pin, email, ext, src, status string, extra map[string]any) certain.Registration {
	f := map[string]any{"pin": pin, "email": email}
	if ext != "" {
		f["externalKey"] = ext
	}
	if src != "" {
		f["sourceOfProfile"] = src
	}
	maps.Copy(f, extra)
	return certain.Registration{Code: code, Status: status, Active: true,
		Fields:  map[string]any{"registrationCode": code, "registrationStatusLabel": status},
		Profile: certain.Profile{PIN: pin, Email: email, ExternalID: ext, Source: src, Fields: f}}
}

var _ Marketo = (*fakeMarketo)(nil)
var _ Certain = (*fakeCertain)(nil)
