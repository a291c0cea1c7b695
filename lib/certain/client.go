package certain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/clock"
	"github.com/certain-marketo/certain-marketo/lib/wire"
)

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	BaseURL  string // tenant host, e.g. https://app.certain.com (required)
	Username string
	Password string
	// AllowHTTP permits a plain http:// BaseURL (simulators only).
	AllowHTTP  bool
	HTTPClient *http.Client // default: a client with a 60 s timeout
	Fields     FieldNames   // zero values = Defaults()
	PagingMode string       // PagingOffset0 (default), PagingOffset1, PagingPage1, PagingNone
	PageSize   int          // max_results, default 200
	// MaxInFlight is the most HTTP calls this client has in flight at once
	// (default 16): the ceiling of its adaptive limit, which starts at
	// InitialInFlight (default 4) and finds what the tenant tolerates
	// (adaptive.go).
	MaxInFlight     int
	InitialInFlight int
	// ReadAhead is the most pages of a paged read fetched ahead of the
	// page being handled, once the collection's size is known; the read
	// fetches fewer while its caller is slower than the reads
	// (readahead.go): default MaxInFlight/2, negative for none.
	ReadAhead int
	// Budget is taken before every HTTP attempt, so that every Lambda
	// calling the account together stays inside its capacity
	// (limit.Shared); nil means none.
	Budget       Budget
	IncludeParam string // default "includeList"
	MaxAttempts  int    // tries per call for 429/5xx, default 6
	MinBackoff   time.Duration
	MaxBackoff   time.Duration // back-off grows from MinBackoff (2 s) to MaxBackoff (2 min)
	MaxPages     int           // runaway-paging guard, default 10,000
	Logger       *slog.Logger
	// Sleep waits between retries; tests inject one that does not wait.
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time
	// Contract holds the tenant settings of docs/certain.md §9 that are
	// not field names (contract.go).
	Contract Contract
}

// Client talks to one Certain tenant. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base *url.URL
	lim  *adaptive

	mu    sync.Mutex
	stats Stats
	sizes sync.Map // resource -> page size a page1 server uses (paging.go)
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := parseBaseURL(cfg.BaseURL, cfg.AllowHTTP)
	if err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Client{
		cfg:  cfg,
		base: u,
		lim:  newAdaptive(cfg.InitialInFlight, cfg.MaxInFlight, cfg.Now, cfg.Sleep, cfg.MaxBackoff),
		stats: Stats{
			ByPath: map[string]int{},
			ByCode: map[int]int{},
		},
	}, nil
}

// parseBaseURL accepts an https tenant URL (http only with allowHTTP) with a
// host and no user info.
func parseBaseURL(raw string, allowHTTP bool) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New("certain: config: BaseURL is required")
	}
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, fmt.Errorf("certain: config: BaseURL: %w", err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	case u.Scheme == "http":
		return nil, fmt.Errorf("certain: config: BaseURL %q uses plain http; set AllowHTTP only for a simulator", u.Redacted())
	default:
		return nil, fmt.Errorf("certain: config: BaseURL %q must be an https URL", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("certain: config: BaseURL %q has no host", u.Redacted())
	}
	if u.User != nil {
		return nil, errors.New("certain: config: BaseURL must not carry credentials; use Username and Password")
	}
	return u, nil
}

// validate checks the settings other than BaseURL.
func (cfg Config) validate() error {
	if cfg.Username == "" || cfg.Password == "" {
		return errors.New("certain: config: Username and Password are required")
	}
	switch cfg.PagingMode {
	case "", PagingOffset0, PagingOffset1, PagingPage1, PagingNone:
	default:
		return fmt.Errorf("certain: config: PagingMode %q is not one of offset0, offset1, page1, none", cfg.PagingMode)
	}
	if err := cfg.Contract.validate(); err != nil {
		return err
	}
	if cfg.PageSize < 0 || cfg.MaxInFlight < 0 || cfg.InitialInFlight < 0 || cfg.MaxAttempts < 0 || cfg.MaxPages < 0 {
		return errors.New("certain: config: PageSize, MaxInFlight, InitialInFlight, MaxAttempts and MaxPages must not be negative")
	}
	return nil
}

// withDefaults fills every zero setting with its documented default.
func (cfg Config) withDefaults() Config {
	if cfg.PagingMode == "" {
		cfg.PagingMode = PagingOffset0
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 200
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 16
	}
	if cfg.InitialInFlight == 0 {
		cfg.InitialInFlight = 4
	}
	if cfg.Budget == nil {
		cfg.Budget = unbudgeted{}
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 6
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 2 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 2 * time.Minute
	}
	if cfg.MaxPages == 0 {
		cfg.MaxPages = 10000
	}
	if cfg.IncludeParam == "" {
		cfg.IncludeParam = "includeList"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Sleep == nil {
		cfg.Sleep = clock.Sleep
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Fields = cfg.Fields.WithDefaults()
	cfg.Contract = cfg.Contract.withDefaults()
	return cfg
}

// Fields returns the effective field names (defaults filled in).
func (c *Client) Fields() FieldNames { return c.cfg.Fields }

// Stats returns a snapshot of the call counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	var a adaptiveStats
	s.Limit, _, s.InFlight, a = c.lim.snapshot()
	s.PeakInFlight, s.Cuts, s.LatencyCuts, s.Paused, s.CallTime, s.Throttled = a.peak, a.cuts, a.latCuts, a.paused, a.busy, a.throttled
	s.ByPath, s.ByCode = maps.Clone(c.stats.ByPath), maps.Clone(c.stats.ByCode)
	return s
}

// count records one HTTP attempt in the stats (status 0: no answer).
func (c *Client) count(method, resource string, status int, retry bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Calls++
	c.stats.ByPath[method+" "+resource]++
	if status != 0 {
		c.stats.ByCode[status]++
	}
	if retry {
		c.stats.Retries++
	}
}

// call describes one logical request.
type call struct {
	method   string
	resource string // stats and error label: "Registration", "Session", ...
	path     string // escaped path below the host
	query    url.Values
	body     any
	// create marks a non-idempotent POST: only 429 (not processed) is
	// retried, so an ambiguous 5xx or dropped connection never duplicates
	// a profile or registration.
	create bool
}

// do runs c with retries and returns the response body of a 2xx answer.
func (c *Client) do(ctx context.Context, cl call) ([]byte, error) {
	payload, err := cl.encodeBody()
	if err != nil {
		return nil, err
	}
	target := c.target(cl)
	for attempt := 1; ; attempt++ {
		body, status, retryAfter, err := c.attempt(ctx, cl, target, payload, attempt > 1)
		if err == nil {
			return body, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("certain: %s %s: %w", cl.method, cl.resource, ctx.Err())
		}
		retryable := cl.retryable(status)
		if !retryable || attempt >= c.cfg.MaxAttempts {
			if retryable {
				return nil, fmt.Errorf("certain: giving up after %d attempts: %w", attempt, err)
			}
			return nil, err
		}
		if err := c.retryWait(ctx, cl, status, attempt, retryAfter); err != nil {
			return nil, err
		}
	}
}

// encodeBody returns the JSON body of cl, or nil when it has none.
func (cl call) encodeBody() ([]byte, error) {
	if cl.body == nil {
		return nil, nil
	}
	b, err := json.Marshal(cl.body)
	if err != nil {
		return nil, fmt.Errorf("certain: %s %s: encode body: %w", cl.method, cl.resource, err)
	}
	return b, nil
}

// target is the absolute URL of cl.
func (c *Client) target(cl call) string {
	u := *c.base
	u.Path = ""
	target := u.String() + cl.path
	if len(cl.query) > 0 {
		target += "?" + cl.query.Encode()
	}
	return target
}

// retryWait sleeps the back-off of attempt, or what Retry-After asked (at
// most MaxBackoff). A 429's or 503's Retry-After pauses every new call of
// the client (adaptive.go), the retry's included, so it is not slept here
// a second time.
func (c *Client) retryWait(ctx context.Context, cl call, status, attempt int, retryAfter time.Duration) error {
	wait := c.backoff(attempt)
	if retryAfter > 0 {
		wait = min(retryAfter, c.cfg.MaxBackoff)
	}
	c.cfg.Logger.WarnContext(ctx, "certain call retried",
		"method", cl.method, "resource", cl.resource, "status", status, "attempt", attempt, "wait", wait.String())
	if retryAfter > 0 && overload(status) {
		return nil
	}
	if err := c.cfg.Sleep(ctx, wait); err != nil {
		return fmt.Errorf("certain: %s %s: waiting to retry: %w", cl.method, cl.resource, err)
	}
	return nil
}

// backoff is exponential from MinBackoff, capped at MaxBackoff, with jitter
// in [d/2, d] so that parallel callers spread out.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.MinBackoff
	for i := 1; i < attempt && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	half := d / 2
	return half + rand.N(half+1)
}

// attempt performs a single HTTP attempt under the adaptive limit and the
// budget. status is 0 for a transport error.
func (c *Client) attempt(ctx context.Context, cl call, target string, payload []byte, retry bool) ([]byte, int, time.Duration, error) {
	t, err := c.lim.acquire(ctx)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("certain: %s %s: waiting for the concurrency limit: %w", cl.method, cl.resource, err)
	}
	t0 := time.Now()
	release, err := c.cfg.Budget.Acquire(ctx)
	c.addBudgetWait(time.Since(t0))
	if err != nil {
		c.lim.abandon(t)
		return nil, 0, 0, fmt.Errorf("certain: %s %s: budget: %w", cl.method, cl.resource, err)
	}
	c.lim.sent()
	start := c.cfg.Now()
	body, status, retryAfter, err := c.send(ctx, cl, target, payload, retry)
	release()
	c.lim.release(t, answer{status: status, rtt: c.cfg.Now().Sub(start), retryAfter: retryAfter})
	return body, status, retryAfter, err
}

// addBudgetWait counts time spent waiting for the budget.
func (c *Client) addBudgetWait(d time.Duration) {
	c.mu.Lock()
	c.stats.BudgetWait += d
	c.mu.Unlock()
}

// send makes the HTTP request of cl and reads its answer. status is 0 for a
// transport error, -1 when no request could be built.
func (c *Client) send(ctx context.Context, cl call, target string, payload []byte, retry bool) ([]byte, int, time.Duration, error) {
	var rdr io.Reader
	if payload != nil {
		rdr = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, target, rdr)
	if err != nil {
		return nil, -1, 0, fmt.Errorf("certain: %s %s: build request: %w", cl.method, cl.resource, err)
	}
	req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req, reached := wire.Watch(req)
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		if reached(err) { // a call withdrawn before it left is not counted
			c.count(cl.method, cl.resource, 0, retry)
		}
		// url.Error carries the URL, which holds no secret (auth is a header).
		return nil, 0, 0, fmt.Errorf("certain: %s %s: %w", cl.method, cl.resource, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	c.count(cl.method, cl.resource, resp.StatusCode, retry)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("certain: %s %s: read body: %w", cl.method, cl.resource, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return body, resp.StatusCode, 0, nil
	}
	e := &Error{Status: resp.StatusCode, Method: cl.method, Resource: cl.resource, Message: errorMessage(body), user: c.cfg.Username}
	return nil, resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now()), e
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
