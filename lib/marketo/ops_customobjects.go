package marketo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// DescribeCustomObject returns a custom object type's metadata, including the
// link field whose relationship points to Lead.
func (c *Client) DescribeCustomObject(ctx context.Context, apiName string) (CustomObjectType, error) {
	if !validAPIName(apiName) {
		return CustomObjectType{}, fmt.Errorf("marketo: DescribeCustomObject: invalid API name %q", apiName)
	}
	k := &call{method: http.MethodGet, path: "/rest/v1/customobjects/" + apiName + "/describe.json", tmpl: "/rest/v1/customobjects/{name}/describe.json"}
	env, err := c.do(ctx, k)
	if err != nil {
		return CustomObjectType{}, err
	}
	var raw []coMeta
	if err := decodeResult(env, &raw, k.tmpl); err != nil {
		return CustomObjectType{}, err
	}
	if len(raw) == 0 {
		return CustomObjectType{}, &Error{Code: "1013", Message: fmt.Sprintf("custom object %q not found", apiName), RequestID: env.RequestID, Path: k.tmpl, HTTPStatus: http.StatusOK}
	}
	r := raw[0]
	t := CustomObjectType{Name: r.Name, IDField: r.IDField, DedupeFields: r.DedupeFields}
	for _, f := range r.Fields {
		t.Fields = append(t.Fields, CustomObjectField{Name: f.Name, DataType: f.DataType, Updatable: f.Updateable, Length: f.Length})
	}
	t.LinkField, t.LinkTo = r.leadLink()
	return t, nil
}

// coMeta is a custom object type as Describe and List answer it (List has
// no fields).
type coMeta struct {
	Name         string   `json:"name"`
	DisplayName  string   `json:"displayName"`
	IDField      string   `json:"idField"`
	DedupeFields []string `json:"dedupeFields"`
	Fields       []struct {
		Name       string `json:"name"`
		DataType   string `json:"dataType"`
		Length     int    `json:"length"`
		Updateable bool   `json:"updateable"`
	} `json:"fields"`
	Relationships []struct {
		Field     string     `json:"field"`
		RelatedTo *coRelated `json:"relatedTo"`
		Object    *coRelated `json:"object"` // Describe's spelling in Adobe's example
	} `json:"relationships"`
}

type coRelated struct {
	Name  string `json:"name"`
	Field string `json:"field"`
}

// leadLink returns the field whose relationship points to Lead and the lead
// field it holds.
func (m coMeta) leadLink() (field, to string) {
	for _, rel := range m.Relationships {
		r := rel.RelatedTo
		if r == nil {
			r = rel.Object
		}
		if r != nil && strings.EqualFold(r.Name, "Lead") {
			return rel.Field, r.Field
		}
	}
	return "", ""
}

// ListCustomObjects lists custom object types (List Custom Objects), those
// named or, with no names, all of them. A name that does not exist is
// simply absent from the answer.
func (c *Client) ListCustomObjects(ctx context.Context, names []string) ([]CustomObjectInfo, error) {
	for _, n := range names {
		if !validAPIName(n) || strings.Contains(n, ",") {
			return nil, fmt.Errorf("marketo: ListCustomObjects: invalid API name %q", n)
		}
	}
	q := url.Values{}
	if len(names) > 0 {
		q.Set("names", strings.Join(names, ","))
	}
	k := &call{method: http.MethodGet, path: "/rest/v1/customobjects.json", tmpl: "/rest/v1/customobjects.json", query: q}
	env, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	var raw []coMeta
	if err := decodeResult(env, &raw, k.tmpl); err != nil {
		return nil, err
	}
	out := make([]CustomObjectInfo, len(raw))
	for i, m := range raw {
		out[i] = CustomObjectInfo{Name: m.Name, DisplayName: m.DisplayName, IDField: m.IDField, DedupeFields: m.DedupeFields}
		out[i].LinkField, out[i].LinkTo = m.leadLink()
	}
	return out, nil
}

// SyncCustomObjects writes custom object records, 300 per call (halving on
// HTTP 413). Results are mapped back by seq: result i belongs to Input[i] and
// its Seq is i.
func (c *Client) SyncCustomObjects(ctx context.Context, apiName string, r SyncCustomObjectsRequest) ([]CustomObjectResult, error) {
	if !validAPIName(apiName) {
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

// syncCOChunk syncs one chunk (halving it on HTTP 413) and fills out from
// offset by seq.
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
	if !validAPIName(apiName) {
		return nil, fmt.Errorf("marketo: QueryCustomObjects: invalid API name %q", apiName)
	}
	if filterType == "" {
		return nil, errors.New("marketo: QueryCustomObjects: empty filterType")
	}
	if err := checkValues("filter", values); err != nil {
		return nil, err
	}
	return filterPages(ctx, c, filterQuery{path: "/rest/v1/customobjects/" + apiName + ".json", tmpl: "/rest/v1/customobjects/{name}.json#get",
		filterType: filterType, values: values, fields: fields},
		func(env *envelope, tmpl string) ([]Record, error) {
			var recs []Record
			err := decodeResult(env, &recs, tmpl)
			return recs, err
		})
}

// validAPIName refuses a custom object name that is empty or would change
// the path it is put in.
func validAPIName(apiName string) bool {
	return apiName != "" && !strings.ContainsAny(apiName, "/?#% ")
}
