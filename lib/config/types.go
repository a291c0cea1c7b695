// Package config holds the connection and job configuration model.
package config

import (
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
)

// Job types: the five event jobs, the account-level profile import, and the
// change detector (which has no job record of its own: it serves the enabled
// trigger-campaign jobs).
const (
	TypeImportLeads       = "import-leads"
	TypeImportProfiles    = "import-profiles"
	TypeTriggerCampaign   = "trigger-campaign"
	TypeSyncLeads         = "sync-leads"
	TypeEngagementMetrics = "engagement-metrics"
	TypeInterestMetrics   = "interest-metrics"
)

// Status categories (docs/certain.md §6).
const (
	CategoryAccepted  = "accepted"
	CategoryPending   = "pending"
	CategoryCancelled = "cancelled"
	CategoryDenied    = "denied"
)

// Connection is the per-Certain-account configuration.
type Connection struct {
	Account        string `json:"account"` // Certain account code; the key
	CertainBaseURL string `json:"certainBaseURL"`
	CertainSecret  string `json:"certainSecret"` // Secrets Manager ARN or name: {"username","password"}
	MarketoSecret  string `json:"marketoSecret"` // Secrets Manager ARN or name: {"baseURL"|"munchkinId","clientId","clientSecret"}
	// AllowHTTP permits plain http:// Certain and Marketo URLs (simulators only).
	AllowHTTP     bool   `json:"allowHTTP,omitempty"`
	MarketoBudget Budget `json:"marketoBudget"`
	// QuotaZone is when Marketo's daily quota resets: "America/Chicago"
	// (default; midnight Central Time, following daylight saving) or
	// "UTC-6" (midnight Central Standard Time all year). The daily budget's
	// day and a quota-stopped job's resume time follow it.
	QuotaZone string `json:"quotaZone,omitempty"`
	// StringOverflow is what the jobs do with a value longer than its
	// Marketo field: "refuse" (default: the record fails, naming the field)
	// or "truncate".
	StringOverflow string `json:"stringOverflow,omitempty"`
	// MarketoFieldTypes gives the dataType of Marketo lead fields by REST
	// name ({"attendedBefore": "boolean"}), so that cmctl validate checks
	// mappings into custom fields offline (standard fields are known; jobs
	// and cmctl probe-marketo read the instance's describe instead).
	MarketoFieldTypes map[string]string  `json:"marketoFieldTypes,omitempty"`
	FieldMapping      []FieldMap         `json:"fieldMapping"`
	CertainFields     certain.FieldNames `json:"certainFields,omitempty"`
	// Statuses is the registration-status vocabulary; empty means the
	// standard list of docs/certain.md §6.
	Statuses   []Status `json:"statuses,omitempty"`
	PageSize   int      `json:"pageSize,omitempty"`   // Certain page size, default 200
	PagingMode string   `json:"pagingMode,omitempty"` // offset0 (default), offset1, page1, none
	// MaxInFlight is the most Certain calls one process has in flight (the
	// ceiling of its client's adaptive limit; default CertainBudget.Concurrent).
	MaxInFlight int `json:"maxInFlight,omitempty"`
	// CertainBudget is what every Lambda calling the Certain account may
	// use together (lib/limit.CertainConfig).
	CertainBudget CertainBudget `json:"certainBudget,omitzero"`

	// The tenant's API conventions nothing public settles (docs/certain.md
	// §9); cmctl probe-certain infers most of them.
	IncludeParam     string   `json:"includeParam,omitempty"`     // includeList (default) or include_list
	OrderByParam     string   `json:"orderByParam,omitempty"`     // orderBy (default) or order_by
	FilterTimeFormat string   `json:"filterTimeFormat,omitempty"` // Go layout of dateModified_after, default 2006-01-02T15:04:05
	FilterTimeZone   string   `json:"filterTimeZone,omitempty"`   // IANA zone of filters and zone-less dates, default UTC
	WatermarkOverlap Duration `json:"watermarkOverlap,omitempty"` // the detector re-reads this much before its watermark, default 2m
	APIBasePath      string   `json:"apiBasePath,omitempty"`      // v1 ("API 2.0") base path, default /certainExternal/service/v1
	StandardBasePath string   `json:"standardBasePath,omitempty"` // Standard 2.0 base path (sessions), default /api/standard/2.0

	// OverwriteForeignExternalIDs: when a job finds or creates the Marketo
	// lead of a profile whose External Profile ID belongs to another system
	// (Source of Profile neither blank, Import nor Marketo), write the
	// Marketo id and Source = Marketo over it (rule C). Default false: the
	// other system's id stays, and the record's outcome says so.
	OverwriteForeignExternalIDs bool `json:"overwriteForeignExternalIds,omitempty"`
	// LeadIDTrust: a stored Marketo lead id that Marketo confirmed (a job
	// wrote to its lead, found it by e-mail, created it or checked it)
	// within this long is used by trigger-campaign without asking Marketo
	// again. Default 0: every campaign request checks the batch's stored
	// ids first (a merged lead's id reaches nobody); at most
	// MaxLeadIDTrust.
	LeadIDTrust Duration `json:"leadIdTrust,omitempty"`
}

// MaxLeadIDTrust bounds connection leadIdTrust: how long a merged lead's id
// can still be used for a campaign request.
const MaxLeadIDTrust = 24 * time.Hour

// CertainBudget is the ceiling on the product's use of one Certain account,
// shared by all its Lambdas; within it, each client's adaptive limit finds
// what the tenant tolerates.
type CertainBudget struct {
	Concurrent     int `json:"concurrent,omitempty"`     // calls in flight, default 16, at most 64
	CallsPerSecond int `json:"callsPerSecond,omitempty"` // calls started per second, default 50, at most 1000
}

// Budget is the share of the Marketo instance's limits this product may use.
type Budget struct {
	CallsPer20s int `json:"callsPer20s"` // default 50, at most 100
	Concurrent  int `json:"concurrent"`  // default 5, at most 10
	Daily       int `json:"daily"`       // default 10000
}

// FieldMap maps one Certain field to one Marketo lead field (REST name).
// Certain names address the profile ("firstName", "address.city") or, with
// the prefix "registration.", the registration itself.
type FieldMap struct {
	Certain string `json:"certain"`
	Marketo string `json:"marketo"`
}

type Status struct {
	Name     string `json:"name"`
	Category string `json:"category"`
}

// Job is one configured connector job.
type Job struct {
	ID       string   `json:"id"`
	Account  string   `json:"account"`
	Event    string   `json:"event"` // empty for account-level jobs (import-profiles)
	Type     string   `json:"type"`
	Name     string   `json:"name"`
	Enabled  bool     `json:"enabled"`
	Schedule Schedule `json:"schedule"`
	Params   Params   `json:"params"`
}

// Schedule: run once (At), or recurring every Interval or by Cron, within an
// optional Start/End window.
type Schedule struct {
	At       *time.Time `json:"at,omitempty"`
	Interval Duration   `json:"interval,omitempty"`
	Cron     string     `json:"cron,omitempty"`
	Timezone string     `json:"timezone,omitempty"` // for Cron; default UTC
	Start    *time.Time `json:"start,omitempty"`
	End      *time.Time `json:"end,omitempty"`
}

// Duration is a time.Duration written as "15m" in JSON.
type Duration time.Duration

// Params is the union of the job-specific fields; validation accepts only
// the fields of the job's type.
type Params struct {
	// import-leads, import-profiles
	ListID             int    `json:"listId,omitempty"`
	RegistrationStatus string `json:"registrationStatus,omitempty"` // import-leads only
	AttendeeType       string `json:"attendeeType,omitempty"`       // import-leads only

	// trigger-campaign
	CampaignID   int         `json:"campaignId,omitempty"`
	ToStatus     string      `json:"toStatus,omitempty"`
	FromStatus   string      `json:"fromStatus,omitempty"` // optional
	Tokens       []TokenSpec `json:"tokens,omitempty"`
	RunSyncLeads bool        `json:"runSyncLeads,omitempty"` // "Run Create/Update Marketo Leads every time this job runs"
	// SyncStatuses are the statuses the pre-trigger sync uses (default: ToStatus).
	SyncStatuses []string `json:"syncStatuses,omitempty"`

	// sync-leads (Statuses), engagement/interest (IncludeStatuses via categories)
	Statuses []string `json:"statuses,omitempty"`

	// engagement-metrics, interest-metrics
	CustomObject string            `json:"customObject,omitempty"` // API name; default DefaultEngagementObject / DefaultInterestObject
	Fields       map[string]string `json:"fields,omitempty"`       // logical name -> CO field API name
	Modules      []string          `json:"modules,omitempty"`      // engagement: enabled modules; interest: "speakerSessionManagement"
	Include      []string          `json:"include,omitempty"`      // interest: "registered", "attended"
	TagAllowList []string          `json:"tagAllowList,omitempty"` // interest: optional
	Categories   []string          `json:"categories,omitempty"`   // registration categories included, default accepted+pending

	// all jobs that write to Marketo
	ForceFull bool `json:"forceFull,omitempty"` // ignore delta hashes and resend everything
	// RetryFailuresAfter (sync-leads, metrics): a record Marketo refused for
	// good (1003, 1004, 1006, 1007, 1008) with unchanged data is re-sent only
	// after this long; still reported failed every run. 0: retried every run.
	RetryFailuresAfter Duration `json:"retryFailuresAfter,omitempty"`
	// VerifyIDsEvery (sync-leads): how often each stored Marketo id of an
	// unchanged registration is checked to still exist (a merged or deleted
	// lead's id no longer does). Unset: DefaultVerifyIDsEvery; "0s": every
	// run. See VerifyIDsInterval.
	VerifyIDsEvery *Duration `json:"verifyIdsEvery,omitempty"`
}

// Verification of stored Marketo ids (sync-leads, params.verifyIdsEvery).
const (
	DefaultVerifyIDsEvery = 24 * time.Hour
	// MaxVerifyIDsEvery bounds how long a dead Marketo id can go unnoticed.
	MaxVerifyIDsEvery = 30 * 24 * time.Hour
)

// VerifyIDsInterval is params.verifyIdsEvery, DefaultVerifyIDsEvery when
// unset; 0 means every run.
func (p Params) VerifyIDsInterval() time.Duration {
	if p.VerifyIDsEvery == nil {
		return DefaultVerifyIDsEvery
	}
	return time.Duration(*p.VerifyIDsEvery)
}

// TokenSpec is one {{my.Name}} token: a literal Value or a Certain Field of
// the registration ("registration.x") or profile ("x").
type TokenSpec struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
	Field string `json:"field,omitempty"`
}

// Modules named in docs/jobs.md §4.
const (
	ModuleAgenda              = "agenda"
	ModuleSpeakerSession      = "speakerSessionManagement"
	ModuleEventViews          = "eventViews"
	ModuleMobile              = "mobile"
	ModuleSSA                 = "ssa"
	ModuleAppointmentMatching = "appointmentMatching"
)
