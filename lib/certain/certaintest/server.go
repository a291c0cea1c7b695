// Package certaintest is an in-memory Certain REST server for tests, the demo
// and benchmarks, in the spirit of net/http/httptest.
//
// It implements the default contract of docs/certain.md (sections 4, 5 and 8)
// so that the real lib/certain client, with its URL building, auth, paging
// and retries, is what the tests exercise. Field names that docs/certain.md marks
// as assumed come from certain.FieldNames, so a non-default tenant shape can
// be simulated too.
//
// Rules the simulator enforces (and where docs/certain.md is silent, chooses):
//   - Basic auth; a wrong user or password is 401.
//   - Errors are a servlet error page ("HTTP Status 400 -  <message>", in
//     HTML) by default, as recorded traffic shows, or JSON
//     (WithErrorFormat).
//   - Collections page with start_index/max_results in the configured mode
//     (offset0 by default; offset1, page1, or none: every row in one
//     answer) and return the recorded envelope: etag, transactionId,
//     completeCollectionSize, size, startingIndex and maxResults (both
//     echoed; maxResults after WithPageSizeCap's cap), and the array. They
//     answer 404 when the page is empty (an empty search). A 1-based server
//     refuses start_index=0 with 400, unless WithLenient makes it answer 0
//     as its first page (echoing startingIndex 1), as a real tenant may.
//   - Filters: dateModified_after/_before and dateCreated_after/_before are
//     strict; any other parameter is a scalar field=value filter compared as
//     a string, except that email is compared case-insensitively (Certain
//     e-mail matching is assumed to ignore case, which is what makes
//     same-address-different-case duplicates visible to the jobs).
//     Dotted names ("profile.email") reach nested objects.
//   - orderBy={field}_{asc|desc}; otherwise insertion order.
//   - includeList=tags (or include_list) adds the tags field to agenda items
//     and sessions; without it the tags are left out. The field is "tag" by
//     default (WithFieldNames or WithTagsField change it), its elements
//     strings, {"name": …} objects, or a {"tag": [...]} wrapper
//     (WithTagShape).
//   - POST to a collection creates (code generated) and answers 200 with
//     the object, as recorded traffic shows (WithCreateStatus(201) for the
//     other variant); POST to a record merges only the sent fields, nested
//     objects and list elements picked by their code included; both set
//     dateModified from the clock, which is truncated to whole seconds like
//     the wire format. DELETE removes a profile or a registration.
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
	"context"
	"encoding/json"
	"html"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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
	Status int    // 0 when the connection was dropped, or not answered yet
}

// Option configures a Server.
type Option func(*Server)

// WithPagingMode sets how start_index is read: "offset0" (default),
// "offset1", "page1", or "none" (no paging: every row in one answer).
func WithPagingMode(mode string) Option { return func(s *Server) { s.paging = mode } }

// WithLenient makes a 1-based server (offset1, page1) answer start_index=0
// as its first page, echoing startingIndex 1, instead of refusing it.
func WithLenient() Option { return func(s *Server) { s.lenient = true } }

// WithCreateStatus sets the status of a successful create: 200 (default,
// as recorded) or 201.
func WithCreateStatus(code int) Option { return func(s *Server) { s.createStatus = code } }

// WithTagsField sets the field agenda items and sessions carry their tags
// in ("tag" by default; "tags" for the other variant).
func WithTagsField(name string) Option { return func(s *Server) { s.fields.Tags = name } }

// Tag shapes for WithTagShape.
const (
	TagStrings = "strings" // ["Security", "Cloud"] (default)
	TagObjects = "objects" // [{"name": "Security"}, ...]
	TagWrapped = "wrapped" // {"tag": ["Security", ...]}
)

// WithTagShape sets how tags are rendered: TagStrings, TagObjects or TagWrapped.
func WithTagShape(shape string) Option { return func(s *Server) { s.tagShape = shape } }

// WithOrderByParam makes the server sort only by the given spelling of the
// sort parameter ("orderBy" or "order_by") and ignore the other, as a
// tenant that knows one spelling would. By default both sort.
func WithOrderByParam(name string) Option { return func(s *Server) { s.orderParam = name } }

// WithIncludeParam makes the server honour only the given spelling of the
// include list ("includeList" or "include_list") and ignore the other. By
// default both work.
func WithIncludeParam(name string) Option { return func(s *Server) { s.includeParam = name } }

// Error formats for WithErrorFormat.
const (
	ErrorServlet = "servlet" // an HTML servlet error page (default, as recorded)
	ErrorJSON    = "json"    // {"message": …}
)

// WithErrorFormat sets how error bodies look: ErrorServlet or ErrorJSON.
func WithErrorFormat(format string) Option { return func(s *Server) { s.errFormat = format } }

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

// Server is the simulator. It is an http.Handler; NewServer also serves it
// on a loopback listener.
type Server struct {
	URL string // base URL for certain.Config.BaseURL ("" for New)

	ts           *httptest.Server
	t            testing.TB
	paging       string
	lenient      bool
	createStatus int
	tagShape     string
	errFormat    string
	orderParam   string
	includeParam string
	fields       certain.FieldNames
	now          func() time.Time
	pageCap      int
	user         string
	pass         string

	sleep func(ctx context.Context, d time.Duration) error

	mu       sync.Mutex
	lim      limits
	accounts map[string]*account
	calls    []Call
	faults   []*fault
	seq      int
	seedErrs []error
	gen      int // bumped on every write; invalidates sorted
	sortGen  int // the gen sorted was filled at
	sorted   map[string]sortEntry
}

// New returns a simulator that is not listening; use it as an http.Handler
// (infra/certain-sim does).
func New(opts ...Option) *Server {
	s := &Server{
		paging: certain.PagingOffset0, fields: certain.Defaults(), now: time.Now,
		createStatus: http.StatusOK, tagShape: TagStrings, errFormat: ErrorServlet,
		user: DefaultUsername, pass: DefaultPassword, sleep: clock.Sleep,
		accounts: map[string]*account{}, sorted: map[string]sortEntry{},
		lim: limits{rng: rand.New(rand.NewPCG(2026, 19)), arrivals: map[string][]time.Time{}, inflight: map[string]int{}, peak: map[string]int{}},
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

// PagingMode returns how the simulated tenant reads start_index.
func (s *Server) PagingMode() string { return s.paging }

// Config returns a certain.Config pointed at this server, with the server's
// field names and paging mode and a Sleep that does not wait.
func (s *Server) Config() certain.Config {
	return certain.Config{
		BaseURL: s.URL, Username: s.user, Password: s.pass, AllowHTTP: true,
		Fields: s.fields, PagingMode: s.paging,
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
	}
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

// rel is p below the API base of its family (v1 or 2.0).
func rel(p string) string {
	if r, ok := strings.CutPrefix(p, v1Base); ok {
		return r
	}
	if r, ok := strings.CutPrefix(p, v2Base); ok {
		return r
	}
	return p
}

// ServeHTTP answers one request: an injected fault (after the latency),
// or else the account's limits (limits.go), the latency, Basic auth, the
// JSON body of a POST, and the route under s.mu.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = s.arrive(r)
	s.mu.Lock()
	f := s.takeFault(r.URL.Path)
	s.mu.Unlock()
	if f != nil {
		s.hold(r.Context(), s.latencyOf())
		s.serveFault(w, r, f)
		return
	}
	leave, lat, ok, retryAfter := s.admit(r.URL.Path)
	if !ok {
		s.throttle(w, r, retryAfter)
		return
	}
	defer leave()
	s.hold(r.Context(), lat)
	if !s.authorized(r) {
		s.fail(w, r, http.StatusUnauthorized, "Invalid username or password")
		return
	}
	body, ok := readBody(r)
	if !ok {
		s.fail(w, r, http.StatusBadRequest, "request body must be a JSON object")
		return
	}
	s.mu.Lock()
	out, herr := s.route(r, body)
	s.mu.Unlock()
	if herr != nil {
		s.fail(w, r, herr.status, herr.msg)
		return
	}
	s.writeJSON(w, r, out)
}

// authorized checks the Basic-auth user and password.
func (s *Server) authorized(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	return ok && u == s.user && p == s.pass
}

// readBody decodes the JSON object a POST carries; ok is false when it is
// not one. Other methods have no body (nil).
func readBody(r *http.Request) (body map[string]any, ok bool) {
	if r.Method != http.MethodPost {
		return nil, true
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err == nil {
		err = json.Unmarshal(b, &body)
	}
	return body, err == nil && body != nil
}

// writeJSON answers out as JSON: the create status for a create, 200
// otherwise.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, out any) {
	b, err := json.Marshal(out)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	status := http.StatusOK
	if r.Method == http.MethodPost && created(r) {
		status = s.createStatus
	}
	s.log(r, status)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// created reports whether r is a POST to a collection (a create).
func created(r *http.Request) bool {
	parts := strings.Split(strings.Trim(rel(r.URL.Path), "/"), "/")
	return len(parts) == 2 && parts[0] == "Profile" || len(parts) == 3 && parts[0] == "Registration"
}

// callKey holds, in a request's context, its index in the call log.
type callKey struct{}

// arrive records r in the call log as it arrives, with Status 0 until it
// is answered: a call its client gave up on while the server held it is
// in the log from the moment the server has it, as it is in a tenant's
// (tests compare the log with the calls a run counted).
func (s *Server) arrive(r *http.Request) *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery})
	return r.WithContext(context.WithValue(r.Context(), callKey{}, len(s.calls)-1))
}

// log records r's answer in the call log.
func (s *Server) log(r *http.Request, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := r.Context().Value(callKey{}).(int); ok && i < len(s.calls) {
		s.calls[i].Status = status
		return
	}
	s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: status})
}

// fail answers an error in the server's error format: a servlet error page
// (docs/certain.md §3) or a JSON message.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.log(r, status)
	if s.errFormat == ErrorJSON {
		b, _ := json.Marshal(map[string]any{"status": status, "message": msg})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(b)
		return
	}
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, servletPage(status, msg))
}

// servletPage is an error page in the style of a Java servlet container:
// the status line carries the message after "HTTP Status NNN - " (two
// spaces, as recorded), inside HTML.
func servletPage(status int, msg string) string {
	m := html.EscapeString(msg)
	return "<html><head><title>Simulated servlet container - Error report</title>" +
		"<style><!--H1 {font-family:Tahoma,Arial,sans-serif;color:white;background-color:#525D76;}--></style></head>" +
		"<body><h1>HTTP Status " + strconv.Itoa(status) + " -  " + m + "</h1><hr size=\"1\" noshade=\"noshade\">" +
		"<p><b>type</b> Status report</p><p><b>message</b> <u>" + m + "</u></p>" +
		"<p><b>description</b> <u>" + html.EscapeString(http.StatusText(status)) + "</u></p>" +
		"<hr size=\"1\" noshade=\"noshade\"><h3>certain-sim</h3></body></html>"
}
