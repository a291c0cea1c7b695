package marketo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Per-call caps documented by Marketo (MARKETO.md §2).
const (
	MaxBatch          = 300 // records per write, values per filter, rows per page
	MaxCampaignLeads  = 100
	MaxCampaignTokens = 100
)

func chunks[T any](s []T, n int) [][]T {
	var out [][]T
	for len(s) > n {
		out = append(out, s[:n:n])
		s = s[n:]
	}
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}

func decodeResult(env *envelope, into any, tmpl string) error {
	if len(env.Result) == 0 || string(env.Result) == "null" {
		return nil
	}
	if err := json.Unmarshal(env.Result, into); err != nil {
		return fmt.Errorf("marketo %s: decode result: %w", tmpl, err)
	}
	return nil
}

func decodeLeads(raw json.RawMessage, tmpl string) ([]Lead, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var out []Lead
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("marketo %s: decode leads: %w", tmpl, err)
	}
	for _, l := range out {
		if f, ok := l["id"].(float64); ok {
			l["id"] = int(f)
		}
	}
	return out, nil
}

func checkValues(what string, values []string) error {
	for i, v := range values {
		if v == "" {
			return fmt.Errorf("marketo: %s value %d is empty", what, i)
		}
		if strings.Contains(v, ",") {
			return fmt.Errorf("marketo: %s value %d (%q) contains a comma", what, i, v)
		}
	}
	return nil
}

// DescribeLeads returns the lead field schema (REST names).
func (c *Client) DescribeLeads(ctx context.Context) ([]LeadField, error) {
	k := &call{method: http.MethodGet, path: "/rest/v1/leads/describe.json", tmpl: "/rest/v1/leads/describe.json"}
	env, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	var raw []struct {
		DataType string `json:"dataType"`
		Length   int    `json:"length"`
		Rest     struct {
			Name     string `json:"name"`
			ReadOnly bool   `json:"readOnly"`
		} `json:"rest"`
	}
	if err := decodeResult(env, &raw, k.tmpl); err != nil {
		return nil, err
	}
	out := make([]LeadField, 0, len(raw))
	for _, f := range raw {
		if f.Rest.Name == "" {
			continue
		}
		out = append(out, LeadField{Name: f.Rest.Name, DataType: f.DataType, ReadOnly: f.Rest.ReadOnly, MaxLength: f.Length})
	}
	return out, nil
}

// GetLeadsByFilter returns every lead whose filterType field matches one of
// values. Values are sent 300 per call as POST ?_method=GET, and pages are
// followed. Duplicates (several leads per e-mail) all come back.
func (c *Client) GetLeadsByFilter(ctx context.Context, filterType string, values []string, fields []string) ([]Lead, error) {
	if filterType == "" {
		return nil, errors.New("marketo: GetLeadsByFilter: empty filterType")
	}
	if err := checkValues("filter", values); err != nil {
		return nil, err
	}
	var out []Lead
	for _, chunk := range chunks(values, MaxBatch) {
		q := url.Values{"filterType": {filterType}, "filterValues": {strings.Join(chunk, ",")}, "batchSize": {strconv.Itoa(MaxBatch)}}
		if len(fields) > 0 {
			q.Set("fields", strings.Join(fields, ","))
		}
		for page := 1; ; page++ {
			k := &call{method: http.MethodGet, path: "/rest/v1/leads.json", tmpl: "/rest/v1/leads.json#get", query: q, formGET: true}
			env, err := c.do(ctx, k)
			if err != nil {
				return nil, err
			}
			leads, err := decodeLeads(env.Result, k.tmpl)
			if err != nil {
				return nil, err
			}
			out = append(out, leads...)
			more, err := nextPage(k.tmpl, q, env.NextPageToken, len(leads), page)
			if err != nil {
				return nil, err
			}
			if !more {
				break
			}
		}
	}
	return out, nil
}

// GetLeadByID returns the lead, or found=false when it does not exist
// (deleted or merged).
func (c *Client) GetLeadByID(ctx context.Context, id int, fields []string) (Lead, bool, error) {
	if id <= 0 {
		return nil, false, fmt.Errorf("marketo: GetLeadByID: invalid lead id %d", id)
	}
	q := url.Values{}
	if len(fields) > 0 {
		q.Set("fields", strings.Join(fields, ","))
	}
	k := &call{method: http.MethodGet, path: fmt.Sprintf("/rest/v1/lead/%d.json", id), tmpl: "/rest/v1/lead/{id}.json", query: q}
	env, err := c.do(ctx, k)
	if err != nil {
		return nil, false, err
	}
	leads, err := decodeLeads(env.Result, k.tmpl)
	if err != nil || len(leads) == 0 {
		return nil, false, err
	}
	return leads[0], true, nil
}

var validLeadActions = map[string]bool{ActionCreateOrUpdate: true, ActionCreateOnly: true, ActionUpdateOnly: true}

// SyncLeads creates and/or updates leads, 300 per call (halving a batch that
// Marketo refuses with HTTP 413). The result has one entry per input record,
// in input order; record-level reasons never become an error.
func (c *Client) SyncLeads(ctx context.Context, r SyncLeadsRequest) ([]SyncResult, error) {
	if r.Action == "" {
		r.Action = ActionCreateOrUpdate
	}
	if !validLeadActions[r.Action] {
		return nil, fmt.Errorf("marketo: SyncLeads: unknown action %q", r.Action)
	}
	if r.LookupField == "" {
		r.LookupField = "email"
	}
	if r.LookupField == "id" && r.Action != ActionUpdateOnly {
		return nil, fmt.Errorf("marketo: SyncLeads: lookupField id needs action updateOnly, not %q", r.Action)
	}
	out := make([]SyncResult, 0, len(r.Input))
	for _, chunk := range chunks(r.Input, MaxBatch) {
		res, err := c.syncLeadsChunk(ctx, r, chunk)
		if err != nil {
			return out, err
		}
		out = append(out, res...)
	}
	return out, nil
}

func (c *Client) syncLeadsChunk(ctx context.Context, r SyncLeadsRequest, in []Lead) ([]SyncResult, error) {
	body := struct {
		Action      string `json:"action"`
		LookupField string `json:"lookupField"`
		Input       []Lead `json:"input"`
	}{r.Action, r.LookupField, in}
	k := &call{method: http.MethodPost, path: "/rest/v1/leads.json", tmpl: "/rest/v1/leads.json#sync", body: body}
	env, err := c.do(ctx, k)
	var me *Error
	if errors.As(err, &me) && me.HTTPStatus == http.StatusRequestEntityTooLarge && len(in) > 1 {
		a, err := c.syncLeadsChunk(ctx, r, in[:len(in)/2])
		if err != nil {
			return a, err
		}
		b, err := c.syncLeadsChunk(ctx, r, in[len(in)/2:])
		return append(a, b...), err
	}
	if err != nil {
		return nil, err
	}
	var raw []struct {
		ID      int      `json:"id"`
		Status  string   `json:"status"`
		Reasons []Reason `json:"reasons"`
	}
	if err := decodeResult(env, &raw, k.tmpl); err != nil {
		return nil, err
	}
	if len(raw) != len(in) {
		return nil, fmt.Errorf("marketo %s: %d results for %d records (requestId %s)", k.tmpl, len(raw), len(in), env.RequestID)
	}
	out := make([]SyncResult, len(raw))
	for i, x := range raw {
		out[i] = SyncResult{ID: x.ID, Status: x.Status, Reasons: x.Reasons}
	}
	return out, nil
}

// GetList checks that a static list exists; an unknown id is a *Error with
// code 1013 (IsNotFound).
func (c *Client) GetList(ctx context.Context, listID int) (List, error) {
	if listID <= 0 {
		return List{}, fmt.Errorf("marketo: GetList: invalid list id %d", listID)
	}
	k := &call{method: http.MethodGet, path: fmt.Sprintf("/rest/v1/lists/%d.json", listID), tmpl: "/rest/v1/lists/{id}.json"}
	env, err := c.do(ctx, k)
	if err != nil {
		return List{}, err
	}
	var raw []struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	if err := decodeResult(env, &raw, k.tmpl); err != nil {
		return List{}, err
	}
	if len(raw) == 0 {
		return List{}, &Error{Code: "1013", Message: fmt.Sprintf("list %d not found", listID), RequestID: env.RequestID, Path: k.tmpl, HTTPStatus: http.StatusOK}
	}
	return List{ID: raw[0].ID, Name: raw[0].Name}, nil
}

// ListLeadsPage reads one page of a static list's members. Pass "" as
// pageToken for the first page and the returned NextPageToken (which the
// caller may checkpoint) for the next; "" means the list is exhausted.
// batchSize 0 means 300.
func (c *Client) ListLeadsPage(ctx context.Context, listID int, fields []string, pageToken string, batchSize int) (ListPage, error) {
	if listID <= 0 {
		return ListPage{}, fmt.Errorf("marketo: ListLeadsPage: invalid list id %d", listID)
	}
	if batchSize == 0 {
		batchSize = MaxBatch
	}
	if batchSize < 0 || batchSize > MaxBatch {
		return ListPage{}, fmt.Errorf("marketo: ListLeadsPage: batchSize %d out of range 1..%d", batchSize, MaxBatch)
	}
	q := url.Values{"batchSize": {strconv.Itoa(batchSize)}}
	if len(fields) > 0 {
		q.Set("fields", strings.Join(fields, ","))
	}
	if pageToken != "" {
		q.Set("nextPageToken", pageToken)
	}
	k := &call{method: http.MethodGet, path: fmt.Sprintf("/rest/v1/lists/%d/leads.json", listID), tmpl: "/rest/v1/lists/{id}/leads.json", query: q}
	env, err := c.do(ctx, k)
	if err != nil {
		return ListPage{}, err
	}
	leads, err := decodeLeads(env.Result, k.tmpl)
	if err != nil {
		return ListPage{}, err
	}
	p := ListPage{Leads: leads, NextPageToken: env.NextPageToken}
	if len(leads) == 0 {
		p.NextPageToken = ""
	}
	return p, nil
}

var tokenName = regexp.MustCompile(`^\{\{my\.[^{}]+\}\}$`)

// RequestCampaign asks Marketo to run a requestable trigger campaign for
// leadIDs, 100 per call; tokens apply to every lead. It returns the number of
// accepted calls (Marketo gives no per-lead outcome).
func (c *Client) RequestCampaign(ctx context.Context, campaignID int, leadIDs []int, tokens []Token) (int, error) {
	if campaignID <= 0 {
		return 0, fmt.Errorf("marketo: RequestCampaign: invalid campaign id %d", campaignID)
	}
	if len(tokens) > MaxCampaignTokens {
		return 0, fmt.Errorf("marketo: RequestCampaign: %d tokens, at most %d", len(tokens), MaxCampaignTokens)
	}
	for _, t := range tokens {
		if !tokenName.MatchString(t.Name) {
			return 0, fmt.Errorf("marketo: RequestCampaign: token name %q is not of the form {{my.Name}}", t.Name)
		}
	}
	for i, id := range leadIDs {
		if id <= 0 {
			return 0, fmt.Errorf("marketo: RequestCampaign: lead id %d at index %d is invalid", id, i)
		}
	}
	type leadRef struct {
		ID int `json:"id"`
	}
	type input struct {
		Leads  []leadRef `json:"leads"`
		Tokens []Token   `json:"tokens,omitempty"`
	}
	calls := 0
	for _, chunk := range chunks(leadIDs, MaxCampaignLeads) {
		refs := make([]leadRef, len(chunk))
		for i, id := range chunk {
			refs[i] = leadRef{id}
		}
		k := &call{method: http.MethodPost, path: fmt.Sprintf("/rest/v1/campaigns/%d/trigger.json", campaignID), tmpl: "/rest/v1/campaigns/{id}/trigger.json",
			body: struct {
				Input input `json:"input"`
			}{input{refs, tokens}}}
		if _, err := c.do(ctx, k); err != nil {
			return calls, err
		}
		calls++
	}
	return calls, nil
}

// DescribeCustomObject returns a custom object type's metadata, including the
// link field whose relationship points to Lead.
func (c *Client) DescribeCustomObject(ctx context.Context, apiName string) (CustomObjectType, error) {
	if apiName == "" || strings.ContainsAny(apiName, "/?#% ") {
		return CustomObjectType{}, fmt.Errorf("marketo: DescribeCustomObject: invalid API name %q", apiName)
	}
	k := &call{method: http.MethodGet, path: "/rest/v1/customobjects/" + apiName + "/describe.json", tmpl: "/rest/v1/customobjects/{name}/describe.json"}
	env, err := c.do(ctx, k)
	if err != nil {
		return CustomObjectType{}, err
	}
	type related struct {
		Name  string `json:"name"`
		Field string `json:"field"`
	}
	var raw []struct {
		Name         string   `json:"name"`
		IDField      string   `json:"idField"`
		DedupeFields []string `json:"dedupeFields"`
		Fields       []struct {
			Name       string `json:"name"`
			DataType   string `json:"dataType"`
			Updateable bool   `json:"updateable"`
		} `json:"fields"`
		Relationships []struct {
			Field     string   `json:"field"`
			RelatedTo *related `json:"relatedTo"`
			Object    *related `json:"object"` // spelling seen in one CO sample
		} `json:"relationships"`
	}
	if err := decodeResult(env, &raw, k.tmpl); err != nil {
		return CustomObjectType{}, err
	}
	if len(raw) == 0 {
		return CustomObjectType{}, &Error{Code: "1013", Message: fmt.Sprintf("custom object %q not found", apiName), RequestID: env.RequestID, Path: k.tmpl, HTTPStatus: http.StatusOK}
	}
	r := raw[0]
	t := CustomObjectType{Name: r.Name, IDField: r.IDField, DedupeFields: r.DedupeFields}
	for _, f := range r.Fields {
		t.Fields = append(t.Fields, CustomObjectField{Name: f.Name, DataType: f.DataType, Updatable: f.Updateable})
	}
	for _, rel := range r.Relationships {
		to := rel.RelatedTo
		if to == nil {
			to = rel.Object
		}
		if to != nil && strings.EqualFold(to.Name, "Lead") {
			t.LinkField, t.LinkTo = rel.Field, to.Field
			break
		}
	}
	return t, nil
}

// SyncCustomObjects writes custom object records, 300 per call (halving on
// HTTP 413). Results are mapped back by seq: result i belongs to Input[i] and
// its Seq is i.
func (c *Client) SyncCustomObjects(ctx context.Context, apiName string, r SyncCustomObjectsRequest) ([]CustomObjectResult, error) {
	if apiName == "" || strings.ContainsAny(apiName, "/?#% ") {
		return nil, fmt.Errorf("marketo: SyncCustomObjects: invalid API name %q", apiName)
	}
	if r.Action == "" {
		r.Action = ActionCreateOrUpdate
	}
	if !validLeadActions[r.Action] {
		return nil, fmt.Errorf("marketo: SyncCustomObjects: unknown action %q", r.Action)
	}
	if r.DedupeBy == "" {
		r.DedupeBy = "dedupeFields"
	}
	if r.DedupeBy != "dedupeFields" && r.DedupeBy != "idField" {
		return nil, fmt.Errorf("marketo: SyncCustomObjects: dedupeBy %q must be dedupeFields or idField", r.DedupeBy)
	}
	if r.DedupeBy == "idField" && r.Action != ActionUpdateOnly {
		return nil, fmt.Errorf("marketo: SyncCustomObjects: dedupeBy idField needs action updateOnly, not %q", r.Action)
	}
	out := make([]CustomObjectResult, len(r.Input))
	for ci, chunk := range chunks(r.Input, MaxBatch) {
		if err := c.syncCOChunk(ctx, apiName, r, chunk, ci*MaxBatch, out); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (c *Client) syncCOChunk(ctx context.Context, apiName string, r SyncCustomObjectsRequest, in []Record, offset int, out []CustomObjectResult) error {
	body := struct {
		Action   string   `json:"action"`
		DedupeBy string   `json:"dedupeBy"`
		Input    []Record `json:"input"`
	}{r.Action, r.DedupeBy, in}
	k := &call{method: http.MethodPost, path: "/rest/v1/customobjects/" + apiName + ".json", tmpl: "/rest/v1/customobjects/{name}.json#sync", body: body}
	env, err := c.do(ctx, k)
	var me *Error
	if errors.As(err, &me) && me.HTTPStatus == http.StatusRequestEntityTooLarge && len(in) > 1 {
		h := len(in) / 2
		if err := c.syncCOChunk(ctx, apiName, r, in[:h], offset, out); err != nil {
			return err
		}
		return c.syncCOChunk(ctx, apiName, r, in[h:], offset+h, out)
	}
	if err != nil {
		return err
	}
	var raw []struct {
		Seq         *int     `json:"seq"`
		Status      string   `json:"status"`
		MarketoGUID string   `json:"marketoGUID"`
		Reasons     []Reason `json:"reasons"`
	}
	if err := decodeResult(env, &raw, k.tmpl); err != nil {
		return err
	}
	seen := make([]bool, len(in))
	for _, x := range raw {
		if x.Seq == nil || *x.Seq < 0 || *x.Seq >= len(in) || seen[*x.Seq] {
			return fmt.Errorf("marketo %s: result with missing, out-of-range or repeated seq (requestId %s)", k.tmpl, env.RequestID)
		}
		seen[*x.Seq] = true
		out[offset+*x.Seq] = CustomObjectResult{Seq: offset + *x.Seq, Status: x.Status, MarketoGUID: x.MarketoGUID, Reasons: x.Reasons}
	}
	for i, ok := range seen {
		if !ok {
			return fmt.Errorf("marketo %s: no result for seq %d (requestId %s)", k.tmpl, i, env.RequestID)
		}
	}
	return nil
}

// QueryCustomObjects returns the records whose filterType field matches one
// of values (300 values per call, POST ?_method=GET, pages followed).
func (c *Client) QueryCustomObjects(ctx context.Context, apiName, filterType string, values []string, fields []string) ([]Record, error) {
	if apiName == "" || strings.ContainsAny(apiName, "/?#% ") {
		return nil, fmt.Errorf("marketo: QueryCustomObjects: invalid API name %q", apiName)
	}
	if filterType == "" {
		return nil, errors.New("marketo: QueryCustomObjects: empty filterType")
	}
	if err := checkValues("filter", values); err != nil {
		return nil, err
	}
	var out []Record
	for _, chunk := range chunks(values, MaxBatch) {
		q := url.Values{"filterType": {filterType}, "filterValues": {strings.Join(chunk, ",")}, "batchSize": {strconv.Itoa(MaxBatch)}}
		if len(fields) > 0 {
			q.Set("fields", strings.Join(fields, ","))
		}
		for page := 1; ; page++ {
			k := &call{method: http.MethodGet, path: "/rest/v1/customobjects/" + apiName + ".json", tmpl: "/rest/v1/customobjects/{name}.json#get", query: q, formGET: true}
			env, err := c.do(ctx, k)
			if err != nil {
				return nil, err
			}
			var recs []Record
			if err := decodeResult(env, &recs, k.tmpl); err != nil {
				return nil, err
			}
			out = append(out, recs...)
			more, err := nextPage(k.tmpl, q, env.NextPageToken, len(recs), page)
			if err != nil {
				return nil, err
			}
			if !more {
				break
			}
		}
	}
	return out, nil
}

// maxFilterPages bounds the pages of one filter query: Marketo refuses more
// than 1,000 matches (1003), which is 4 pages of 300, so more than this is a
// server that keeps answering with a token.
const maxFilterPages = 20

// nextPage moves q to the next page of a filter query and says whether there
// is one. A token that repeats, or more pages than a filter can have, is an
// error rather than a loop that only the deadline would end.
func nextPage(tmpl string, q url.Values, token string, rows, pages int) (bool, error) {
	if token == "" || rows == 0 {
		return false, nil
	}
	if token == q.Get("nextPageToken") {
		return false, fmt.Errorf("marketo: %s: the answer repeated the nextPageToken it was sent; paging stopped", tmpl)
	}
	if pages >= maxFilterPages {
		return false, fmt.Errorf("marketo: %s: more than %d pages for one filter query; paging stopped", tmpl, maxFilterPages)
	}
	q.Set("nextPageToken", token)
	return true, nil
}
