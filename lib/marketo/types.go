package marketo

import (
	"context"
	"strconv"
	"time"
)

// This file is the contract between lib/marketo and its consumers (lib/jobs,
// lib/limit, the simulator's tests). Data types only; the Client implements
// the operations listed in CONTRACT below.
//
// CONTRACT (methods of *Client, all safe for concurrent use):
//
//	New(cfg Config) (*Client, error)
//	(*Client).DescribeLeads(ctx) ([]LeadField, error)
//	(*Client).GetLeadsByFilter(ctx, filterType string, values []string, fields []string) ([]Lead, error)
//	    chunks values by 300, always POST ?_method=GET form, follows nextPageToken.
//	(*Client).GetLeadByID(ctx, id int, fields []string) (Lead, bool, error)
//	(*Client).SyncLeads(ctx, SyncLeadsRequest) ([]SyncResult, error)
//	    chunks Input by 300 (and splits further on HTTP 413); len(result) == len(Input), input order.
//	(*Client).GetList(ctx, listID int) (List, error)      // 1013 -> *Error with Code "1013" (IsNotFound)
//	(*Client).ListLeadsPage(ctx, listID int, fields []string, pageToken string, batchSize int) (ListPage, error)
//	(*Client).RequestCampaign(ctx, campaignID int, leadIDs []int, tokens []Token) (calls int, err error)
//	    chunks leadIDs by 100.
//	(*Client).DescribeCustomObject(ctx, apiName string) (CustomObjectType, error)
//	(*Client).SyncCustomObjects(ctx, apiName string, SyncCustomObjectsRequest) ([]CustomObjectResult, error)
//	    chunks by 300; results mapped back by seq to input index.
//	(*Client).QueryCustomObjects(ctx, apiName, filterType string, values []string, fields []string) ([]Record, error)
//	(*Client).ListCustomObjects(ctx, names []string) ([]CustomObjectInfo, error)
//	(*Client).GetCampaigns(ctx, ids []int, triggerable bool) ([]Campaign, error)
//	(*Client).GetUsage(ctx) (Usage, error)                 // today's calls, all integrations
//	(*Client).Authenticate(ctx) (expires time.Time, error) // identity only
//	(*Client).Stats() Stats
//
// Errors: response-level failures are *Error; the daily quota is *QuotaError
// (errors.Is(err, ErrDailyQuota)); bad credentials are *AuthError
// (errors.Is(err, ErrBadCredentials)).

// Lead is one lead record keyed by REST field name ("id", "email", ...).
type Lead map[string]any

// Record is one custom object record keyed by field API name.
type Record map[string]any

// ID returns the lead's numeric id, or 0 when absent.
func (l Lead) ID() int { return intField(l["id"]) }

// Email returns the lead's email, or "" when absent.
func (l Lead) Email() string {
	s, _ := l["email"].(string)
	return s
}

func intField(v any) int {
	switch x := v.(type) {
	case int:
		return x
	case int64:
		return int(x)
	case float64:
		return int(x)
	case string:
		n, _ := strconv.Atoi(x)
		return n
	}
	return 0
}

// Sync actions for leads and custom objects.
const (
	ActionCreateOrUpdate = "createOrUpdate"
	ActionCreateOnly     = "createOnly"
	ActionUpdateOnly     = "updateOnly"
)

// Record statuses returned by sync endpoints.
const (
	StatusCreated = "created"
	StatusUpdated = "updated"
	StatusSkipped = "skipped"
)

// Reason is a record-level reason code ("1004", ...), always a string.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// LeadField is one entry of the lead describe.
type LeadField struct {
	Name      string // REST API name
	DataType  string
	ReadOnly  bool
	MaxLength int
}

type SyncLeadsRequest struct {
	Action      string // ActionCreateOrUpdate (default), ActionCreateOnly, ActionUpdateOnly
	LookupField string // default "email"
	Input       []Lead
}

// SyncResult is the outcome of one input record, in input order.
type SyncResult struct {
	ID      int
	Status  string
	Reasons []Reason
}

type List struct {
	ID   int
	Name string
}

type ListPage struct {
	Leads         []Lead
	NextPageToken string // "" on the last page
}

// Token is a {{my.Name}} program token passed to Request Campaign.
type Token struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type CustomObjectField struct {
	Name      string
	DataType  string
	Updatable bool
	Length    int // for string-like types; 0 when Describe gives none
}

// Campaign is one smart campaign of Get Campaigns (campaigns.json). Active
// applies to trigger campaigns only. The lead database API has no
// "requestable" flag: GetCampaigns with triggerable lists the campaigns
// Request Campaign accepts.
type Campaign struct {
	ID            int    `json:"id"`
	Name          string `json:"name"`
	Description   string `json:"description"`
	Type          string `json:"type"` // "trigger" or "batch"
	ProgramName   string `json:"programName"`
	ProgramID     int    `json:"programId"`
	WorkspaceName string `json:"workspaceName"`
	Active        bool   `json:"active"`
}

// Usage is one day of the instance's API usage (stats/usage.json): every
// integration's calls, not only this client's.
type Usage struct {
	Date  string      `json:"date"`
	Total int         `json:"total"`
	Users []UserUsage `json:"users"`
}

// UserUsage is one API user's calls of a Usage day.
type UserUsage struct {
	UserID string `json:"userId"`
	Count  int    `json:"count"`
}

// CustomObjectInfo is one entry of List Custom Objects (customobjects.json):
// a type's keys and its link to Lead, without its fields.
type CustomObjectInfo struct {
	Name         string
	DisplayName  string
	IDField      string
	DedupeFields []string
	LinkField    string // the field whose relationship points to Lead; "" for none
	LinkTo       string // the lead field it holds (normally "id")
}

type CustomObjectType struct {
	Name         string
	IDField      string   // always marketoGUID
	DedupeFields []string // 1-3
	Fields       []CustomObjectField
	// LinkField is the field whose relationship points to Lead; LinkTo is the
	// lead field it holds (normally "id").
	LinkField string
	LinkTo    string
}

type SyncCustomObjectsRequest struct {
	Action   string // default createOrUpdate
	DedupeBy string // "dedupeFields" (default) or "idField"
	Input    []Record
}

type CustomObjectResult struct {
	Seq         int
	Status      string
	MarketoGUID string
	Reasons     []Reason
}

// Stats are cumulative counters of one client.
type Stats struct {
	Calls   int            // REST calls sent (identity excluded)
	Retries int            // calls re-sent after a wait-class answer
	Auths   int            // identity calls
	ByCode  map[string]int // Marketo response-level codes and "http-NNN" statuses received
	ByPath  map[string]int // calls per endpoint path template
	Waited  time.Duration  // time spent waiting in Budget.Acquire
}

// Budget is taken before every REST call and released after its answer.
// Implementations: limit.InProcess (one process) and limit.Shared (held in
// DynamoDB, shared by every Lambda of a Marketo instance).
type Budget interface {
	Acquire(ctx context.Context) (release func(), err error)
}

// unpaced is the Budget of a client configured without one: every call
// goes at once.
type unpaced struct{}

func (unpaced) Acquire(context.Context) (func(), error) { return func() {}, nil }
