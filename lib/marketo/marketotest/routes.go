package marketotest

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

var (
	reLead     = regexp.MustCompile(`^/rest/v1/lead/(\d+)\.json$`)
	reList     = regexp.MustCompile(`^/rest/v1/lists/(\d+)\.json$`)
	reListLead = regexp.MustCompile(`^/rest/v1/lists?/(\d+)/leads\.json$`)
	reTrigger  = regexp.MustCompile(`^/rest/v1/campaigns/(\d+)/trigger\.json$`)
	reCODesc   = regexp.MustCompile(`^/rest/v1/customobjects/([A-Za-z0-9_]+)/describe\.json$`)
	reCODelete = regexp.MustCompile(`^/rest/v1/customobjects/([A-Za-z0-9_]+)/delete\.json$`)
	reCO       = regexp.MustCompile(`^/rest/v1/customobjects/([A-Za-z0-9_]+)\.json$`)
	reToken    = regexp.MustCompile(`^\{\{my\.[^{}]+\}\}$`)
)

func (s *Server) route(ctx context.Context, r *request) answer {
	p := r.path
	want := func(m string) bool { return r.method == m }
	var m []string
	switch {
	case p == "/rest/v1/leads.json" && want(http.MethodGet):
		return s.getLeadsByFilter(r)
	case p == "/rest/v1/leads.json" && want(http.MethodPost):
		return s.syncLeads(ctx, r)
	case p == "/rest/v1/leads.json":
		return fail("605", "Request method '%s' not supported", r.method)
	case p == "/rest/v1/leads/describe.json" || p == "/rest/v1/leads/describe2.json":
		if !want(http.MethodGet) {
			return fail("605", "Request method '%s' not supported", r.method)
		}
		return s.describeLeads()
	}
	if m = reLead.FindStringSubmatch(p); m != nil && want(http.MethodGet) {
		return s.getLead(atoi(m[1]), r)
	}
	if m = reList.FindStringSubmatch(p); m != nil && want(http.MethodGet) {
		return s.getList(atoi(m[1]))
	}
	if m = reListLead.FindStringSubmatch(p); m != nil && want(http.MethodGet) {
		return s.listLeads(atoi(m[1]), r)
	}
	if m = reTrigger.FindStringSubmatch(p); m != nil {
		if !want(http.MethodPost) {
			return fail("605", "Request method '%s' not supported", r.method)
		}
		return s.requestCampaign(atoi(m[1]), r)
	}
	if m = reCODesc.FindStringSubmatch(p); m != nil && want(http.MethodGet) {
		return s.describeCO(m[1])
	}
	if m = reCODelete.FindStringSubmatch(p); m != nil && want(http.MethodPost) {
		return s.deleteCO(m[1], r)
	}
	if m = reCO.FindStringSubmatch(p); m != nil {
		if want(http.MethodPost) {
			return s.syncCO(m[1], r)
		}
		return s.queryCO(m[1], r)
	}
	return fail("610", "Requested resource not found")
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

var defaultLeadFields = []string{"id", "email", "firstName", "lastName", "createdAt", "updatedAt"}

func project(l marketo.Lead, fields []string) marketo.Lead {
	if len(fields) == 0 {
		fields = defaultLeadFields
	}
	out := marketo.Lead{"id": l["id"]}
	for _, f := range fields {
		out[f] = l[f] // absent fields come back as null, as in Marketo
	}
	return out
}

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

// MaxPage is the per-call cap on records, values and page size.
const MaxPage = 300

func (s *Server) describeLeads() answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, len(s.st.fields))
	for i, f := range s.st.fields {
		out[i] = map[string]any{
			"id": i + 1, "displayName": f.Name, "dataType": f.DataType, "length": f.MaxLength,
			"rest": map[string]any{"name": f.Name, "readOnly": f.ReadOnly},
			"soap": map[string]any{"name": f.Name, "readOnly": f.ReadOnly},
		}
	}
	return ok(out)
}

func (s *Server) getLead(id int, r *request) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.leads[id]
	if l == nil {
		return ok([]any{})
	}
	return ok([]marketo.Lead{project(l, splitCSV(r.params.Get("fields")))})
}

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
	var ids []int
	seen := map[int]bool{}
	for _, v := range values {
		for _, id := range s.leadsByKey(ft, v) {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	if len(ids) > 1000 {
		return fail("1003", "Too many results match the filter")
	}
	scope := "filter|" + ft + "|" + strings.Join(values, ",")
	off, valid := parsePageToken(r.params.Get("nextPageToken"), scope)
	if !valid {
		return fail("1003", "Invalid nextPageToken")
	}
	fields := splitCSV(r.params.Get("fields"))
	var out []marketo.Lead
	for _, id := range ids[min(off, len(ids)):min(off+bs, len(ids))] {
		out = append(out, project(s.st.leads[id], fields))
	}
	a = ok(out)
	if off+bs < len(ids) {
		a.next = pageToken(scope, off+bs)
	}
	return a
}

type syncLeadsBody struct {
	Action      string         `json:"action"`
	LookupField string         `json:"lookupField"`
	Input       []marketo.Lead `json:"input"`
}

type leadResult struct {
	ID      int              `json:"id,omitempty"`
	Status  string           `json:"status"`
	Reasons []marketo.Reason `json:"reasons,omitempty"`
}

func skip(code, format string, args ...any) leadResult {
	return leadResult{Status: marketo.StatusSkipped, Reasons: []marketo.Reason{{Code: code, Message: fmt.Sprintf(format, args...)}}}
}

func (s *Server) syncLeads(ctx context.Context, r *request) answer {
	var b syncLeadsBody
	if err := decodeJSON(r.body, &b); err != nil {
		return fail("609", "Invalid JSON: %v", err)
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
		return fail("1003", "Invalid action '%s'", b.Action)
	}
	if len(b.Input) == 0 {
		return fail("1003", "input is required")
	}
	if len(b.Input) > MaxPage {
		return fail(s.opts.capCode, "input has %d records, at most %d", len(b.Input), MaxPage)
	}
	res := make([]leadResult, len(b.Input))
	creates := map[int]bool{}
	s.mu.Lock()
	seenKey := map[string]bool{}
	for i, in := range b.Input {
		for k, v := range in {
			in[k] = normalize(v)
		}
		key := scalar(in[b.LookupField])
		if b.LookupField == "email" && !s.opts.caseSensitiveEmail {
			key = strings.ToLower(key)
		}
		switch {
		case key == "":
			res[i] = skip("1003", "Value for lookup field '%s' not found", b.LookupField)
			continue
		case b.LookupField == "id" && b.Action != marketo.ActionUpdateOnly:
			res[i] = skip("1003", "Lookup field 'id' is allowed only with updateOnly")
			continue
		case b.Action == marketo.ActionCreateOnly && in["id"] != nil:
			res[i] = skip("1003", "Field 'id' not allowed with createOnly")
			continue
		case seenKey[key]:
			res[i] = skip("1036", "Duplicate lead in input")
			continue
		}
		seenKey[key] = true
		if bad := s.unknownLeadField(in); bad != "" {
			res[i] = skip("1006", "Field '%s' not found", bad)
			continue
		}
		var matches []int
		if b.LookupField == "id" {
			if s.st.leads[in.ID()] != nil {
				matches = []int{in.ID()}
			}
		} else {
			matches = s.leadsByKey(b.LookupField, scalar(in[b.LookupField]))
		}
		switch {
		case b.Action == "createDuplicate":
			creates[i] = true
		case b.Action == marketo.ActionCreateOnly && len(matches) > 0:
			res[i] = skip("1005", "Lead already exists")
		case b.Action == marketo.ActionUpdateOnly && len(matches) == 0:
			res[i] = skip("1004", "Lead not found")
		case len(matches) > 1:
			res[i] = skip("1007", "Multiple lead match lookup criteria")
		case len(matches) == 1:
			s.updateLead(matches[0], in)
			res[i] = leadResult{ID: matches[0], Status: marketo.StatusUpdated}
		default:
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

func (s *Server) unknownLeadField(in marketo.Lead) string {
	for _, k := range slices.Sorted(maps.Keys(in)) {
		if !s.st.hasField(k) {
			return k
		}
	}
	return ""
}

func (s *Server) updateLead(id int, in marketo.Lead) {
	l := s.st.leads[id]
	if e, has := in["email"]; has {
		s.index(id, l["email"], e)
	}
	for k, v := range in {
		if k != "id" && k != "createdAt" {
			l[k] = v
		}
	}
	l["updatedAt"] = s.opts.clock.Now().UTC().Format(time.RFC3339)
}

func (s *Server) createLead(in marketo.Lead) int {
	s.st.nextID++
	id := s.st.nextID
	l := maps.Clone(in)
	ts := s.opts.clock.Now().UTC().Format(time.RFC3339)
	l["id"], l["createdAt"], l["updatedAt"] = id, ts, ts
	s.st.leads[id] = l
	s.index(id, nil, l["email"])
	return id
}

func (s *Server) getList(id int) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.lists[id]
	if l == nil {
		return fail("1013", "Static list not found")
	}
	return ok([]map[string]any{{"id": id, "name": l.name, "description": "", "programName": "", "workspaceName": "Default"}})
}

func (s *Server) listLeads(id int, r *request) answer {
	bs, a, done := s.batchSize(r)
	if done {
		return a
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.lists[id]
	if l == nil {
		return fail("1013", "Static list not found")
	}
	scope := fmt.Sprintf("list|%d", id)
	off, valid := parsePageToken(r.params.Get("nextPageToken"), scope)
	if !valid {
		return fail("1003", "Invalid nextPageToken")
	}
	fields := splitCSV(r.params.Get("fields"))
	var out []marketo.Lead
	end := min(off+bs, len(l.members))
	for _, lid := range l.members[min(off, len(l.members)):end] {
		if lead := s.st.leads[lid]; lead != nil {
			out = append(out, project(lead, fields))
		}
	}
	a = ok(out)
	if end < len(l.members) {
		a.next = pageToken(scope, end)
	}
	return a
}

func (s *Server) requestCampaign(id int, r *request) answer {
	var b struct {
		Input struct {
			Leads []struct {
				ID int `json:"id"`
			} `json:"leads"`
			Tokens []marketo.Token `json:"tokens"`
		} `json:"input"`
	}
	if err := decodeJSON(r.body, &b); err != nil {
		return fail("609", "Invalid JSON: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, found := s.st.campaigns[id]
	switch {
	case !found:
		return fail("1013", "Campaign not found")
	case c.Type != "trigger":
		return fail("1003", "Trigger campaign '%d' is a batch campaign", id)
	case !c.Active || !c.Requestable:
		return fail("1003", "Campaign '%d' is not active or not requestable", id)
	case len(b.Input.Leads) == 0:
		return fail("1003", "input.leads is required")
	case len(b.Input.Leads) > 100:
		return fail(s.opts.capCode, "%d leads, at most 100", len(b.Input.Leads))
	case len(b.Input.Tokens) > 100:
		return fail(s.opts.capCode, "%d tokens, at most 100", len(b.Input.Tokens))
	}
	for _, t := range b.Input.Tokens {
		if !reToken.MatchString(t.Name) {
			return fail("1003", "Invalid token name '%s'", t.Name)
		}
	}
	req := CampaignRequest{CampaignID: id, Tokens: slices.Clone(b.Input.Tokens)}
	for _, l := range b.Input.Leads {
		if s.st.leads[l.ID] != nil {
			req.LeadIDs = append(req.LeadIDs, l.ID)
		}
	}
	s.st.campaignReqs = append(s.st.campaignReqs, req)
	return ok([]map[string]int{{"id": id}})
}
