package config

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/fieldtype"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// Budget defaults and ceilings (docs/marketo.md §2: advised share of one
// integration, and the instance-wide limits).
const (
	DefaultCallsPer20s = 50
	DefaultConcurrent  = 5
	DefaultDaily       = 10000
	MaxCallsPer20s     = 100
	MaxConcurrent      = 10

	DefaultPageSize   = 200
	DefaultPagingMode = "offset0"
	// Certain budget defaults and ceilings (docs/certain.md §3): Certain
	// publishes no limit; these stay below what public clients run, and
	// each client's adaptive limit finds the tenant's real capacity
	// within them.
	DefaultCertainConcurrent     = 16
	DefaultCertainCallsPerSecond = 50
	MaxCertainConcurrent         = 64
	MaxCertainCallsPerSecond     = 1000
	// MinInterval is the shortest recurring interval; schedule ticks come
	// every few minutes, so a shorter one would only mislead.
	MinInterval = time.Minute
	// MaxTokens is Marketo's cap on tokens per Request Campaign call.
	MaxTokens = 100
)

// ValidationError names the object and the field that is wrong:
// job "summit-sync": params.statuses: at least one status required.
type ValidationError struct {
	Object string // "job" or "connection"
	ID     string // job id or account code
	Field  string // JSON path of the field
	Msg    string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s %q: %s", e.Object, e.ID, e.Msg)
	}
	return fmt.Sprintf("%s %q: %s: %s", e.Object, e.ID, e.Field, e.Msg)
}

type errList struct {
	object, id string
	errs       []error
}

func (l *errList) add(field, format string, args ...any) {
	l.errs = append(l.errs, &ValidationError{Object: l.object, ID: l.id, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (l *errList) err() error { return errors.Join(l.errs...) }

// DefaultStatuses is the standard Certain status list with its default
// categories (docs/certain.md §6). It returns a fresh slice.
func DefaultStatuses() []Status {
	return []Status{
		{"New", CategoryPending},
		{"Requested Invitation", CategoryPending},
		{"Waitlist Hold", CategoryPending},
		{"Invited", CategoryPending},
		{"Invitation Sent", CategoryPending},
		{"Request Denied", CategoryDenied},
		{"Pre-Registered", CategoryAccepted},
		{"Declined Invitation", CategoryCancelled},
		{"Cancelled", CategoryCancelled},
		{"No-show", CategoryAccepted},
		{"Attended", CategoryAccepted},
	}
}

// statusCategories lists the registration status categories.
func statusCategories() []string {
	return []string{CategoryAccepted, CategoryPending, CategoryCancelled, CategoryDenied}
}

func normStatus(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// StatusCategory returns the category of a registration status, comparing
// names case-insensitively after trimming; false when the status is not in
// the connection's vocabulary (the default list when none is configured).
func (c Connection) StatusCategory(name string) (string, bool) {
	list := c.Statuses
	if len(list) == 0 {
		list = DefaultStatuses()
	}
	n := normStatus(name)
	if n == "" {
		return "", false
	}
	for _, s := range list {
		if normStatus(s.Name) == n {
			return s.Category, true
		}
	}
	return "", false
}

// The custom objects the metrics jobs write when params.customObject is
// blank (the names Certain's jobs used).
const (
	DefaultEngagementObject = "CertainEngagementMetrics"
	DefaultInterestObject   = "CertainInterestPoints"
)

// WithDefaults returns j with every unset param that has a default filled
// in: the custom object of the metrics jobs.
func (j Job) WithDefaults() Job {
	if strings.TrimSpace(j.Params.CustomObject) != "" {
		j.Params.CustomObject = strings.TrimSpace(j.Params.CustomObject)
		return j
	}
	switch j.Type {
	case TypeEngagementMetrics:
		j.Params.CustomObject = DefaultEngagementObject
	case TypeInterestMetrics:
		j.Params.CustomObject = DefaultInterestObject
	}
	return j
}

// WithDefaults returns c with every unset setting filled with its default.
func (c Connection) WithDefaults() Connection {
	if c.MarketoBudget.CallsPer20s == 0 {
		c.MarketoBudget.CallsPer20s = DefaultCallsPer20s
	}
	if c.MarketoBudget.Concurrent == 0 {
		c.MarketoBudget.Concurrent = DefaultConcurrent
	}
	if c.MarketoBudget.Daily == 0 {
		c.MarketoBudget.Daily = DefaultDaily
	}
	if len(c.Statuses) == 0 {
		c.Statuses = DefaultStatuses()
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.PagingMode == "" {
		c.PagingMode = DefaultPagingMode
	}
	if c.CertainBudget.Concurrent == 0 {
		c.CertainBudget.Concurrent = DefaultCertainConcurrent
	}
	if c.CertainBudget.CallsPerSecond == 0 {
		c.CertainBudget.CallsPerSecond = DefaultCertainCallsPerSecond
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = c.CertainBudget.Concurrent
	}
	if c.QuotaZone == "" {
		c.QuotaZone = string(marketo.DefaultQuotaZone)
	}
	if c.StringOverflow == "" {
		c.StringOverflow = string(fieldtype.OverflowRefuse)
	}
	c.CertainFields = c.CertainFields.WithDefaults()
	return c
}

// Zone is the connection's quota zone (the default when unset or invalid;
// Validate reports an invalid one).
func (c Connection) Zone() marketo.QuotaZone {
	z, err := marketo.ParseQuotaZone(c.QuotaZone)
	if err != nil {
		return marketo.DefaultQuotaZone
	}
	return z
}

// Overflow is the connection's string overflow policy (refuse when unset or
// invalid; Validate reports an invalid one).
func (c Connection) Overflow() fieldtype.Overflow {
	o, err := fieldtype.ParseOverflow(c.StringOverflow)
	if err != nil {
		return fieldtype.OverflowRefuse
	}
	return o
}

// MarketoLeadField returns what is known offline of a Marketo lead field:
// its type from MarketoFieldTypes, else Marketo's standard fields.
func (c Connection) MarketoLeadField(name string) (fieldtype.StandardField, bool) {
	if dt, ok := c.MarketoFieldTypes[name]; ok {
		return fieldtype.StandardField{Field: fieldtype.Field{Name: name, DataType: dt}}, true
	}
	return fieldtype.StandardLeadField(name)
}

var keyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Validate checks a connection. Zero budget values mean the defaults.
func (c Connection) Validate() error {
	l := &errList{object: "connection", id: c.Account}
	if c.Account == "" {
		l.add("account", "required")
	} else if !keyRE.MatchString(c.Account) {
		l.add("account", "must be 1-128 letters, digits, '.', '_' or '-'")
	}
	checkURL(l, "certainBaseURL", c.CertainBaseURL, c.AllowHTTP)
	if strings.TrimSpace(c.CertainSecret) == "" {
		l.add("certainSecret", "required (Secrets Manager ARN or name)")
	}
	if strings.TrimSpace(c.MarketoSecret) == "" {
		l.add("marketoSecret", "required (Secrets Manager ARN or name)")
	}
	b := c.MarketoBudget
	if b.CallsPer20s < 0 || b.CallsPer20s > MaxCallsPer20s {
		l.add("marketoBudget.callsPer20s", "must be between 1 and %d (0 = default %d), got %d", MaxCallsPer20s, DefaultCallsPer20s, b.CallsPer20s)
	}
	if b.Concurrent < 0 || b.Concurrent > MaxConcurrent {
		l.add("marketoBudget.concurrent", "must be between 1 and %d (0 = default %d), got %d", MaxConcurrent, DefaultConcurrent, b.Concurrent)
	}
	if b.Daily < 0 {
		l.add("marketoBudget.daily", "must not be negative, got %d", b.Daily)
	}
	if _, err := marketo.ParseQuotaZone(c.QuotaZone); err != nil {
		l.add("quotaZone", "%v", err)
	}
	if _, err := fieldtype.ParseOverflow(c.StringOverflow); err != nil {
		l.add("stringOverflow", "%v", err)
	}
	for name, dt := range c.MarketoFieldTypes {
		if strings.TrimSpace(name) == "" || !fieldtype.KnownType(dt) {
			l.add("marketoFieldTypes."+name, "unknown Marketo dataType %q (want string, text, email, phone, url, boolean, integer, float, currency, percent, score, date, datetime or reference)", dt)
		}
	}
	c.validateMapping(l)
	seen := map[string]int{}
	for i, s := range c.Statuses {
		f := fmt.Sprintf("statuses[%d]", i)
		n := normStatus(s.Name)
		if n == "" {
			l.add(f+".name", "required")
		} else if j, dup := seen[n]; dup {
			l.add(f+".name", "status %q repeats statuses[%d]", s.Name, j)
		} else {
			seen[n] = i
		}
		if !slices.Contains(statusCategories(), s.Category) {
			l.add(f+".category", "must be one of %s, got %q", strings.Join(statusCategories(), ", "), s.Category)
		}
	}
	c.validateCertain(l)
	return l.err()
}

func checkURL(l *errList, field, raw string, allowHTTP bool) {
	if raw == "" {
		l.add(field, "required")
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		l.add(field, "not an absolute URL: %q", raw)
		return
	}
	if u.User != nil {
		l.add(field, "must not contain credentials")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	default:
		l.add(field, "scheme must be https (http only with allowHTTP), got %q", u.Scheme)
	}
}

// paramFields lists the params fields (JSON names) a job type accepts; any
// other non-zero field is an error. known is false for an unknown type.
func paramFields(jobType string) (fields []string, known bool) {
	switch jobType {
	case TypeImportLeads:
		return []string{"listId", "registrationStatus", "attendeeType"}, true
	case TypeImportProfiles:
		return []string{"listId"}, true
	case TypeTriggerCampaign:
		return []string{"campaignId", "toStatus", "fromStatus", "tokens", "runSyncLeads", "syncStatuses", "forceFull"}, true
	case TypeSyncLeads:
		return []string{"statuses", "forceFull", "retryFailuresAfter", "verifyIdsEvery"}, true
	case TypeEngagementMetrics:
		return []string{"customObject", "fields", "modules", "categories", "forceFull", "retryFailuresAfter"}, true
	case TypeInterestMetrics:
		return []string{"customObject", "fields", "modules", "include", "tagAllowList", "categories", "forceFull", "retryFailuresAfter"}, true
	}
	return nil, false
}

// JobTypes lists the configurable job types.
func JobTypes() []string {
	return []string{TypeImportLeads, TypeImportProfiles, TypeTriggerCampaign, TypeSyncLeads, TypeEngagementMetrics, TypeInterestMetrics}
}

var tokenRE = regexp.MustCompile(`^\{\{my\.[^{}]+\}\}$`)

// Validate checks a job on its own (status names are checked against a
// connection's vocabulary by ValidateFor).
func (j Job) Validate() error {
	l := &errList{object: "job", id: j.ID}
	j.validate(l)
	return l.err()
}

// ValidateFor checks the job and that every status it names exists in the
// connection's vocabulary and that the connection is the job's account.
func (j Job) ValidateFor(c Connection) error {
	l := &errList{object: "job", id: j.ID}
	j.validate(l)
	if c.Account != j.Account {
		l.add("account", "connection is for account %q", c.Account)
	}
	check := func(field, name string) {
		if name == "" {
			return
		}
		if _, ok := c.StatusCategory(name); !ok {
			l.add(field, "unknown registration status %q for account %q", name, c.Account)
		}
	}
	p := j.Params
	check("params.registrationStatus", p.RegistrationStatus)
	check("params.toStatus", p.ToStatus)
	check("params.fromStatus", p.FromStatus)
	for i, s := range p.Statuses {
		check(fmt.Sprintf("params.statuses[%d]", i), s)
	}
	for i, s := range p.SyncStatuses {
		check(fmt.Sprintf("params.syncStatuses[%d]", i), s)
	}
	return l.err()
}

func (j Job) validate(l *errList) {
	allowed, known := paramFields(j.Type)
	j.validateIdentity(l, known)
	validateSchedule(l, j.Schedule)
	if !known {
		return
	}
	validateParamsUsed(l, j.Type, j.Params, allowed)
	switch j.Type {
	case TypeImportLeads, TypeImportProfiles:
		validateImportParams(l, j.Type, j.Params)
	case TypeTriggerCampaign:
		validateTriggerParams(l, j.Params)
	case TypeSyncLeads:
		validateSyncParams(l, j.Params)
	case TypeEngagementMetrics, TypeInterestMetrics:
		validateMetricsParams(l, j.Type, j.Params)
	}
}

// validateIdentity checks the id, account, type and event; knownType says
// whether the type is one of JobTypes.
func (j Job) validateIdentity(l *errList, knownType bool) {
	if j.ID == "" {
		l.add("id", "required")
	} else if !keyRE.MatchString(j.ID) {
		l.add("id", "must be 1-128 letters, digits, '.', '_' or '-'")
	}
	if j.Account == "" {
		l.add("account", "required")
	}
	if !knownType {
		l.add("type", "must be one of %s, got %q", strings.Join(JobTypes(), ", "), j.Type)
	}
	if j.Type == TypeImportProfiles {
		if j.Event != "" {
			l.add("event", "must be empty for the account-level job type %q", j.Type)
		}
	} else if j.Event == "" {
		l.add("event", "required")
	}
}

// validateParamsUsed rejects params fields of other job types.
func validateParamsUsed(l *errList, jobType string, p Params, allowed []string) {
	pv := reflect.ValueOf(p)
	pt := pv.Type()
	for i := range pt.NumField() {
		name, _, _ := strings.Cut(pt.Field(i).Tag.Get("json"), ",")
		if !pv.Field(i).IsZero() && !slices.Contains(allowed, name) {
			l.add("params."+name, "not used by job type %q", jobType)
		}
	}
}

func validateImportParams(l *errList, jobType string, p Params) {
	if p.ListID <= 0 {
		l.add("params.listId", "required (a Marketo static list id)")
	}
	if jobType == TypeImportLeads && strings.TrimSpace(p.RegistrationStatus) == "" {
		l.add("params.registrationStatus", "required")
	}
}

func validateTriggerParams(l *errList, p Params) {
	if p.CampaignID <= 0 {
		l.add("params.campaignId", "required (a Marketo trigger campaign id)")
	}
	if strings.TrimSpace(p.ToStatus) == "" {
		l.add("params.toStatus", "required")
	}
	if p.FromStatus != "" && normStatus(p.FromStatus) == normStatus(p.ToStatus) {
		l.add("params.fromStatus", "must differ from toStatus")
	}
	validateTokens(l, p.Tokens)
	if len(p.SyncStatuses) > 0 && !p.RunSyncLeads {
		l.add("params.syncStatuses", "only used with runSyncLeads")
	}
}

// validateTokens checks a trigger-campaign job's My Tokens: at most
// MaxTokens, each named {{my.Name}} once, with a value or a field.
func validateTokens(l *errList, tokens []TokenSpec) {
	if len(tokens) > MaxTokens {
		l.add("params.tokens", "at most %d tokens, got %d", MaxTokens, len(tokens))
	}
	names := map[string]bool{}
	for i, t := range tokens {
		f := fmt.Sprintf("params.tokens[%d]", i)
		if !tokenRE.MatchString(t.Name) {
			l.add(f+".name", "must look like {{my.Name}}, got %q", t.Name)
		} else if names[strings.ToLower(t.Name)] {
			l.add(f+".name", "token %q repeats", t.Name)
		}
		names[strings.ToLower(t.Name)] = true
		if (t.Value == "") == (t.Field == "") {
			l.add(f, "exactly one of value or field required")
		}
	}
}

func validateSyncParams(l *errList, p Params) {
	if p.RetryFailuresAfter < 0 {
		l.add("params.retryFailuresAfter", "must not be negative")
	}
	if v := p.VerifyIDsInterval(); v < 0 || v > MaxVerifyIDsEvery {
		l.add("params.verifyIdsEvery", "must be between 0s (every run) and %s, got %s", Duration(MaxVerifyIDsEvery), Duration(v))
	}
	if len(p.Statuses) == 0 {
		l.add("params.statuses", "at least one status required")
	}
	for i, s := range p.Statuses {
		if strings.TrimSpace(s) == "" {
			l.add(fmt.Sprintf("params.statuses[%d]", i), "empty status")
		}
	}
}

// validateMetricsParams checks engagement-metrics and interest-metrics.
func validateMetricsParams(l *errList, jobType string, p Params) {
	if p.RetryFailuresAfter < 0 {
		l.add("params.retryFailuresAfter", "must not be negative")
	}
	// params.customObject is optional: Job.WithDefaults gives the metrics
	// jobs their documented objects (DefaultEngagementObject,
	// DefaultInterestObject).
	// params.fields is optional: every logical field has a documented
	// default field name (lib/jobs metrics documentation).
	for k, v := range p.Fields {
		if strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
			l.add("params.fields", "empty name in %q: %q", k, v)
		}
	}
	for i, c := range p.Categories {
		if !slices.Contains(statusCategories(), c) {
			l.add(fmt.Sprintf("params.categories[%d]", i), "must be one of %s, got %q", strings.Join(statusCategories(), ", "), c)
		}
	}
	mods := []string{ModuleAgenda, ModuleSpeakerSession, ModuleEventViews, ModuleMobile, ModuleSSA, ModuleAppointmentMatching}
	if jobType == TypeInterestMetrics {
		mods = []string{ModuleSpeakerSession}
		validateInclude(l, p.Include)
	}
	for i, m := range p.Modules {
		if !slices.Contains(mods, m) {
			l.add(fmt.Sprintf("params.modules[%d]", i), "must be one of %s, got %q", strings.Join(mods, ", "), m)
		}
	}
}

// validateInclude checks interest-metrics' params.include.
func validateInclude(l *errList, include []string) {
	if len(include) == 0 {
		l.add("params.include", "at least one of registered, attended required")
	}
	for i, in := range include {
		if in != "registered" && in != "attended" {
			l.add(fmt.Sprintf("params.include[%d]", i), "must be registered or attended, got %q", in)
		}
	}
}

func validateSchedule(l *errList, s Schedule) {
	kinds := 0
	if s.At != nil {
		kinds++
	}
	if s.Interval != 0 {
		kinds++
	}
	if s.Cron != "" {
		kinds++
	}
	if kinds != 1 {
		l.add("schedule", "exactly one of at, interval or cron required")
	}
	if s.Interval != 0 && time.Duration(s.Interval) < MinInterval {
		l.add("schedule.interval", "must be at least %s, got %s", Duration(MinInterval), s.Interval)
	}
	if s.Cron != "" {
		if _, err := parseCron(s.Cron); err != nil {
			l.add("schedule.cron", "%v", err)
		}
	}
	if s.Timezone != "" {
		if s.Cron == "" {
			l.add("schedule.timezone", "only used with cron")
		} else if _, err := time.LoadLocation(s.Timezone); err != nil {
			l.add("schedule.timezone", "unknown time zone %q", s.Timezone)
		}
	}
	if s.Start != nil && s.End != nil && !s.End.After(*s.Start) {
		l.add("schedule.end", "must be after start")
	}
	if s.At != nil && ((s.Start != nil && s.At.Before(*s.Start)) || (s.End != nil && s.At.After(*s.End))) {
		l.add("schedule.at", "outside the start/end window")
	}
}

// validateMapping checks the field mapping: both names given, no Marketo
// field mapped twice, and, where both types are known offline (the Certain
// field is one docs/certain.md names; the Marketo field is standard or in
// marketoFieldTypes), that values of the Certain field can fit the Marketo
// field, and that it is writable.
func (c Connection) validateMapping(l *errList) {
	targets := map[string]int{}
	for i, m := range c.FieldMapping {
		f := fmt.Sprintf("fieldMapping[%d]", i)
		if strings.TrimSpace(m.Certain) == "" {
			l.add(f+".certain", "required")
		}
		if strings.TrimSpace(m.Marketo) == "" {
			l.add(f+".marketo", "required")
		} else if j, dup := targets[strings.ToLower(m.Marketo)]; dup {
			l.add(f+".marketo", "Marketo field %q is already mapped by fieldMapping[%d]", m.Marketo, j)
		} else {
			targets[strings.ToLower(m.Marketo)] = i
		}
	}
	for i, m := range c.FieldMapping {
		mf, known := c.MarketoLeadField(strings.TrimSpace(m.Marketo))
		if !known || strings.TrimSpace(m.Certain) == "" {
			continue
		}
		f := fmt.Sprintf("fieldMapping[%d]", i)
		if mf.ReadOnly {
			l.add(f+".marketo", "Marketo field %q is read-only", m.Marketo)
		}
		if k := fieldtype.CertainKind(m.Certain); !fieldtype.Fits(k, mf.DataType) {
			l.add(f, "type mismatch: Certain field %q holds %s values, which cannot fit Marketo field %q (%s)", m.Certain, k, m.Marketo, mf.DataType)
		}
	}
}
