package marketo

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/clock"
	"github.com/certain-marketo/certain-marketo/lib/wire"
)

// Config configures a Client. BaseURL, ClientID and ClientSecret are required.
type Config struct {
	// BaseURL is https://{munchkin}.mktorest.com. The Admin "Endpoint" form
	// ending in /rest is accepted and normalised.
	BaseURL string
	// IdentityURL is the identity service as Admin > Web Services shows it
	// ("https://123-ABC-456.mktorest.com/identity"); the client appends
	// "/oauth/token". A URL of the host alone gets "/identity", and one
	// already ending in "/oauth/token" is accepted as it is meant. Default:
	// BaseURL + "/identity".
	IdentityURL  string
	ClientID     string
	ClientSecret string
	// AllowHTTP permits plain http:// URLs (simulator, tests).
	AllowHTTP  bool
	HTTPClient *http.Client
	// Budget is taken before every REST call; nil means none (no call is
	// paced or counted). lib/limit makes the product's budgets.
	Budget Budget
	Logger *slog.Logger
	Now    func() time.Time
	Sleep  func(ctx context.Context, d time.Duration) error
	// MaxAttempts bounds the tries of one call for wait-class answers
	// (default 8). Re-authentication and the 414 switch do not use it up.
	MaxAttempts int
	// BackoffBase is the first backoff step (default 1 s); it doubles per try
	// up to BackoffMax (default 30 s), with jitter (uniform in the upper half of the step).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxURLBytes is where a GET becomes POST ?_method=GET (default 7,900).
	MaxURLBytes int
	// CallTimeout bounds each HTTP exchange, whatever HTTPClient's own
	// timeout (default and most MaxCallTime): lib/limit's budget leases a
	// concurrency slot for at most that long.
	CallTimeout time.Duration
	// QuotaZone is when Marketo's daily quota resets (default
	// America/Chicago); a 607 gives a *QuotaError whose ResetAt follows it.
	QuotaZone QuotaZone
}

// MaxCallTime is the longest one Marketo call may take, answer read: the
// longest server timeout Marketo documents (Sync Custom Objects, 120 s) plus
// 5 s for the network. Every client bounds its calls by it, and lib/limit's
// budgets assume it (limit.Config.MaxCall defaults to it), so a concurrency
// lease never expires under a call still in flight.
const MaxCallTime = 125 * time.Second

// Client is a Marketo REST client, safe for concurrent use.
type Client struct {
	base, identity string
	cfg            Config
	hc             *http.Client
	log            *slog.Logger
	budget         Budget

	tokMu     sync.Mutex
	token     string
	expiresAt time.Time

	statMu sync.Mutex
	stats  Stats
}

// New validates cfg and returns a client. It does not call Marketo.
func New(cfg Config) (*Client, error) {
	base, err := normaliseBase(cfg.BaseURL, cfg.AllowHTTP)
	if err != nil {
		return nil, fmt.Errorf("marketo config: BaseURL: %w", err)
	}
	ident := base + "/identity"
	if cfg.IdentityURL != "" {
		if ident, err = normaliseIdentity(cfg.IdentityURL, cfg.AllowHTTP); err != nil {
			return nil, fmt.Errorf("marketo config: IdentityURL: %w", err)
		}
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		return nil, errors.New("marketo config: ClientID is empty")
	}
	if cfg.ClientSecret == "" {
		return nil, fmt.Errorf("marketo config: ClientSecret is empty for client id %q", cfg.ClientID)
	}
	if cfg.MaxAttempts < 0 {
		return nil, fmt.Errorf("marketo config: negative MaxAttempts %d", cfg.MaxAttempts)
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 30 * time.Second
	}
	if cfg.MaxURLBytes <= 0 {
		cfg.MaxURLBytes = 7900
	}
	if cfg.CallTimeout <= 0 || cfg.CallTimeout > MaxCallTime {
		cfg.CallTimeout = MaxCallTime
	}
	if cfg.QuotaZone, err = ParseQuotaZone(string(cfg.QuotaZone)); err != nil {
		return nil, fmt.Errorf("marketo config: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = clock.Sleep
	}
	c := &Client{base: base, identity: ident, cfg: cfg, hc: cfg.HTTPClient, log: cfg.Logger, budget: cfg.Budget}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: cfg.CallTimeout}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.budget == nil {
		c.budget = unpaced{}
	}
	c.stats.ByCode = map[string]int{}
	c.stats.ByPath = map[string]int{}
	return c, nil
}

// normaliseURL checks an https (or, with allowHTTP, http) URL with a host
// and nothing but a path, and returns it without trailing or doubled slashes.
func normaliseURL(raw string, allowHTTP bool) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("empty URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", raw, err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	case u.Scheme == "http":
		return "", fmt.Errorf("%q uses plain http; set AllowHTTP only for simulators and tests", raw)
	default:
		return "", fmt.Errorf("%q: scheme must be https", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q has no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q must not carry a query, fragment or user info", raw)
	}
	p := strings.TrimRight(u.Path, "/")
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	return u.Scheme + "://" + u.Host + p, nil
}

// normaliseIdentity is normaliseURL for the identity service: the path
// ends in /identity (added to a bare host; a trailing /oauth/token, the
// token endpoint itself, is taken off since the client appends it).
func normaliseIdentity(raw string, allowHTTP bool) (string, error) {
	s, err := normaliseURL(raw, allowHTTP)
	if err != nil {
		return "", err
	}
	s = strings.TrimSuffix(s, "/oauth/token")
	if u, _ := url.Parse(s); u != nil && u.Path == "" {
		s += "/identity"
	}
	return s, nil
}

// normaliseBase is normaliseURL that also accepts the Admin "Endpoint" form
// ending in /rest.
func normaliseBase(raw string, allowHTTP bool) (string, error) {
	s, err := normaliseURL(raw, allowHTTP)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(s, "/rest"), nil
}

// Stats returns a copy of the cumulative counters.
func (c *Client) Stats() Stats {
	c.statMu.Lock()
	defer c.statMu.Unlock()
	s := c.stats
	s.ByCode = make(map[string]int, len(c.stats.ByCode))
	for k, v := range c.stats.ByCode {
		s.ByCode[k] = v
	}
	s.ByPath = make(map[string]int, len(c.stats.ByPath))
	for k, v := range c.stats.ByPath {
		s.ByPath[k] = v
	}
	return s
}

// count updates the stats under their lock.
func (c *Client) count(f func(*Stats)) {
	c.statMu.Lock()
	f(&c.stats)
	c.statMu.Unlock()
}

// call describes one logical REST call.
type call struct {
	method string     // GET or POST
	path   string     // e.g. /rest/v1/leads.json (already escaped)
	tmpl   string     // path template for stats, e.g. /rest/v1/lead/{id}.json
	query  url.Values // GET parameters, or the _method=GET form
	body   any        // JSON body for POST
	// formGET sends GET parameters as POST ?_method=GET form from the start.
	formGET bool
}

// envelope is Marketo's JSON answer around every REST result.
type envelope struct {
	RequestID     string          `json:"requestId"`
	Success       bool            `json:"success"`
	Result        json.RawMessage `json:"result"`
	Errors        []Reason        `json:"errors"`
	Warnings      []Reason        `json:"warnings"`
	NextPageToken string          `json:"nextPageToken"`
	MoreResult    bool            `json:"moreResult"`
}

// readBody reads (and closes) a response body, gunzipping it when needed.
func readBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		gz, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer gz.Close()
		r = gz
	}
	b, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return b, nil
}

// newRequest builds the HTTP request of k: a GET, or a POST ?_method=GET
// form when k.formGET is set or the URL would pass MaxURLBytes, or a JSON
// POST.
func (c *Client) newRequest(ctx context.Context, k *call, body []byte, token string) (*http.Request, error) {
	var req *http.Request
	var err error
	getURL := c.base + k.path
	if len(k.query) > 0 {
		getURL += "?" + k.query.Encode()
	}
	switch {
	case k.method == http.MethodGet && !k.formGET && len(getURL) <= c.cfg.MaxURLBytes:
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, getURL, nil)
	case k.method == http.MethodGet:
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, c.base+k.path+"?_method=GET", strings.NewReader(k.query.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	default:
		u := c.base + k.path
		if len(k.query) > 0 {
			u += "?" + k.query.Encode()
		}
		req, err = http.NewRequestWithContext(ctx, k.method, u, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("marketo %s: build request: %w", k.tmpl, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Accept-Encoding", "gzip")
	return req, nil
}

// do runs one logical call with budget, auth, retries and classification and
// returns the successful envelope. A 702 comes back as an empty success.
func (c *Client) do(ctx context.Context, k *call) (*envelope, error) {
	body, err := k.encodeBody()
	if err != nil {
		return nil, err
	}
	st := attempts{n: 1}
	for {
		if st.n > c.cfg.MaxAttempts {
			return nil, fmt.Errorf("marketo %s: gave up after %d attempts: %w", k.tmpl, c.cfg.MaxAttempts, st.lastErr)
		}
		env, v, err := c.attempt(ctx, k, body, &st)
		switch v {
		case finish:
			return env, err
		case retry:
			st.lastErr = err
			if err := c.retryWait(ctx, k, st.n); err != nil {
				return nil, err
			}
			st.n++
		case resend: // at once, on the same attempt
		}
	}
}

// attempts is what the call loop of one logical call remembers.
type attempts struct {
	n            int  // the attempt being made, from 1
	reauthed     bool // a 601/602 has caused a re-authentication already
	tries611     int
	triesUnknown int
	lastErr      error // the failure a give-up reports
}

// verdict is what the call loop does after one attempt.
type verdict int

const (
	finish verdict = iota // return the envelope or the error
	retry                 // back off, use up an attempt, send again
	resend                // send again at once; no attempt is used up
)

// encodeBody returns the JSON body of k, or nil when it has none.
func (k *call) encodeBody() ([]byte, error) {
	if k.body == nil {
		return nil, nil
	}
	b, err := json.Marshal(k.body)
	if err != nil {
		return nil, fmt.Errorf("marketo %s: encode body: %w", k.tmpl, err)
	}
	return b, nil
}

// attempt sends k once, under a token and the budget, and judges the answer.
func (c *Client) attempt(ctx context.Context, k *call, body []byte, st *attempts) (*envelope, verdict, error) {
	token, err := c.accessToken(ctx)
	if err != nil {
		return nil, finish, err
	}
	req, err := c.newRequest(ctx, k, body, token)
	if err != nil {
		return nil, finish, err
	}
	release, err := c.takeBudget(ctx, k)
	if err != nil {
		return nil, finish, err
	}
	ex := c.roundTrip(req, release)
	if ex.reached { // a call withdrawn before it left is not counted
		c.count(func(s *Stats) { s.Calls++; s.ByPath[k.tmpl]++ })
	}
	switch {
	case ex.err != nil:
		return c.judgeNoAnswer(ctx, k, ex)
	case ex.status != http.StatusOK:
		return c.judgeHTTPStatus(ctx, k, ex)
	}
	return c.judgeEnvelope(ctx, k, ex, token, st)
}

// takeBudget waits for the budget and counts the wait.
func (c *Client) takeBudget(ctx context.Context, k *call) (release func(), err error) {
	t0 := time.Now()
	release, err = c.budget.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("marketo %s: budget: %w", k.tmpl, err)
	}
	c.count(func(s *Stats) { s.Waited += time.Since(t0) })
	return release, nil
}

// exchange is one HTTP round trip: the status and body, or the transport error.
type exchange struct {
	status int
	raw    []byte
	dur    time.Duration
	err    error
	// reached is false for a call withdrawn before it was written.
	reached bool
}

// roundTrip sends req and reads the answer within CallTimeout, then gives
// the budget back.
func (c *Client) roundTrip(req *http.Request, release func()) exchange {
	start := time.Now()
	ctx, cancel := context.WithTimeout(req.Context(), c.cfg.CallTimeout)
	req, reached := wire.Watch(req.WithContext(ctx))
	resp, err := c.hc.Do(req)
	left := reached(err)
	var raw []byte
	if err == nil {
		raw, err = readBody(resp)
	}
	cancel()
	release()
	ex := exchange{raw: raw, dur: time.Since(start), err: err, reached: left}
	if err == nil {
		ex.status = resp.StatusCode
	}
	return ex
}

// judgeNoAnswer retries a call that got no answer, unless ctx has ended.
func (c *Client) judgeNoAnswer(ctx context.Context, k *call, ex exchange) (*envelope, verdict, error) {
	if ctx.Err() != nil {
		return nil, finish, fmt.Errorf("marketo %s: %w", k.tmpl, ctx.Err())
	}
	c.count(func(s *Stats) { s.ByCode["network"]++ })
	c.log.DebugContext(ctx, "marketo call", "path", k.tmpl, "err", redactURLError(ex.err).Error(), "duration", ex.dur)
	return nil, retry, fmt.Errorf("marketo %s: %w", k.tmpl, redactURLError(ex.err))
}

// judgeHTTPStatus handles an answer other than HTTP 200: a 414 resends the
// GET as POST ?_method=GET, a 5xx is retried, anything else is returned (413
// is split by the batching caller).
func (c *Client) judgeHTTPStatus(ctx context.Context, k *call, ex exchange) (*envelope, verdict, error) {
	status := ex.status
	c.count(func(s *Stats) { s.ByCode[fmt.Sprintf("http-%d", status)]++ })
	c.log.DebugContext(ctx, "marketo call", "path", k.tmpl, "status", status, "duration", ex.dur)
	herr := &Error{Path: k.tmpl, HTTPStatus: status, Message: http.StatusText(status)}
	switch {
	case status == http.StatusRequestURITooLong && k.method == http.MethodGet && !k.formGET:
		k.formGET = true // resend as POST ?_method=GET; not a wasted attempt
		return nil, resend, nil
	case status >= 500:
		return nil, retry, herr
	}
	return nil, finish, herr
}

// judgeEnvelope decodes an HTTP 200 answer and returns a success.
func (c *Client) judgeEnvelope(ctx context.Context, k *call, ex exchange, token string, st *attempts) (*envelope, verdict, error) {
	var env envelope
	if err := json.Unmarshal(ex.raw, &env); err != nil {
		return nil, finish, fmt.Errorf("marketo %s: answer is not a JSON envelope: %w", k.tmpl, err)
	}
	if !env.Success {
		return c.judgeFailure(ctx, k, &env, ex, token, st)
	}
	c.count(func(s *Stats) { s.ByCode["success"]++ })
	c.log.DebugContext(ctx, "marketo call", "path", k.tmpl, "status", ex.status, "requestId", env.RequestID, "duration", ex.dur)
	return &env, finish, nil
}

// judgeFailure applies the retry class of a success:false answer's code
// (docs/marketo.md §7).
func (c *Client) judgeFailure(ctx context.Context, k *call, env *envelope, ex exchange, token string, st *attempts) (*envelope, verdict, error) {
	code := "unknown"
	msg := "success:false without errors"
	if len(env.Errors) > 0 {
		code, msg = env.Errors[0].Code, env.Errors[0].Message
	}
	c.count(func(s *Stats) { s.ByCode[code]++ })
	c.log.DebugContext(ctx, "marketo call", "path", k.tmpl, "status", ex.status, "code", code, "requestId", env.RequestID, "duration", ex.dur)
	merr := &Error{Code: code, Message: msg, RequestID: env.RequestID, Path: k.tmpl, HTTPStatus: ex.status}
	switch classify(code) {
	case classAuth:
		c.dropToken(token)
		if st.reauthed {
			return nil, finish, fmt.Errorf("marketo %s: still rejected after re-authentication: %w", k.tmpl, merr)
		}
		st.reauthed = true
		return nil, resend, nil
	case classStop:
		return nil, finish, &QuotaError{ResetAt: c.cfg.QuotaZone.ResumeAfter607(c.cfg.Now()), RequestID: env.RequestID}
	case classEmpty:
		env.Success, env.Result = true, nil
		return env, finish, nil
	case classLimited:
		st.tries611++
		if st.tries611 >= 3 {
			return nil, finish, merr
		}
	case classUnknown:
		st.triesUnknown++
		if st.triesUnknown >= 3 {
			return nil, finish, merr
		}
	case classFatal:
		return nil, finish, merr
	}
	return nil, retry, merr
}

// retryWait backs off before the next attempt, unless attempt was the last.
func (c *Client) retryWait(ctx context.Context, k *call, attempt int) error {
	if attempt >= c.cfg.MaxAttempts {
		return nil // the loop reports the give-up with the last error
	}
	c.count(func(s *Stats) { s.Retries++ })
	if err := c.backoff(ctx, attempt); err != nil {
		return fmt.Errorf("marketo %s: waiting to retry: %w", k.tmpl, err)
	}
	return nil
}

// backoff sleeps an exponential step with jitter: uniform in [d/2, d] where d
// doubles from BackoffBase per attempt up to BackoffMax.
func (c *Client) backoff(ctx context.Context, attempt int) error {
	d := c.cfg.BackoffBase
	for i := 1; i < attempt && d < c.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, c.cfg.BackoffMax)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	return c.cfg.Sleep(ctx, d)
}
