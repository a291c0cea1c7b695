// Package marketotest is an in-memory Marketo REST simulator, modelled on
// net/http/httptest: NewServer starts a real loopback server that the
// production lib/marketo client talks to, so tests exercise URL building,
// headers, auth, JSON and retries where the public clients broke.
//
// It enforces Marketo's rules as MARKETO.md §10 lists them: identity and the
// 602-then-601 expiry sequence, errors as HTTP 200 envelopes, the 606 sliding
// window, the 615 concurrency limit, the 607 daily quota (resetting at 00:00
// America/Chicago on the simulator clock), 413/414, per-call caps, paging,
// per-record statuses, and fault injection. Its Clock can run faster than wall
// time so that 20 s windows pass in milliseconds.
package marketotest

import (
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// Option configures a Server.
type Option func(*options)

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
}

func defaults() options {
	return options{
		clientID: "sim-client-id", clientSecret: "sim-client-secret",
		rateN: 100, rateWindow: 20 * time.Second, concurrency: 10, daily: 50000,
		tokenLifetime: time.Hour, maxBody: 1 << 20, maxURI: 8192, capCode: "1003",
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

// WithDailyQuota sets the counted calls per Chicago day (default 50,000).
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

// CallLog is one request the simulator received.
type CallLog struct {
	Method     string // as sent (POST for _method=GET)
	Path       string
	URL        string // request URI as received
	Counted    bool   // counted against the rate window and the daily quota
	Code       string // Marketo error code, "" on success or non-200
	HTTPStatus int
}

type fault struct {
	pattern string
	n       int
	code    string
	status  int
	drop    bool
}

type tokenRec struct {
	expires     time.Time
	expiredSeen bool
}

// Server is a running simulator.
type Server struct {
	URL string

	opts options
	hs   *httptest.Server
	loc  *time.Location

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
	return &Server{opts: o, loc: marketo.ChicagoLocation(), st: newState(), tokens: map[string]*tokenRec{}, latencyFn: o.latency}
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
// may adjust the configuration first.
func (s *Server) NewClient(edit ...func(*marketo.Config)) (*marketo.Client, error) {
	cfg := s.Config()
	for _, e := range edit {
		e(&cfg)
	}
	c, err := marketo.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("marketotest: client: %w", err)
	}
	return c, nil
}

// ---- fault injection and clock ----

// FailNext makes the next n REST calls whose path matches pathPattern
// (path.Match syntax; "" or "*" = any) answer success:false with code.
func (s *Server) FailNext(pathPattern string, n int, code string) {
	s.addFault(&fault{pattern: pathPattern, n: n, code: code})
}

// FailNextHTTP makes the next n matching calls answer HTTP status.
func (s *Server) FailNextHTTP(pathPattern string, n int, status int) {
	s.addFault(&fault{pattern: pathPattern, n: n, status: status})
}

// DropNext makes the next n matching calls lose their connection unanswered.
func (s *Server) DropNext(pathPattern string, n int) {
	s.addFault(&fault{pattern: pathPattern, n: n, drop: true})
}

func (s *Server) addFault(f *fault) {
	if f.n <= 0 {
		return
	}
	s.mu.Lock()
	s.faults = append(s.faults, f)
	s.mu.Unlock()
}

// SetLatency changes the latency hook at run time.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latencyFn = d
	s.mu.Unlock()
}

// ExpireToken expires the current token now: its next use gets 602.
func (s *Server) ExpireToken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.tokens[s.current]; r != nil {
		r.expires = s.opts.clock.Now()
	}
}

// ExhaustWindow fills the rate window as if the limit had just been used.
func (s *Server) ExhaustWindow() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.clock.Now()
	for len(s.window) < s.opts.rateN {
		s.window = append(s.window, now)
	}
}

// ExhaustQuota uses up today's daily quota.
func (s *Server) ExhaustQuota() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rollDay(s.opts.clock.Now())
	s.dayCount = s.opts.daily
}

// Advance moves the simulator clock forward.
func (s *Server) Advance(d time.Duration) { s.opts.clock.Advance(d) }

// ---- inspection ----

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

func matches(pattern, p string) bool {
	if pattern == "" || pattern == "*" || pattern == p {
		return true
	}
	ok, err := path.Match(pattern, p)
	return err == nil && ok
}

// ---- request pipeline ----

type request struct {
	method string // effective method (GET for POST ?_method=GET)
	path   string
	params url.Values
	body   []byte // JSON body, if any
	isJSON bool
}

type answer struct {
	result   any
	next     string
	code     string
	msg      string
	warnings []marketo.Reason
}

func fail(code, format string, args ...any) answer {
	return answer{code: code, msg: fmt.Sprintf(format, args...)}
}

func ok(result any) answer { return answer{result: result} }

// freeCodes are the answers Marketo's error-code page marks as not counted.
var freeCodes = map[string]bool{"601": true, "602": true, "604": true, "605": true, "608": true, "611": true}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := CallLog{Method: r.Method, Path: r.URL.Path, URL: r.RequestURI}
	defer func() {
		s.mu.Lock()
		s.calls = append(s.calls, log)
		s.mu.Unlock()
	}()
	if len(r.RequestURI) > s.opts.maxURI {
		log.HTTPStatus = http.StatusRequestURITooLong
		http.Error(w, "URI too long", log.HTTPStatus)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(s.opts.maxBody)+1))
	if err != nil {
		log.HTTPStatus = http.StatusBadRequest
		http.Error(w, "unreadable body", log.HTTPStatus)
		return
	}
	if len(body) > s.opts.maxBody {
		log.HTTPStatus = http.StatusRequestEntityTooLarge
		http.Error(w, "request entity too large", log.HTTPStatus)
		return
	}
	if r.URL.Path == "/identity/oauth/token" {
		s.identity(w, r, body, &log)
		return
	}
	if f := s.takeFault(r.URL.Path); f != nil {
		switch {
		case f.drop:
			log.HTTPStatus = 0
			if hj, isHJ := w.(http.Hijacker); isHJ {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		case f.status != 0:
			log.HTTPStatus = f.status
			http.Error(w, http.StatusText(f.status), f.status)
			return
		default:
			s.countRejected(&log)
			s.write(w, r, fail(f.code, "injected failure %s", f.code), &log)
			return
		}
	}
	if a, done := s.authenticate(r); done {
		s.write(w, r, a, &log)
		return
	}
	// Concurrency, quota and window, in that order.
	s.mu.Lock()
	s.inflight++
	inflight := s.inflight
	latency := s.latencyFn
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight--
		s.mu.Unlock()
	}()
	if inflight > s.opts.concurrency {
		s.countRejected(&log)
		s.write(w, r, fail("615", "Concurrent access limit reached"), &log)
		return
	}
	if a, done := s.admit(&log); done {
		s.write(w, r, a, &log)
		return
	}
	if latency > 0 {
		if err := s.opts.clock.Sleep(r.Context(), latency); err != nil {
			return
		}
	}
	req, a, done := s.parse(r, body)
	if !done {
		a = s.route(r.Context(), req)
	}
	if a.code != "" && freeCodes[a.code] {
		s.refund(&log)
	}
	s.write(w, r, a, &log)
}

func (s *Server) takeFault(p string) *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if matches(f.pattern, p) {
			f.n--
			if f.n <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			return f
		}
	}
	return nil
}

func (s *Server) rollDay(now time.Time) {
	d := now.In(s.loc).Format(time.DateOnly)
	if d != s.day {
		s.day, s.dayCount = d, 0
	}
}

func (s *Server) prune(now time.Time) {
	i := 0
	for i < len(s.window) && !s.window[i].Add(s.opts.rateWindow).After(now) {
		i++
	}
	s.window = s.window[i:]
}

// countRejected counts a rejected call when WithCountRejected is set.
func (s *Server) countRejected(log *CallLog) {
	if !s.opts.countRejected {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.clock.Now()
	s.rollDay(now)
	s.window = append(s.window, now)
	s.dayCount++
	log.Counted = true
}

// admit applies the daily quota and the rate window and counts the call.
func (s *Server) admit(log *CallLog) (answer, bool) {
	s.mu.Lock()
	now := s.opts.clock.Now()
	s.rollDay(now)
	s.prune(now)
	quota := s.dayCount >= s.opts.daily
	rate := len(s.window) >= s.opts.rateN
	s.mu.Unlock()
	switch {
	case quota:
		s.countRejected(log)
		return fail("607", "Daily quota reached"), true
	case rate:
		s.countRejected(log)
		return fail("606", "Max rate limit '%d' exceeded with in '%d' secs", s.opts.rateN, int(s.opts.rateWindow/time.Second)), true
	}
	s.mu.Lock()
	s.window = append(s.window, now)
	s.dayCount++
	s.mu.Unlock()
	log.Counted = true
	return answer{}, false
}

// refund un-counts a call whose answer Marketo treats as free.
func (s *Server) refund(log *CallLog) {
	if !log.Counted {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.window); n > 0 {
		s.window = s.window[:n-1]
	}
	s.dayCount--
	log.Counted = false
}

func (s *Server) write(w http.ResponseWriter, r *http.Request, a answer, log *CallLog) {
	s.mu.Lock()
	s.reqSeq++
	env := map[string]any{"requestId": fmt.Sprintf("%x#%x", s.reqSeq, s.opts.clock.Now().UnixMilli()), "success": a.code == ""}
	s.mu.Unlock()
	if a.code != "" {
		env["errors"] = []marketo.Reason{{Code: a.code, Message: a.msg}}
		log.Code = a.code
	} else {
		res := a.result
		if res == nil {
			res = []any{}
		}
		env["result"] = res
		if a.next != "" {
			env["nextPageToken"] = a.next
			env["moreResult"] = true
		}
	}
	if len(a.warnings) > 0 {
		env["warnings"] = a.warnings
	} else {
		env["warnings"] = []any{}
	}
	log.HTTPStatus = http.StatusOK
	writeJSON(w, r, http.StatusOK, env)
}

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

// ---- identity and tokens ----

func (s *Server) identity(w http.ResponseWriter, r *http.Request, body []byte, log *CallLog) {
	params := r.URL.Query()
	if r.Method == http.MethodPost {
		if f, err := url.ParseQuery(string(body)); err == nil {
			for k, v := range f {
				params[k] = v
			}
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		log.HTTPStatus = http.StatusMethodNotAllowed
		writeJSON(w, r, log.HTTPStatus, map[string]string{"error": "invalid_request", "error_description": "GET or POST only"})
		return
	}
	if params.Get("grant_type") != "client_credentials" {
		log.HTTPStatus = http.StatusBadRequest
		writeJSON(w, r, log.HTTPStatus, map[string]string{"error": "unsupported_grant_type", "error_description": "grant_type must be client_credentials"})
		return
	}
	if params.Get("client_id") != s.opts.clientID || params.Get("client_secret") != s.opts.clientSecret {
		log.HTTPStatus = http.StatusUnauthorized
		writeJSON(w, r, log.HTTPStatus, map[string]string{"error": "unauthorized", "error_description": "Bad client credentials"})
		return
	}
	s.mu.Lock()
	now := s.opts.clock.Now()
	cur := s.tokens[s.current]
	if cur == nil || !cur.expires.After(now) {
		s.current = newToken()
		cur = &tokenRec{expires: now.Add(s.opts.tokenLifetime)}
		s.tokens[s.current] = cur
	}
	tok := s.current
	left := int(cur.expires.Sub(now) / time.Second)
	s.mu.Unlock()
	log.HTTPStatus = http.StatusOK
	writeJSON(w, r, http.StatusOK, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": left, "scope": "certain-sync@example.org"})
}

// IssuedTokens returns every access token the simulator has minted, for
// tests that check no token ever reaches a log, an error or a URL.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens))
	for t := range s.tokens {
		out = append(out, t)
	}
	return out
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + ":sj"
}

// authenticate answers 601/602 for a missing, unknown, query-parameter or
// expired token; done is false when the token is good.
func (s *Server) authenticate(r *http.Request) (answer, bool) {
	if r.URL.Query().Has("access_token") {
		return fail("601", "Access token invalid"), true
	}
	h := r.Header.Get("Authorization")
	tok, found := strings.CutPrefix(h, "Bearer ")
	if !found || tok == "" {
		return fail("601", "Access token invalid"), true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.tokens[tok]
	if rec == nil {
		return fail("601", "Access token invalid"), true
	}
	if !rec.expires.After(s.opts.clock.Now()) {
		if rec.expiredSeen {
			return fail("601", "Access token invalid"), true
		}
		rec.expiredSeen = true
		return fail("602", "Access token expired"), true
	}
	return answer{}, false
}

// parse resolves POST ?_method=GET, reads parameters and checks content type.
func (s *Server) parse(r *http.Request, body []byte) (*request, answer, bool) {
	req := &request{method: r.Method, path: r.URL.Path, params: r.URL.Query()}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method == http.MethodPost && req.params.Get("_method") == "GET" {
		req.method = http.MethodGet
		req.params.Del("_method")
		switch ct {
		case "application/x-www-form-urlencoded":
			f, err := url.ParseQuery(string(body))
			if err != nil {
				return nil, fail("609", "Invalid form body: %v", err), true
			}
			for k, v := range f {
				req.params[k] = v
			}
		case "application/json":
			req.body, req.isJSON = body, true
		case "":
			if len(body) > 0 {
				return nil, fail("612", "Invalid Content Type"), true
			}
		default:
			return nil, fail("612", "Invalid Content Type"), true
		}
		return req, answer{}, false
	}
	if r.Method == http.MethodPost {
		if ct != "application/json" {
			return nil, fail("612", "Invalid Content Type"), true
		}
		req.body, req.isJSON = body, true
	}
	return req, answer{}, false
}

// sleep is the simulator's clock-aware pause (used by the duplicate race).
func (s *Server) sleep(ctx context.Context, d time.Duration) { _ = s.opts.clock.Sleep(ctx, d) }
