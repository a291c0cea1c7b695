package marketo

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

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
