// Package marketotest is an in-memory Marketo REST simulator, modelled on
// net/http/httptest: NewServer starts a real loopback server that the
// production lib/marketo client talks to, so tests exercise URL building,
// headers, auth, JSON and retries where the public clients broke.
//
// It enforces Marketo's rules as docs/marketo.md §10 lists them: identity and the
// 602-then-601 expiry sequence, errors as HTTP 200 envelopes, the 606 sliding
// window, the 615 concurrency limit, the 607 daily quota (resetting at
// midnight of its quota zone on the simulator clock), 413/414, per-call
// caps, paging, per-record statuses with the field layer of types.go, the
// _method overrides, and fault injection. Its Clock can run faster than wall
// time so that 20 s windows pass in milliseconds.
package marketotest

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// Option configures a Server.
type Option func(*options)

// options are the simulated instance's settings; see the With options.
type options struct {
	clientID, clientSecret string
	rateN                  int
	rateWindow             time.Duration
	concurrency            int
	daily                  int
	latency                time.Duration
	tokenLifetime          time.Duration
	clock                  Clock
	countRejected          bool
	duplicateRace          bool
	maxBody, maxURI        int
	capCode                string
	caseSensitiveEmail     bool
	quotaZone              marketo.QuotaZone
	missingTokenCode       string
	legacy1003             bool
	lenientTypes           bool
	overflow               StringOverflow
	noCOTypeCheck          bool
	apiUser                string
}

// defaults are the settings of a simulator built without options.
func defaults() options {
	return options{
		clientID: "sim-client-id", clientSecret: "sim-client-secret",
		rateN: 100, rateWindow: 20 * time.Second, concurrency: 10, daily: 50000,
		tokenLifetime: time.Hour, maxBody: 1 << 20, maxURI: 8192, capCode: "1003",
		quotaZone: marketo.DefaultQuotaZone, missingTokenCode: "603", apiUser: "certain-sync@example.org",
	}
}

// WithCredentials sets the client id and secret identity accepts.
func WithCredentials(id, secret string) Option {
	return func(o *options) { o.clientID, o.clientSecret = id, secret }
}

// WithRateLimit sets the 606 sliding window (default 100 calls per 20 s).
func WithRateLimit(n int, window time.Duration) Option {
	return func(o *options) { o.rateN, o.rateWindow = n, window }
}

// WithConcurrencyLimit sets how many REST calls may be in flight (default 10).
func WithConcurrencyLimit(n int) Option { return func(o *options) { o.concurrency = n } }

// WithDailyQuota sets the counted calls per quota day (default 50,000).
func WithDailyQuota(n int) Option { return func(o *options) { o.daily = n } }

// WithLatency holds every REST call open for d of clock time (after the limit
// checks, while it occupies a concurrency slot).
func WithLatency(d time.Duration) Option { return func(o *options) { o.latency = d } }

// WithTokenLifetime sets the lifetime of minted tokens (default 1 h).
func WithTokenLifetime(d time.Duration) Option { return func(o *options) { o.tokenLifetime = d } }

// WithClock sets the simulator clock (default: wall time).
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithCountRejected makes 606/615/607 answers count against the window and
// quota (undocumented in Marketo; off by default).
func WithCountRejected(b bool) Option { return func(o *options) { o.countRejected = b } }

// WithDuplicateRace lets overlapping creates of the same new e-mail both
// create a lead, as Marketo documents.
func WithDuplicateRace(b bool) Option { return func(o *options) { o.duplicateRace = b } }

// WithMaxBodyBytes sets the 413 threshold (default 1 MB).
func WithMaxBodyBytes(n int) Option { return func(o *options) { o.maxBody = n } }

// WithMaxURILength sets the 414 threshold (default 8 KB).
func WithMaxURILength(n int) Option { return func(o *options) { o.maxURI = n } }

// WithCapCode sets the code answered when a per-call cap is exceeded
// (default "1003"; Marketo documents none).
func WithCapCode(code string) Option { return func(o *options) { o.capCode = code } }

// WithCaseSensitiveEmail makes e-mail matching case-sensitive (default off).
func WithCaseSensitiveEmail(b bool) Option { return func(o *options) { o.caseSensitiveEmail = b } }

// WithQuotaZone sets when the daily quota resets: midnight America/Chicago
// (the default, following daylight saving time) or midnight at the fixed
// offset UTC-6 (marketo.QuotaZoneUTCMinus6). Adobe says "12:00AM CST" and
// does not say which.
func WithQuotaZone(z marketo.QuotaZone) Option {
	return func(o *options) { o.quotaZone = z.OrDefault() }
}

// WithMissingTokenCode sets the answer to a REST call that carries no access
// token: "603" "Access denied" (the default: Adobe's September 2022 release
// notes say so and deprecate the older answer) or "600" "Empty access
// token" (what Marketo answered before).
func WithMissingTokenCode(code string) Option { return func(o *options) { o.missingTokenCode = code } }

// WithLegacy1003Message makes a value that does not fit its field answer
// "Invalid value for field '<name>'", as recorded in 2020; by default the
// message also carries the value ("... and value '<value>'"), as recorded
// since April 2021.
func WithLegacy1003Message(b bool) Option { return func(o *options) { o.legacy1003 = b } }

// WithLenientTypes accepts the text of a typed value in a typed field ("true"
// in a boolean, "5" in an integer, a datetime in a date) and a number or
// boolean in a string field. Off by default: only JSON-typed values are
// recorded as accepted, and whether Marketo converts text is not documented.
func WithLenientTypes(b bool) Option { return func(o *options) { o.lenientTypes = b } }

// WithStringOverflow sets what happens to a string longer than its field:
// refused with 1003 (the default) or truncated. Marketo does not document it.
func WithStringOverflow(v StringOverflow) Option { return func(o *options) { o.overflow = v } }

// WithCustomObjectTypeCheck(false) accepts any value in a custom object
// field. By default custom object fields are checked like lead fields;
// nothing recorded or documented confirms that Marketo does.
func WithCustomObjectTypeCheck(b bool) Option { return func(o *options) { o.noCOTypeCheck = !b } }

// CallLog is one request the simulator received.
type CallLog struct {
	Method     string // as sent (POST for _method=GET)
	Path       string
	URL        string // request URI as received
	Counted    bool   // counted against the rate window and the daily quota
	Code       string // Marketo error code, "" on success or non-200
	HTTPStatus int
	// FilterType is the filterType of a read by filter (Get Leads by
	// Filter Type, Get Custom Objects), "" for other calls.
	FilterType string
}

// Server is a running simulator.
type Server struct {
	URL string

	opts    options
	hs      *httptest.Server
	loc     *time.Location // the quota zone's clock
	started time.Time      // creation time of what is seeded

	mu        sync.Mutex
	st        *state
	calls     []CallLog
	faults    []*fault
	tokens    map[string]*tokenRec
	current   string
	window    []time.Time
	inflight  int
	day       string
	dayCount  int
	usage     map[string]int // counted calls per quota day, for stats/usage.json
	reqSeq    int
	latencyFn time.Duration
}

// NewServer starts a simulator on a loopback port. With a non-nil t it is
// closed by t.Cleanup; with nil the caller must call Close.
func NewServer(t testing.TB, opts ...Option) *Server {
	s := NewUnstarted(opts...)
	s.hs = httptest.NewServer(s)
	s.URL = s.hs.URL
	if t != nil {
		t.Cleanup(s.Close)
	}
	return s
}

// NewUnstarted returns a simulator as an http.Handler, for a caller that runs
// its own listener (infra/marketo-sim). Set URL if clients need it.
func NewUnstarted(opts ...Option) *Server {
	o := defaults()
	for _, f := range opts {
		f(&o)
	}
	if o.clock == nil {
		o.clock = NewFastClock(1)
	}
	return &Server{opts: o, loc: o.quotaZone.Location(), st: newState(), tokens: map[string]*tokenRec{}, latencyFn: o.latency,
		usage: map[string]int{}, started: o.clock.Now()}
}

// Close shuts the server down (a no-op for NewUnstarted servers).
func (s *Server) Close() {
	if s.hs != nil {
		s.hs.CloseClientConnections()
		s.hs.Close()
	}
}

func (s *Server) ClientID() string     { return s.opts.clientID }
func (s *Server) ClientSecret() string { return s.opts.clientSecret }
func (s *Server) Clock() Clock         { return s.opts.clock }

// Config returns a client configuration pointing at this server, on its clock.
func (s *Server) Config() marketo.Config {
	return marketo.Config{
		BaseURL: s.URL, ClientID: s.opts.clientID, ClientSecret: s.opts.clientSecret, AllowHTTP: true,
		Now: s.opts.clock.Now, Sleep: s.opts.clock.Sleep,
	}
}

// NewClient returns a lib/marketo client for this server on its clock; edit
// may adjust the configuration first. Without a Budget the client gets an
// in-process one at its defaults (50 calls / 20 s, 5 concurrent) on the
// client's clock.
func (s *Server) NewClient(edit ...func(*marketo.Config)) (*marketo.Client, error) {
	cfg := s.Config()
	for _, e := range edit {
		e(&cfg)
	}
	if cfg.Budget == nil {
		b, err := limit.NewInProcess(limit.Config{Now: cfg.Now, Sleep: cfg.Sleep})
		if err != nil {
			return nil, fmt.Errorf("marketotest: budget: %w", err)
		}
		cfg.Budget = b
	}
	c, err := marketo.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("marketotest: client: %w", err)
	}
	return c, nil
}

// Calls returns a copy of the call log.
func (s *Server) Calls() []CallLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]CallLog(nil), s.calls...)
}

// CountCode counts calls answered with Marketo code, or with HTTP status
// when code is "http-NNN".
func (s *Server) CountCode(code string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Code == code || (c.Code == "" && fmt.Sprintf("http-%d", c.HTTPStatus) == code) {
			n++
		}
	}
	return n
}

// CountPath counts calls to an exact path (or a path.Match pattern).
func (s *Server) CountPath(p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if matches(p, c.Path) {
			n++
		}
	}
	return n
}

// CountedCalls is the number of calls counted against the window and quota.
func (s *Server) CountedCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Counted {
			n++
		}
	}
	return n
}

// request is a REST call as the routes see it.
type request struct {
	method string // effective method (GET for POST ?_method=GET)
	path   string
	params url.Values
	body   []byte // JSON body, if any
	isJSON bool
}

// ServeHTTP answers one request, and logs it: size limits, identity,
// injected faults and the access token first, then the REST call inside the
// limits.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := CallLog{Method: r.Method, Path: r.URL.Path, URL: r.RequestURI}
	defer s.logCall(&log)
	body, ok := s.readBody(w, r, &log)
	if !ok {
		return
	}
	if r.URL.Path == "/identity/oauth/token" {
		s.identity(w, r, body, &log)
		return
	}
	if f := s.takeFault(r.URL.Path); f != nil {
		s.serveFault(w, r, f, &log)
		return
	}
	if a, done := s.authenticate(r); done {
		s.write(w, r, a, &log)
		return
	}
	s.serveREST(w, r, body, &log)
}

// logCall appends the finished request to the call log.
func (s *Server) logCall(log *CallLog) {
	s.mu.Lock()
	s.calls = append(s.calls, *log)
	s.mu.Unlock()
}

// readBody enforces the URI and body size limits (414 and 413) and returns
// the body; ok is false when an answer has been sent.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, log *CallLog) (body []byte, ok bool) {
	if len(r.RequestURI) > s.opts.maxURI {
		log.HTTPStatus = http.StatusRequestURITooLong
		http.Error(w, "URI too long", log.HTTPStatus)
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(s.opts.maxBody)+1))
	if err != nil {
		log.HTTPStatus = http.StatusBadRequest
		http.Error(w, "unreadable body", log.HTTPStatus)
		return nil, false
	}
	if len(body) > s.opts.maxBody {
		log.HTTPStatus = http.StatusRequestEntityTooLarge
		http.Error(w, "request entity too large", log.HTTPStatus)
		return nil, false
	}
	return body, true
}

// serveREST runs an authenticated REST call inside the limits: concurrency,
// quota and window, in that order, then the latency and the route. An answer
// Marketo does not count is refunded.
func (s *Server) serveREST(w http.ResponseWriter, r *http.Request, body []byte, log *CallLog) {
	inflight, latency := s.enter()
	defer s.leave()
	if inflight > s.opts.concurrency {
		s.countRejected(log)
		s.write(w, r, fail("615", "Concurrent access limit reached"), log)
		return
	}
	if a, done := s.admit(log); done {
		s.write(w, r, a, log)
		return
	}
	if latency > 0 {
		if err := s.opts.clock.Sleep(r.Context(), latency); err != nil {
			return
		}
	}
	req, a, done := s.parse(r, body)
	if !done {
		log.FilterType = req.params.Get("filterType")
		a = s.route(r.Context(), req)
	}
	if a.code != "" && freeCodes[a.code] {
		s.refund(log)
	}
	s.write(w, r, a, log)
}

// envelopeJSON is Marketo's lead database envelope, its members in the
// recorded order (requestId, result, success).
type envelopeJSON struct {
	RequestID     string           `json:"requestId"`
	Result        any              `json:"result,omitempty"`
	Success       bool             `json:"success"`
	NextPageToken string           `json:"nextPageToken,omitempty"`
	MoreResult    bool             `json:"moreResult,omitempty"`
	Errors        []marketo.Reason `json:"errors,omitempty"`
	Warnings      []marketo.Reason `json:"warnings,omitempty"`
}

// write answers a in Marketo's HTTP 200 envelope and records its code.
func (s *Server) write(w http.ResponseWriter, r *http.Request, a answer, log *CallLog) {
	s.mu.Lock()
	s.reqSeq++
	env := envelopeJSON{RequestID: fmt.Sprintf("%x#%x", s.reqSeq, s.opts.clock.Now().UnixMilli()), Success: a.code == "", Warnings: a.warnings}
	s.mu.Unlock()
	if a.code != "" {
		env.Errors = []marketo.Reason{{Code: a.code, Message: a.msg}}
		log.Code = a.code
	} else {
		env.Result = a.result
		if rv := reflect.ValueOf(a.result); a.result == nil || (rv.Kind() == reflect.Slice && rv.IsNil()) {
			env.Result = []any{} // an empty result is [], never null (recorded)
		}
		if a.next != "" {
			env.NextPageToken, env.MoreResult = a.next, true
		}
	}
	log.HTTPStatus = http.StatusOK
	writeJSON(w, r, http.StatusOK, env)
}

// writeJSON answers v as JSON, gzipped when the client accepts it and the
// body is 1 KB or more.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "simulator encode error: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	if len(b) >= 1024 && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(status)
		gz := gzip.NewWriter(w)
		_, _ = gz.Write(b)
		_ = gz.Close()
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// parse reads the call as the routes see it: the effective method (the
// _method override, from the query string or, as Marketo also honours it,
// from a form body), the parameters of the query string and of a form body
// (nextPageToken included), and a JSON body. A POST that is not an override
// must carry JSON (612 otherwise).
func (s *Server) parse(r *http.Request, body []byte) (*request, answer, bool) {
	req := &request{method: r.Method, path: r.URL.Path, params: r.URL.Query()}
	override := req.params.Get("_method")
	req.params.Del("_method")
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var form url.Values
	switch {
	case ct == "application/x-www-form-urlencoded":
		f, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fail("609", "Invalid form body: %v", err), true
		}
		if override == "" {
			override = f.Get("_method")
		}
		f.Del("_method")
		form = f
	case ct == "application/json":
		req.body, req.isJSON = body, true
	case len(strings.TrimSpace(string(body))) > 0:
		return nil, fail("612", "Invalid Content Type"), true
	}
	if override != "" {
		req.method = strings.ToUpper(override)
	}
	for k, v := range form {
		req.params[k] = append(req.params[k], v...)
	}
	if req.method == http.MethodPost && !req.isJSON {
		return nil, fail("612", "Invalid Content Type"), true
	}
	return req, answer{}, false
}

// sleep is the simulator's clock-aware pause (used by the duplicate race).
func (s *Server) sleep(ctx context.Context, d time.Duration) { _ = s.opts.clock.Sleep(ctx, d) }
