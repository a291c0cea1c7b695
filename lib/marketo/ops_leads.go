package marketo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// decodeLeads decodes a result of leads, with integral ids as int.
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
	return filterPages(ctx, c, filterQuery{path: "/rest/v1/leads.json", tmpl: "/rest/v1/leads.json#get", filterType: filterType, values: values, fields: fields},
		func(env *envelope, tmpl string) ([]Lead, error) { return decodeLeads(env.Result, tmpl) })
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

// syncLeadsChunk syncs one chunk, halving it on HTTP 413.
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
