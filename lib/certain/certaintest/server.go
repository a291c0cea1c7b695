// Package certaintest is an in-memory Certain REST server for tests, the demo
// and benchmarks, in the spirit of net/http/httptest.
//
// It implements the default contract of docs/CERTAIN.md (sections 4, 5 and 8)
// so that the real lib/certain client, with its URL building, auth, paging
// and retries, is what the tests exercise. Field names that CERTAIN.md marks
// as assumed come from certain.FieldNames, so a non-default tenant shape can
// be simulated too.
//
// Rules the simulator enforces (and where CERTAIN.md is silent, chooses):
//   - Basic auth; a wrong user or password is 401 with a plain-text message.
//   - Collections page with start_index/max_results in the configured mode,
//     return the envelope (size, completeCollectionSize, maxResults, key),
//     and answer 404 when the page is empty (an empty search).
//   - Filters: dateModified_after/_before and dateCreated_after/_before are
//     strict; any other parameter is a scalar field=value filter compared as
//     a string, except that email is compared case-insensitively (Certain
//     e-mail matching is assumed to ignore case, which is what makes
//     same-address-different-case duplicates visible to the jobs).
//     Dotted names ("profile.email") reach nested objects.
//   - orderBy={field}_{asc|desc}; otherwise insertion order.
//   - includeList=tags (or include_list) adds the tags field to agenda items
//     and sessions; without it the tags are left out.
//   - POST to a collection creates (code generated), POST to a record merges
//     only the sent fields; both set dateModified from the clock, which is
//     truncated to whole seconds like the wire format.
//
// It is built to stay fast at benchmark scale (100,000 leads): a profile
// search by email or by the external id field is an index look-up, the
// duplicate-registration check is a per-event look-up by pin, and the rows a
// query selects are filtered and sorted once and reused for its later pages
// until the next write. Other filters still scan the collection.
//
// Seeding errors (an unknown profile pin, a missing code) are reported with
// t.Errorf when the server was built with a testing.TB, and otherwise
// collected and returned by Err.
package certaintest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/clock"
)

const (
	v1Base = "/certainExternal/service/v1/"
	v2Base = "/api/standard/2.0/"
	wire   = "2006-01-02T15:04:05"
)

// Default credentials of a simulator built without WithCredentials.
const (
	DefaultUsername = "certain-sim"
	DefaultPassword = "certain-sim-password"
)

// Call is one request seen by the simulator.
type Call struct {
	Method string
	Path   string // URL path as received
	Query  string // raw query
	Status int    // 0 when the connection was dropped
}

// Option configures a Server.
type Option func(*Server)

// WithPagingMode sets how start_index is read: "offset0" (default), "offset1", "page1".
func WithPagingMode(mode string) Option { return func(s *Server) { s.paging = mode } }

// WithFieldNames sets the tenant's field names (zero values = defaults).
func WithFieldNames(f certain.FieldNames) Option {
	return func(s *Server) { s.fields = f.WithDefaults() }
}

// WithClock sets the clock used for dateCreated/dateModified.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithPageSizeCap caps max_results (a server that returns fewer rows than asked).
func WithPageSizeCap(n int) Option { return func(s *Server) { s.pageCap = n } }

// WithCredentials sets the accepted Basic-auth user and password.
func WithCredentials(user, pass string) Option {
	return func(s *Server) { s.user, s.pass = user, pass }
}

// WithLatency delays every response by d.
func WithLatency(d time.Duration) Option { return func(s *Server) { s.latency = d } }

// Clock is a manual clock for WithClock (lib/clock.Manual).
type Clock = clock.Manual

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return clock.NewManual(t) }

// Server is the simulator. It is an http.Handler; NewServer also serves it
// on a loopback listener.
type Server struct {
	URL string // base URL for certain.Config.BaseURL ("" for New)

	ts      *httptest.Server
	t       testing.TB
	paging  string
	fields  certain.FieldNames
	now     func() time.Time
	pageCap int
	user    string
	pass    string

	mu       sync.Mutex
	latency  time.Duration
	accounts map[string]*account
	calls    []Call
	faults   []*fault
	seq      int
	seedErrs []error
	gen      int // bumped on every write; invalidates sorted
	sortGen  int // the gen sorted was filled at
	sorted   map[string]sortEntry
}

type sortEntry struct {
	gen  int
	recs []*rec
}

type rec struct {
	f        map[string]any
	created  time.Time
	modified time.Time
	ord      int // position in its collection's insertion order (profiles, registrations)
}

// recSet is an index bucket. Order is not kept: a look-up sorts its (few)
// hits by ord to get insertion order back.
type recSet map[*rec]struct{}

// account holds the profiles in insertion order (profiles[pin] is
// profileList[ord]) and indexes them by the searchable fields, so a profile
// search is a map look-up, not a scan: byField[field][foldKey(value)].
type account struct {
	profiles    map[string]*rec
	profileList []*rec
	byField     map[string]map[string]recSet
	events      map[string]*eventData
	eventIDs    []string
}

// eventData keeps registrations in insertion order (regs[code] is
// regList[ord]) and indexed by profile pin for the duplicate check.
type eventData struct {
	ev           *rec
	regs         map[string]*rec
	regList      []*rec
	byPin        map[string]recSet
	agendaItems  []*rec
	agendaLines  []*rec
	sessions     []*rec
	sessionLines []*rec // carry instanceId
	appointments []*rec
}

type fault struct {
	pattern    string
	n          int
	status     int
	retryAfter time.Duration
	drop       bool
}

// New returns a simulator that is not listening; use it as an http.Handler
// (infra/certain-sim does).
func New(opts ...Option) *Server {
	s := &Server{
		paging: certain.PagingOffset0, fields: certain.Defaults(), now: time.Now,
		user: DefaultUsername, pass: DefaultPassword,
		accounts: map[string]*account{}, sorted: map[string]sortEntry{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// NewServer starts a simulator on loopback. With a non-nil t the server is
// closed by t.Cleanup and seeding errors fail the test; with nil, call Close.
func NewServer(t testing.TB, opts ...Option) *Server {
	s := New(opts...)
	s.t = t
	s.ts = httptest.NewServer(s)
	s.URL = s.ts.URL
	if t != nil {
		t.Helper()
		t.Cleanup(s.Close)
	}
	return s
}

// Close stops the listener started by NewServer.
func (s *Server) Close() {
	if s.ts != nil {
		s.ts.Close()
	}
}

// Username returns the accepted user.
func (s *Server) Username() string { return s.user }

// Password returns the accepted password.
func (s *Server) Password() string { return s.pass }

// Fields returns the simulated tenant's field names.
func (s *Server) Fields() certain.FieldNames { return s.fields }

// Config returns a certain.Config pointed at this server, with the server's
// field names and paging mode and a Sleep that does not wait.
func (s *Server) Config() certain.Config {
	return certain.Config{
		BaseURL: s.URL, Username: s.user, Password: s.pass, AllowHTTP: true,
		Fields: s.fields, PagingMode: s.paging,
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
	}
}

// Err returns the seeding errors collected when the server has no testing.TB.
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.seedErrs...)
}

func (s *Server) seedFail(format string, args ...any) {
	err := fmt.Errorf("certaintest: "+format, args...)
	if s.t != nil {
		s.t.Helper()
		s.t.Error(err)
		return
	}
	s.seedErrs = append(s.seedErrs, err)
}

// SetLatency changes the delay added to every response.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// FailNext makes the next n requests whose path matches pathPattern answer
// status (with a Retry-After header when retryAfter > 0). pathPattern is
// matched against the path below the API base ("Registration/ACME/HS26",
// "accounts/ACME/events/HS26/sessions"): as a prefix, or as a path.Match glob
// when it contains * ? or [. "" matches every request.
func (s *Server) FailNext(pathPattern string, n int, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{pattern: pathPattern, n: n, status: status, retryAfter: retryAfter})
}

// DropNext makes the next n matching requests lose their connection without
// an answer.
func (s *Server) DropNext(pathPattern string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{pattern: pathPattern, n: n, drop: true})
}

// Calls returns every request seen so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CountCalls counts requests with method ("" = any) whose path below the API
// base starts with resourcePrefix.
func (s *Server) CountCalls(method, resourcePrefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if (method == "" || c.Method == method) && strings.HasPrefix(rel(c.Path), resourcePrefix) {
			n++
		}
	}
	return n
}

func rel(p string) string {
	if r, ok := strings.CutPrefix(p, v1Base); ok {
		return r
	}
	if r, ok := strings.CutPrefix(p, v2Base); ok {
		return r
	}
	return p
}

func matches(pattern, p string) bool {
	if pattern == "" {
		return true
	}
	r := rel(p)
	if strings.ContainsAny(pattern, "*?[") {
		ok, _ := path.Match(pattern, r)
		return ok
	}
	return strings.HasPrefix(r, pattern)
}

// ---- seeding ----

func (s *Server) acct(code string) *account {
	a := s.accounts[code]
	if a == nil {
		a = &account{profiles: map[string]*rec{}, byField: map[string]map[string]recSet{}, events: map[string]*eventData{}}
		s.accounts[code] = a
	}
	return a
}

func (s *Server) event(acct, code string) *eventData {
	a := s.acct(acct)
	e := a.events[code]
	if e == nil {
		t := s.stamp()
		e = &eventData{ev: &rec{f: map[string]any{"eventCode": code, "accountCode": acct, "isActive": true}, created: t, modified: t}, regs: map[string]*rec{}, byPin: map[string]recSet{}}
		a.events[code] = e
		a.eventIDs = append(a.eventIDs, code)
	}
	return e
}

func (s *Server) stamp() time.Time { return s.now().UTC().Truncate(time.Second) }

// newRec copies fields; time.Time or string values of dateCreated and
// dateModified set the record's timestamps, otherwise the clock does.
func (s *Server) newRec(fields map[string]any) *rec {
	s.gen++
	r := &rec{f: make(map[string]any, len(fields)+2)}
	now := s.stamp()
	r.created, r.modified = now, now
	for k, v := range fields {
		switch k {
		case "dateCreated", "dateModified":
			t, ok := v.(time.Time)
			if !ok {
				t = certain.ParseTime(fmt.Sprint(v))
			}
			if k == "dateCreated" {
				r.created = t.UTC()
			} else {
				r.modified = t.UTC()
			}
		default:
			r.f[k] = jsonValue(v)
		}
	}
	return r
}

// jsonValue normalises seeded Go values to what JSON decoding would give, so
// filters and merges compare like the wire.
func jsonValue(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	case []int:
		out := make([]any, len(x))
		for i, n := range x {
			out[i] = float64(n)
		}
		return out
	case []float64:
		out := make([]any, len(x))
		for i, n := range x {
			out[i] = n
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonValue(e)
		}
		return out
	}
	return v
}

// numericID takes a record's numeric id from its field, or gives it the next
// one above base, and stores it as JSON numbers decode (float64). mu held.
func (s *Server) numericID(r *rec, field string, base int) int {
	id := int(toFloat(r.f[field]))
	if id == 0 {
		s.seq++
		id = base + s.seq
	}
	r.f[field] = float64(id)
	return id
}

func (s *Server) nextCode(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s-%06d", prefix, s.seq)
}

// AddAccount makes an account exist (seeding anything into it does too);
// requests for an unknown account get 404.
func (s *Server) AddAccount(acct string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acct(acct)
}

// AddEvent adds or replaces an event. fields must carry eventCode; eventName,
// startDate, endDate, isActive are the fields the jobs read.
func (s *Server) AddEvent(acct string, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	code, _ := fields["eventCode"].(string)
	if acct == "" || code == "" {
		s.seedFail("AddEvent: account and eventCode are required")
		return
	}
	e := s.event(acct, code)
	r := s.newRec(fields)
	r.f["accountCode"] = acct
	if _, ok := r.f["isActive"]; !ok {
		r.f["isActive"] = true
	}
	e.ev = r
}

// AddProfile adds an account-level profile and returns its pin (taken from
// fields["pin"] or generated as "P-nnnnnn").
func (s *Server) AddProfile(acct string, fields map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if acct == "" {
		s.seedFail("AddProfile: account is required")
		return ""
	}
	return s.addProfile(acct, s.newRec(fields))
}

func (s *Server) addProfile(acct string, r *rec) string {
	a := s.acct(acct)
	pin, _ := r.f["pin"].(string)
	if pin == "" {
		pin = s.nextCode("P")
		r.f["pin"] = pin
	}
	if old, dup := a.profiles[pin]; dup {
		s.unindexProfile(a, old)
		r.ord = old.ord
		a.profileList[r.ord] = r
	} else {
		r.ord = len(a.profileList)
		a.profileList = append(a.profileList, r)
	}
	a.profiles[pin] = r
	s.indexProfile(a, r)
	return pin
}

// indexedFields are the profile fields a search finds through byField: the
// ones the jobs search by (CERTAIN.md section 7). The timestamps are read
// from the record, not its fields, so they are never indexed.
func (s *Server) indexedFields() []string {
	if x := s.fields.ExternalID; x != "email" && x != "dateModified" && x != "dateCreated" && x != "" {
		return []string{"email", x}
	}
	return []string{"email"}
}

// indexProfile files r under each indexed field it has. The key folds case
// for every field: a bucket is a superset of the exact matches, and
// collection re-checks each hit with the same rule a scan applies.
func (s *Server) indexProfile(a *account, r *rec) {
	for _, field := range s.indexedFields() {
		v, ok := lookup(r.f, field)
		if !ok {
			continue
		}
		idx := a.byField[field]
		if idx == nil {
			idx = map[string]recSet{}
			a.byField[field] = idx
		}
		k := foldKey(v)
		if idx[k] == nil {
			idx[k] = recSet{}
		}
		idx[k][r] = struct{}{}
	}
}

// unindexProfile removes r from the indexes; call it before r's fields
// change and indexProfile after.
func (s *Server) unindexProfile(a *account, r *rec) {
	for _, field := range s.indexedFields() {
		v, ok := lookup(r.f, field)
		if !ok {
			continue
		}
		k := foldKey(v)
		if set := a.byField[field][k]; set != nil {
			delete(set, r)
			if len(set) == 0 {
				delete(a.byField[field], k)
			}
		}
	}
}

// findProfiles returns the profiles filed under field and value's fold key,
// in insertion order; ok is false when field is not indexed.
func (a *account) findProfiles(field, value string) (hits []*rec, ok bool) {
	idx, ok := a.byField[field]
	if !ok {
		return nil, false
	}
	return sortedByOrd(idx[foldKey(value)]), true
}

func sortedByOrd(set recSet) []*rec {
	out := make([]*rec, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y *rec) int { return cmp.Compare(x.ord, y.ord) })
	return out
}

// foldKey maps s to a key shared by every string strings.EqualFold accepts
// as equal to it: each rune becomes the smallest rune of its case-folding
// orbit (ASCII letters their upper case).
func foldKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		lo := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			lo = min(lo, f)
		}
		b.WriteRune(lo)
	}
	return b.String()
}

// AddRegistration registers profile pin for an event and returns the
// registration code (fields["registrationCode"] or generated "R-nnnnnn").
// isActive defaults to true; the status lives in the tenant's status field.
func (s *Server) AddRegistration(acct, event, pin string, fields map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if acct == "" || event == "" {
		s.seedFail("AddRegistration: account and event are required")
		return ""
	}
	if _, ok := s.acct(acct).profiles[pin]; !ok {
		s.seedFail("AddRegistration: profile %q does not exist in account %q", pin, acct)
		return ""
	}
	return s.addRegistration(acct, event, pin, s.newRec(fields))
}

func (s *Server) addRegistration(acct, event, pin string, r *rec) string {
	e := s.event(acct, event)
	code, _ := r.f["registrationCode"].(string)
	if code == "" {
		code = s.nextCode("R")
	}
	r.f["registrationCode"] = code
	r.f["eventCode"] = event
	r.f["accountCode"] = acct
	r.f["profile"] = pin // rendered as the current profile object
	if _, ok := r.f["isActive"]; !ok {
		r.f["isActive"] = true
	}
	if old, dup := e.regs[code]; dup {
		oldPin, _ := old.f["profile"].(string)
		if set := e.byPin[oldPin]; set != nil {
			delete(set, old)
			if len(set) == 0 {
				delete(e.byPin, oldPin)
			}
		}
		r.ord = old.ord
		e.regList[r.ord] = r
	} else {
		r.ord = len(e.regList)
		e.regList = append(e.regList, r)
	}
	e.regs[code] = r
	if e.byPin[pin] == nil {
		e.byPin[pin] = recSet{}
	}
	e.byPin[pin][r] = struct{}{}
	return code
}

// registeredAs returns the code of pin's first registration for the event
// (in insertion order), or "".
func (e *eventData) registeredAs(pin string) string {
	var first *rec
	for r := range e.byPin[pin] {
		if first == nil || r.ord < first.ord {
			first = r
		}
	}
	if first == nil {
		return ""
	}
	code, _ := first.f["registrationCode"].(string)
	return code
}

// AddAgendaItem adds an agenda item; fields must carry activityCode. Tags go
// in the tenant's tags field ([]string), points in its points field.
func (s *Server) AddAgendaItem(acct, event string, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code, _ := fields["activityCode"].(string); acct == "" || event == "" || code == "" {
		s.seedFail("AddAgendaItem: account, event and activityCode are required")
		return
	}
	r := s.newRec(fields)
	if _, ok := r.f["isActive"]; !ok {
		r.f["isActive"] = true
	}
	e := s.event(acct, event)
	e.agendaItems = append(e.agendaItems, r)
}

// AddAgendaLine adds a RegistrationAgenda row; fields must carry
// registrationCode and activityCode, and usually status and rating.
func (s *Server) AddAgendaLine(acct, event string, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rc, _ := fields["registrationCode"].(string)
	ac, _ := fields["activityCode"].(string)
	if acct == "" || event == "" || rc == "" || ac == "" {
		s.seedFail("AddAgendaLine: account, event, registrationCode and activityCode are required")
		return
	}
	r := s.newRec(fields)
	r.f["eventCode"] = event
	e := s.event(acct, event)
	e.agendaLines = append(e.agendaLines, r)
}

// AddSession adds a session instance and returns its instanceId (from fields
// or generated). Useful fields: sessionCode, sessionTitle, tags, points.
func (s *Server) AddSession(acct, event string, fields map[string]any) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if acct == "" || event == "" {
		s.seedFail("AddSession: account and event are required")
		return 0
	}
	r := s.newRec(fields)
	id := s.numericID(r, "instanceId", 5000)
	e := s.event(acct, event)
	e.sessions = append(e.sessions, r)
	return id
}

// AddSessionLine registers a registration to a session instance; fields carry
// registrationCode, registrationStatus ("Registered"/"Attended") and the
// tenant's session rating field.
func (s *Server) AddSessionLine(acct, event string, instanceID int, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.event(acct, event)
	var sess *rec
	for _, x := range e.sessions {
		if int(toFloat(x.f["instanceId"])) == instanceID {
			sess = x
		}
	}
	rc, _ := fields["registrationCode"].(string)
	if sess == nil || rc == "" {
		s.seedFail("AddSessionLine: session %d of %s/%s does not exist or registrationCode is missing", instanceID, acct, event)
		return
	}
	r := s.newRec(fields)
	r.f["instanceId"] = float64(instanceID)
	r.f["sessionCode"] = sess.f["sessionCode"]
	e.sessionLines = append(e.sessionLines, r)
}

// AddAppointment adds an appointment and returns its appointmentId (from
// fields or generated). Fields: status, appointmentSource, appointmentRating
// ([]int or []float64), registration and targetRegistration
// ({"regCode":…,"name":…}).
func (s *Server) AddAppointment(acct, event string, fields map[string]any) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if acct == "" || event == "" {
		s.seedFail("AddAppointment: account and event are required")
		return 0
	}
	r := s.newRec(fields)
	id := s.numericID(r, "appointmentId", 80000)
	r.f["eventCode"] = event
	e := s.event(acct, event)
	e.appointments = append(e.appointments, r)
	return id
}

// SetRegistrationStatus changes a registration's status and bumps its
// dateModified, as a status change in the Certain UI would.
func (s *Server) SetRegistrationStatus(acct, event, regCode, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[acct]
	var r *rec
	if a != nil && a.events[event] != nil {
		r = a.events[event].regs[regCode]
	}
	if r == nil {
		s.seedFail("SetRegistrationStatus: registration %s/%s/%s does not exist", acct, event, regCode)
		return
	}
	r.f[s.fields.RegistrationStatus] = status
	r.modified = s.stamp()
	s.gen++
}

// Profiles returns the account's profiles as the API renders them, in
// creation order.
func (s *Server) Profiles(acct string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[acct]
	if a == nil {
		return nil
	}
	out := make([]map[string]any, 0, len(a.profileList))
	for _, r := range a.profileList {
		out = append(out, render(r))
	}
	return out
}

// Registrations returns an event's registrations (with embedded profiles) in
// creation order.
func (s *Server) Registrations(acct, event string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[acct]
	if a == nil || a.events[event] == nil {
		return nil
	}
	e := a.events[event]
	out := make([]map[string]any, 0, len(e.regList))
	for _, r := range e.regList {
		out = append(out, s.renderReg(a, r))
	}
	return out
}

func render(r *rec) map[string]any {
	m := make(map[string]any, len(r.f)+2)
	for k, v := range r.f {
		m[k] = v
	}
	m["dateCreated"] = r.created.Format(wire)
	m["dateModified"] = r.modified.Format(wire)
	return m
}

func (s *Server) renderReg(a *account, r *rec) map[string]any {
	m := render(r)
	if pin, ok := r.f["profile"].(string); ok {
		if p := a.profiles[pin]; p != nil {
			m["profile"] = render(p)
		} else {
			m["profile"] = map[string]any{"pin": pin}
		}
	}
	return m
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case string:
		f, _ := strconv.ParseFloat(x, 64)
		return f
	}
	return 0
}

// ---- HTTP ----

type httpErr struct {
	status int
	msg    string
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	lat := s.latency
	var f *fault
	for _, x := range s.faults {
		if x.n > 0 && matches(x.pattern, r.URL.Path) {
			x.n--
			f = x
			break
		}
	}
	s.mu.Unlock()
	if lat > 0 {
		select {
		case <-time.After(lat):
		case <-r.Context().Done():
		}
	}
	if f != nil && f.drop {
		s.log(r, 0)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if f != nil {
		if f.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((f.retryAfter+time.Second-1)/time.Second)))
		}
		s.plain(w, r, f.status, fmt.Sprintf("simulated fault %d", f.status))
		return
	}
	u, p, ok := r.BasicAuth()
	if !ok || u != s.user || p != s.pass {
		s.plain(w, r, http.StatusUnauthorized, "Invalid username or password")
		return
	}
	var body map[string]any
	if r.Method == http.MethodPost {
		b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err == nil {
			err = json.Unmarshal(b, &body)
		}
		if err != nil || body == nil {
			s.plain(w, r, http.StatusBadRequest, "request body must be a JSON object")
			return
		}
	}
	s.mu.Lock()
	out, herr := s.route(r, body)
	s.mu.Unlock()
	if herr != nil {
		s.plain(w, r, herr.status, herr.msg)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.plain(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	status := http.StatusOK
	if r.Method == http.MethodPost && created(r) {
		status = http.StatusCreated
	}
	s.log(r, status)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func created(r *http.Request) bool {
	parts := strings.Split(strings.Trim(rel(r.URL.Path), "/"), "/")
	return len(parts) == 2 && parts[0] == "Profile" || len(parts) == 3 && parts[0] == "Registration"
}

func (s *Server) log(r *http.Request, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: status})
}

func (s *Server) plain(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.log(r, status)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

func notFound(format string, args ...any) *httpErr {
	return &httpErr{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *httpErr {
	return &httpErr{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// route runs with s.mu held.
func (s *Server) route(r *http.Request, body map[string]any) (any, *httpErr) {
	p := r.URL.Path
	q := r.URL.Query()
	var parts []string
	v2 := false
	switch {
	case strings.HasPrefix(p, v1Base):
		parts = strings.Split(strings.Trim(p[len(v1Base):], "/"), "/")
	case strings.HasPrefix(p, v2Base):
		parts = strings.Split(strings.Trim(p[len(v2Base):], "/"), "/")
		v2 = true
	default:
		return nil, notFound("no such API path %s", p)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return nil, &httpErr{http.StatusMethodNotAllowed, "method " + r.Method + " not supported"}
	}
	if v2 {
		return s.routeV2(r, parts, q)
	}
	if len(parts) < 2 {
		return nil, notFound("no such resource %s", p)
	}
	a := s.accounts[parts[1]]
	if a == nil {
		return nil, notFound("account %s not found", parts[1])
	}
	get := r.Method == http.MethodGet
	switch obj := parts[0]; {
	case obj == "Event" && get && len(parts) == 2:
		recs := make([]*rec, 0, len(a.eventIDs))
		for _, c := range a.eventIDs {
			recs = append(recs, a.events[c].ev)
		}
		return s.collection(q, view{key: "events", recs: recs})
	case obj == "Event" && get && len(parts) == 3:
		e := a.events[parts[2]]
		if e == nil {
			return nil, notFound("event %s not found", parts[2])
		}
		return render(e.ev), nil
	case obj == "Profile":
		return s.profileRoute(a, parts[1], parts[2:], r.Method, q, body)
	}
	if len(parts) < 3 {
		return nil, notFound("no such resource %s", p)
	}
	e := a.events[parts[2]]
	if e == nil {
		return nil, notFound("event %s not found", parts[2])
	}
	rest := parts[3:]
	switch parts[0] {
	case "Registration":
		return s.registrationRoute(a, parts[1], parts[2], e, rest, r.Method, q, body)
	case "AgendaItem":
		if !get {
			break
		}
		rend := s.tagRender(tagsWanted(q))
		if len(rest) == 1 {
			for _, r := range e.agendaItems {
				if r.f["activityCode"] == rest[0] {
					return rend(r), nil
				}
			}
			return nil, notFound("agenda item %s not found", rest[0])
		}
		return s.collection(q, view{key: "agendaItems", recs: e.agendaItems, render: rend})
	case "RegistrationAgenda":
		if !get {
			break
		}
		recs := e.agendaLines
		if len(rest) >= 1 {
			recs = filter(recs, "registrationCode", rest[0])
		}
		if len(rest) >= 2 {
			recs = filter(recs, "activityCode", rest[1])
		}
		return s.collection(q, view{key: "registrationAgendas", recs: recs})
	case "Appointments":
		if !get {
			break
		}
		return s.collection(q, view{key: "appointments", recs: e.appointments})
	}
	return nil, notFound("no such resource %s %s", r.Method, p)
}

func tagsWanted(q map[string][]string) bool {
	for _, k := range []string{"includeList", "include_list"} {
		for _, v := range q[k] {
			for _, item := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(item), "tags") {
					return true
				}
			}
		}
	}
	return false
}

func (s *Server) tagRender(withTags bool) func(*rec) map[string]any {
	return func(r *rec) map[string]any {
		m := render(r)
		if !withTags {
			delete(m, s.fields.Tags)
		}
		return m
	}
}

func filter(recs []*rec, field, value string) []*rec {
	var out []*rec
	for _, r := range recs {
		if v, ok := lookup(r.f, field); ok && v == value {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) profileRoute(a *account, acct string, rest []string, method string, q map[string][]string, body map[string]any) (any, *httpErr) {
	switch {
	case method == http.MethodGet && len(rest) == 0:
		return s.collection(q, view{key: "profiles", cacheKey: "P\x00" + acct, recs: a.profileList, index: a.findProfiles})
	case method == http.MethodGet && len(rest) == 1:
		p := a.profiles[rest[0]]
		if p == nil {
			return nil, notFound("profile %s not found", rest[0])
		}
		return render(p), nil
	case method == http.MethodPost && len(rest) == 0:
		if pin, _ := body["pin"].(string); pin != "" {
			return nil, badRequest("pin is assigned by Certain; POST to Profile/%s/%s to update", acct, pin)
		}
		r := s.newRec(body)
		s.addProfile(acct, r)
		return render(r), nil
	case method == http.MethodPost && len(rest) == 1:
		p := a.profiles[rest[0]]
		if p == nil {
			return nil, notFound("profile %s not found", rest[0])
		}
		s.gen++
		s.unindexProfile(a, p)
		merge(p, body, s.stamp(), "pin")
		s.indexProfile(a, p)
		return render(p), nil
	}
	return nil, notFound("no such Profile resource")
}

// merge applies only the sent fields; protected keys are ignored.
func merge(r *rec, body map[string]any, now time.Time, protected ...string) {
	for k, v := range body {
		if slices.Contains(protected, k) || k == "dateCreated" || k == "dateModified" {
			continue
		}
		if sub, ok := v.(map[string]any); ok {
			if cur, ok := r.f[k].(map[string]any); ok {
				nm := make(map[string]any, len(cur)+len(sub))
				for ck, cv := range cur {
					nm[ck] = cv
				}
				for sk, sv := range sub {
					nm[sk] = sv
				}
				r.f[k] = nm
				continue
			}
		}
		r.f[k] = v
	}
	r.modified = now
}

func (s *Server) registrationRoute(a *account, acct, event string, e *eventData, rest []string, method string, q map[string][]string, body map[string]any) (any, *httpErr) {
	switch {
	case method == http.MethodGet && len(rest) == 0:
		get := func(r *rec, name string) (string, bool) {
			if rest, ok := strings.CutPrefix(name, "profile."); ok {
				pin, _ := r.f["profile"].(string)
				if p := a.profiles[pin]; p != nil {
					return recGet(p, rest)
				}
				return "", false
			}
			if name == "profile" {
				return "", false
			}
			return recGet(r, name)
		}
		return s.collection(q, view{key: "registrations", cacheKey: "R\x00" + acct + "\x00" + event, recs: e.regList, get: get,
			render: func(r *rec) map[string]any { return s.renderReg(a, r) }})
	case method == http.MethodGet && len(rest) == 1:
		r := e.regs[rest[0]]
		if r == nil {
			return nil, notFound("registration %s not found", rest[0])
		}
		return s.renderReg(a, r), nil
	case method == http.MethodPost && len(rest) == 0:
		prof, _ := body["profile"].(map[string]any)
		if prof == nil {
			return nil, badRequest("profile is required")
		}
		pin, _ := prof["pin"].(string)
		if pin == "" {
			// An inline profile without pin creates the profile too.
			pin = s.addProfile(acct, s.newRec(prof))
		} else if a.profiles[pin] == nil {
			return nil, badRequest("profile %s not found", pin)
		}
		if c := e.registeredAs(pin); c != "" {
			return nil, badRequest("profile %s is already registered for event %s (%s)", pin, event, c)
		}
		if code, _ := body["registrationCode"].(string); code != "" {
			return nil, badRequest("registrationCode is assigned by Certain")
		}
		fields := make(map[string]any, len(body))
		for k, v := range body {
			if k != "profile" {
				fields[k] = v
			}
		}
		r := s.newRec(fields)
		s.addRegistration(acct, event, pin, r)
		return s.renderReg(a, r), nil
	case method == http.MethodPost && len(rest) == 1:
		r := e.regs[rest[0]]
		if r == nil {
			return nil, notFound("registration %s not found", rest[0])
		}
		if _, ok := body["profile"]; ok {
			return nil, badRequest("the embedded profile cannot be updated through Registration; POST Profile/%s/{pin}", acct)
		}
		s.gen++
		merge(r, body, s.stamp(), "registrationCode", "eventCode", "accountCode")
		return s.renderReg(a, r), nil
	}
	return nil, notFound("no such Registration resource")
}

func (s *Server) routeV2(r *http.Request, parts []string, q map[string][]string) (any, *httpErr) {
	if r.Method != http.MethodGet || len(parts) < 5 || parts[0] != "accounts" || parts[2] != "events" {
		return nil, notFound("no such API path %s", r.URL.Path)
	}
	a := s.accounts[parts[1]]
	if a == nil || a.events[parts[3]] == nil {
		return nil, notFound("account or event not found")
	}
	e := a.events[parts[3]]
	rest := parts[4:]
	switch {
	case len(rest) == 1 && rest[0] == "sessions":
		return s.collection(q, view{key: "sessions", recs: e.sessions, render: s.tagRender(tagsWanted(q))})
	case len(rest) == 3 && rest[0] == "sessions" && rest[2] == "registrations":
		id, err := strconv.Atoi(rest[1])
		if err != nil {
			return nil, badRequest("instanceId %q is not a number", rest[1])
		}
		var recs []*rec
		code := ""
		for _, l := range e.sessionLines {
			if int(toFloat(l.f["instanceId"])) == id {
				code, _ = l.f["sessionCode"].(string)
				recs = append(recs, l)
			}
		}
		out, herr := s.collection(q, view{key: "registrations", recs: recs, render: func(r *rec) map[string]any {
			m := render(r)
			delete(m, "instanceId")
			delete(m, "sessionCode")
			return m
		}})
		if herr == nil {
			out["instanceId"] = id
			out["sessionCode"] = code
		}
		return out, herr
	case len(rest) == 3 && rest[0] == "registrations" && rest[2] == "sessions":
		out, herr := s.collection(q, view{key: "instances", recs: filter(e.sessionLines, "registrationCode", rest[1]), render: func(r *rec) map[string]any {
			m := render(r)
			delete(m, "registrationCode")
			return m
		}})
		if herr == nil {
			out["registrationCode"] = rest[1]
		}
		return out, herr
	}
	return nil, notFound("no such API path %s", r.URL.Path)
}

var reserved = map[string]bool{
	"start_index": true, "max_results": true, "orderBy": true, "includeList": true, "include_list": true,
	"dateModified_after": true, "dateModified_before": true, "dateCreated_after": true, "dateCreated_before": true,
}

// view is a collection to serve: its records and how to read and render them.
type view struct {
	key      string
	cacheKey string // non-empty: sorted orders are cached until the next write
	recs     []*rec // read only; collection never writes to it
	// index, when set, returns the records a scalar filter field=value can
	// match, in insertion order (a superset of the matches; ok false: field
	// not indexed).
	index  func(field, value string) (hits []*rec, ok bool)
	get    func(*rec, string) (string, bool) // nil: recGet
	render func(*rec) map[string]any         // nil: render
}

func recGet(r *rec, name string) (string, bool) {
	switch name {
	case "dateModified":
		return r.modified.Format(wire), true
	case "dateCreated":
		return r.created.Format(wire), true
	}
	return lookup(r.f, name)
}

func recTime(r *rec, field string) time.Time {
	if field == "dateCreated" {
		return r.created
	}
	return r.modified
}

// collection filters, sorts and pages records into the envelope. Only the
// returned page is rendered, and a cacheable view keeps its filtered, sorted
// rows until the next write, so reading a large event page by page costs
// one filter and sort, not one per page.
func (s *Server) collection(q map[string][]string, v view) (map[string]any, *httpErr) {
	rend := v.render
	if rend == nil {
		rend = render
	}
	if s.sortGen != s.gen {
		clear(s.sorted)
		s.sortGen = s.gen
	}
	var recs []*rec
	var key string
	if v.cacheKey != "" {
		key = v.cacheKey + "\x01" + selectionKey(q)
	}
	if e, ok := s.sorted[key]; ok && key != "" {
		recs = e.recs
	} else {
		var herr *httpErr
		if recs, herr = s.selectRecs(q, v); herr != nil {
			return nil, herr
		}
		if key != "" {
			s.sorted[key] = sortEntry{gen: s.gen, recs: recs}
		}
	}
	size := 200
	if val := first(q["max_results"]); val != "" {
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 {
			return nil, badRequest("max_results=%q must be a positive integer", val)
		}
		size = n
	}
	if s.pageCap > 0 && size > s.pageCap {
		size = s.pageCap
	}
	offset := 0
	if val := first(q["start_index"]); val != "" {
		n, err := strconv.Atoi(val)
		if err != nil {
			return nil, badRequest("start_index=%q must be an integer", val)
		}
		switch s.paging {
		case certain.PagingOffset1:
			offset = n - 1
		case certain.PagingPage1:
			offset = (n - 1) * size
		default:
			offset = n
		}
		if offset < 0 {
			return nil, badRequest("start_index=%q is out of range for paging mode %s", val, s.paging)
		}
	}
	if offset >= len(recs) {
		return nil, notFound("no %s found", v.key)
	}
	end := min(offset+size, len(recs))
	page := make([]map[string]any, 0, end-offset)
	for _, r := range recs[offset:end] {
		page = append(page, rend(r))
	}
	return map[string]any{"size": len(page), "completeCollectionSize": len(recs), "maxResults": size, v.key: page}, nil
}

// selectionKey is the query without its paging parameters: the same key
// selects the same rows until the next write.
func selectionKey(q map[string][]string) string {
	sel := make(url.Values, len(q))
	for k, vs := range q {
		if k != "start_index" && k != "max_results" {
			sel[k] = vs
		}
	}
	return sel.Encode()
}

// selectRecs returns the view's records that pass the query's filters, in
// the query's order. The result may alias the sort cache: callers only read it.
func (s *Server) selectRecs(q map[string][]string, v view) ([]*rec, *httpErr) {
	get := v.get
	if get == nil {
		get = recGet
	}
	type scalar struct{ k, want string }
	var scalars []scalar
	for k, vs := range q {
		if !reserved[k] && len(vs) > 0 {
			scalars = append(scalars, scalar{k, vs[0]})
		}
	}
	recs := v.recs
	if v.index != nil {
		// Narrow to the smallest index bucket. Its hits keep insertion
		// order, so the stable sort below orders them exactly as it would
		// have ordered them within the whole collection, and the filter
		// loop still checks every scalar on them.
		narrowed := false
		for _, sc := range scalars {
			if hits, ok := v.index(sc.k, sc.want); ok && (!narrowed || len(hits) < len(recs)) {
				recs, narrowed = hits, true
			}
		}
		if narrowed {
			v.cacheKey = "" // the cache holds whole collections only
		}
	}
	if ob := first(q["orderBy"]); ob != "" {
		i := strings.LastIndexByte(ob, '_')
		if i <= 0 || (ob[i+1:] != "asc" && ob[i+1:] != "desc") {
			return nil, badRequest("orderBy=%q must be {field}_asc or {field}_desc", ob)
		}
		field, desc := ob[:i], ob[i+1:] == "desc"
		ck := v.cacheKey + "\x00" + ob
		if e, ok := s.sorted[ck]; ok && v.cacheKey != "" && e.gen == s.gen {
			recs = e.recs
		} else {
			recs = slices.Clone(recs)
			cmpFn := func(x, y *rec) int {
				a, _ := get(x, field)
				b, _ := get(y, field)
				return cmp.Compare(a, b)
			}
			if field == "dateModified" || field == "dateCreated" {
				cmpFn = func(x, y *rec) int { return recTime(x, field).Compare(recTime(y, field)) }
			}
			if desc {
				asc := cmpFn
				cmpFn = func(x, y *rec) int { return -asc(x, y) }
			}
			slices.SortStableFunc(recs, cmpFn)
			if v.cacheKey != "" {
				s.sorted[ck] = sortEntry{gen: s.gen, recs: recs}
			}
		}
	}
	type bound struct {
		field string
		after bool
		t     time.Time
	}
	var bounds []bound
	for _, k := range []string{"dateModified_after", "dateModified_before", "dateCreated_after", "dateCreated_before"} {
		val := first(q[k])
		if val == "" {
			continue
		}
		ts := certain.ParseTime(val)
		if ts.IsZero() {
			return nil, badRequest("%s=%q is not a timestamp (want %s)", k, val, wire)
		}
		field, after := strings.CutSuffix(k, "_after")
		if !after {
			field, _ = strings.CutSuffix(k, "_before")
		}
		bounds = append(bounds, bound{field, after, ts})
	}
	if len(scalars) > 0 || len(bounds) > 0 {
		kept := make([]*rec, 0, len(recs))
	next:
		for _, r := range recs {
			for _, b := range bounds {
				t := recTime(r, b.field)
				if (b.after && !t.After(b.t)) || (!b.after && !t.Before(b.t)) {
					continue next
				}
			}
			for _, sc := range scalars {
				got, ok := get(r, sc.k)
				if !ok {
					continue next
				}
				email := strings.EqualFold(sc.k, "email") || strings.HasSuffix(sc.k, ".email")
				if got != sc.want && !(email && strings.EqualFold(got, sc.want)) {
					continue next
				}
			}
			kept = append(kept, r)
		}
		recs = kept
	}
	return recs, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// lookup reads a (dotted) field as a string, the way a query compares it.
func lookup(m map[string]any, name string) (string, bool) {
	var cur any = m
	for rest, more := name, true; more; {
		var part string
		part, rest, more = strings.Cut(rest, ".")
		obj, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = obj[part]; !ok {
			return "", false
		}
	}
	switch v := cur.(type) {
	case nil:
		return "", true
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}
