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
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
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

// ServeHTTP answers one request: injected latency and faults first, then
// Basic auth, the JSON body of a POST, and the route under s.mu.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	lat := s.latency
	f := s.takeFault(r.URL.Path)
	s.mu.Unlock()
	delay(r.Context(), lat)
	if f != nil {
		s.serveFault(w, r, f)
		return
	}
	if !s.authorized(r) {
		s.plain(w, r, http.StatusUnauthorized, "Invalid username or password")
		return
	}
	body, ok := readBody(r)
	if !ok {
		s.plain(w, r, http.StatusBadRequest, "request body must be a JSON object")
		return
	}
	s.mu.Lock()
	out, herr := s.route(r, body)
	s.mu.Unlock()
	if herr != nil {
		s.plain(w, r, herr.status, herr.msg)
		return
	}
	s.writeJSON(w, r, out)
}

// delay waits d, or until ctx ends.
func delay(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
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

// writeJSON answers out as JSON: 201 for a create, 200 otherwise.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, out any) {
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

// created reports whether r is a POST to a collection (a create).
func created(r *http.Request) bool {
	parts := strings.Split(strings.Trim(rel(r.URL.Path), "/"), "/")
	return len(parts) == 2 && parts[0] == "Profile" || len(parts) == 3 && parts[0] == "Registration"
}

// log records r in the call log.
func (s *Server) log(r *http.Request, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: status})
}

// plain answers a plain-text message (errors and faults, as Certain does).
func (s *Server) plain(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.log(r, status)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}
