// Package certain is the REST client for the Certain event platform.
//
// Certain publishes no per-resource reference, so this client follows the
// "default contract" of docs/CERTAIN.md: every field name or value that is not
// publicly documented comes from FieldNames, which means a tenant that differs
// needs configuration, not code. Collections are exposed as iterators that
// fetch one page at a time, so a 100,000-registration event never sits in
// memory at once and a job can checkpoint the offset of the next page.
//
// Transport rules: HTTP Basic auth, JSON only, 404 on a collection search is an
// empty result, 429 and 5xx are retried with exponential back-off honouring
// Retry-After, and a semaphore bounds the calls in flight per client (Certain
// publishes no limits; CERTAIN.md assumes 4).
package certain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/clock"
)

// Paging modes for start_index (CERTAIN.md section 4).
const (
	PagingOffset0 = "offset0" // 0-based record offset (default)
	PagingOffset1 = "offset1" // 1-based record offset
	PagingPage1   = "page1"   // 1-based page number
)

// FilterTimeFormat is the layout of dateModified_after and friends (UTC).
const FilterTimeFormat = "2006-01-02T15:04:05"

const (
	v1Base = "/certainExternal/service/v1/"
	v2Base = "/api/standard/2.0/"
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
	PagingMode string       // PagingOffset0 (default), PagingOffset1, PagingPage1
	PageSize   int          // max_results, default 200
	// MaxInFlight bounds concurrent HTTP calls made through this client
	// (default 4), so bulk writes from many goroutines stay bounded.
	MaxInFlight  int
	IncludeParam string // default "includeList"
	MaxAttempts  int    // tries per call for 429/5xx, default 6
	MinBackoff   time.Duration
	MaxBackoff   time.Duration // back-off grows from MinBackoff (2 s) to MaxBackoff (2 min)
	MaxPages     int           // runaway-paging guard, default 10,000
	Logger       *slog.Logger
	// Sleep waits between retries; tests inject one that does not wait.
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time
}

// Client talks to one Certain tenant. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base *url.URL
	sem  chan struct{}

	mu    sync.Mutex
	stats Stats
}

// Error is a Certain API failure: the HTTP status, the call and Certain's message.
type Error struct {
	Status   int
	Method   string
	Resource string
	Message  string
	user     string
}

// ErrBadCredentials is matched (errors.Is) by a 401 *Error.
var ErrBadCredentials = errors.New("certain: bad credentials")

func (e *Error) Error() string {
	if e.Status == http.StatusUnauthorized {
		return fmt.Sprintf("certain: bad credentials for API user %q (HTTP 401 on %s %s)", e.user, e.Method, e.Resource)
	}
	if e.Message == "" {
		return fmt.Sprintf("certain: %s %s: HTTP %d", e.Method, e.Resource, e.Status)
	}
	return fmt.Sprintf("certain: %s %s: HTTP %d: %s", e.Method, e.Resource, e.Status, e.Message)
}

// Is makes errors.Is(err, ErrBadCredentials) true for a 401.
func (e *Error) Is(target error) bool {
	return target == ErrBadCredentials && e.Status == http.StatusUnauthorized
}

// IsNotFound reports whether err is a Certain 404.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.BaseURL) == "" {
		return nil, errors.New("certain: config: BaseURL is required")
	}
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("certain: config: BaseURL: %w", err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && cfg.AllowHTTP:
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
	if cfg.Username == "" || cfg.Password == "" {
		return nil, errors.New("certain: config: Username and Password are required")
	}
	switch cfg.PagingMode {
	case "":
		cfg.PagingMode = PagingOffset0
	case PagingOffset0, PagingOffset1, PagingPage1:
	default:
		return nil, fmt.Errorf("certain: config: PagingMode %q is not one of offset0, offset1, page1", cfg.PagingMode)
	}
	if cfg.PageSize < 0 || cfg.MaxInFlight < 0 || cfg.MaxAttempts < 0 || cfg.MaxPages < 0 {
		return nil, errors.New("certain: config: PageSize, MaxInFlight, MaxAttempts and MaxPages must not be negative")
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 200
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 4
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
	return &Client{
		cfg:  cfg,
		base: u,
		sem:  make(chan struct{}, cfg.MaxInFlight),
		stats: Stats{
			ByPath: map[string]int{},
			ByCode: map[int]int{},
		},
	}, nil
}

// Fields returns the effective field names (defaults filled in).
func (c *Client) Fields() FieldNames { return c.cfg.Fields }

// Stats returns a snapshot of the call counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{Calls: c.stats.Calls, Retries: c.stats.Retries, ByPath: map[string]int{}, ByCode: map[int]int{}}
	for k, v := range c.stats.ByPath {
		s.ByPath[k] = v
	}
	for k, v := range c.stats.ByCode {
		s.ByCode[k] = v
	}
	return s
}

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
	var payload []byte
	if cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return nil, fmt.Errorf("certain: %s %s: encode body: %w", cl.method, cl.resource, err)
		}
		payload = b
	}
	u := *c.base
	u.Path = ""
	target := u.String() + cl.path
	if len(cl.query) > 0 {
		target += "?" + cl.query.Encode()
	}
	for attempt := 1; ; attempt++ {
		body, status, retryAfter, err := c.once(ctx, cl, target, payload, attempt > 1)
		if err == nil {
			return body, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("certain: %s %s: %w", cl.method, cl.resource, ctx.Err())
		}
		retryable := status == http.StatusTooManyRequests ||
			(!cl.create && (status >= 500 || status == 0))
		if !retryable || attempt >= c.cfg.MaxAttempts {
			if retryable {
				return nil, fmt.Errorf("certain: giving up after %d attempts: %w", attempt, err)
			}
			return nil, err
		}
		wait := c.backoff(attempt)
		if retryAfter > 0 {
			wait = retryAfter
		}
		c.cfg.Logger.WarnContext(ctx, "certain call retried",
			"method", cl.method, "resource", cl.resource, "status", status, "attempt", attempt, "wait", wait.String())
		if err := c.cfg.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("certain: %s %s: waiting to retry: %w", cl.method, cl.resource, err)
		}
	}
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

// once performs a single HTTP attempt. status is 0 for a transport error.
func (c *Client) once(ctx context.Context, cl call, target string, payload []byte, retry bool) ([]byte, int, time.Duration, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, 0, 0, ctx.Err()
	}
	defer func() { <-c.sem }()

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
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		c.count(cl.method, cl.resource, 0, retry)
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

func errorMessage(body []byte) string {
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		for _, k := range []string{"message", "Message", "error", "errorMessage"} {
			if s := getString(m, k); s != "" {
				return s
			}
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

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

func decodeObject(method, resource string, body []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("certain: %s %s: response is not a JSON object (%.40q): %w", method, resource, body, err)
	}
	return m, nil
}

func seg(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}

func required(what string, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			return fmt.Errorf("certain: %s: %s is required", what, pairs[i])
		}
	}
	return nil
}

// pageSpec describes a paged collection read.
type pageSpec struct {
	resource string
	path     string
	query    url.Values
	key      string // array key in the envelope
	start    int
}

// pages streams a collection one page at a time. The last yielded page has
// Last set; a 404 or an empty collection yields one empty Last page.
func pages[T any](ctx context.Context, c *Client, ps pageSpec, decode func(env, item map[string]any) T) iter.Seq2[Page[T], error] {
	return func(yield func(Page[T], error) bool) {
		if ps.start < 0 {
			yield(Page[T]{}, fmt.Errorf("certain: %s: start index %d is negative", ps.resource, ps.start))
			return
		}
		if c.cfg.PagingMode == PagingPage1 && ps.start%c.cfg.PageSize != 0 {
			yield(Page[T]{}, fmt.Errorf("certain: %s: start index %d is not a multiple of page size %d (paging mode page1)", ps.resource, ps.start, c.cfg.PageSize))
			return
		}
		offset := ps.start
		for n := 0; ; n++ {
			if n >= c.cfg.MaxPages {
				yield(Page[T]{StartIndex: offset, NextIndex: offset}, fmt.Errorf("certain: %s: stopped after %d pages (runaway paging guard)", ps.resource, n))
				return
			}
			q := url.Values{}
			for k, v := range ps.query {
				q[k] = v
			}
			q.Set("start_index", strconv.Itoa(c.startParam(offset)))
			q.Set("max_results", strconv.Itoa(c.cfg.PageSize))
			body, err := c.do(ctx, call{method: http.MethodGet, resource: ps.resource, path: ps.path, query: q})
			if IsNotFound(err) {
				yield(Page[T]{StartIndex: offset, NextIndex: offset, Last: true}, nil)
				return
			}
			if err != nil {
				yield(Page[T]{StartIndex: offset, NextIndex: offset}, err)
				return
			}
			env, err := decodeObject(http.MethodGet, ps.resource, body)
			if err != nil {
				yield(Page[T]{StartIndex: offset, NextIndex: offset}, err)
				return
			}
			raw, _ := env[ps.key].([]any)
			p := Page[T]{StartIndex: offset, Total: int(num(env["completeCollectionSize"]))}
			for _, r := range raw {
				item, ok := r.(map[string]any)
				if !ok {
					yield(Page[T]{StartIndex: offset, NextIndex: offset}, fmt.Errorf("certain: GET %s: %q holds a non-object entry", ps.resource, ps.key))
					return
				}
				p.Items = append(p.Items, decode(env, item))
			}
			p.NextIndex = offset + len(p.Items)
			if _, hasSize := env["size"]; len(p.Items) == 0 || (hasSize && num(env["size"]) == 0) ||
				(p.Total > 0 && p.NextIndex >= p.Total) {
				p.Last = true
			}
			if !yield(p, nil) || p.Last {
				return
			}
			offset = p.NextIndex
		}
	}
}

func (c *Client) startParam(offset int) int {
	switch c.cfg.PagingMode {
	case PagingOffset1:
		return offset + 1
	case PagingPage1:
		return offset/c.cfg.PageSize + 1
	}
	return offset
}

// collect drains a page iterator.
func collect[T any](seq iter.Seq2[Page[T], error]) ([]T, error) {
	var out []T
	for p, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, p.Items...)
	}
	return out, nil
}

// GetEvent reads one event.
func (c *Client) GetEvent(ctx context.Context, acct, event string) (Event, error) {
	if err := required("GetEvent", "account", acct, "event", event); err != nil {
		return Event{}, err
	}
	body, err := c.do(ctx, call{method: http.MethodGet, resource: "Event", path: v1Base + seg("Event", acct, event)})
	if err != nil {
		return Event{}, err
	}
	m, err := decodeObject(http.MethodGet, "Event", body)
	if err != nil {
		return Event{}, err
	}
	return Event{
		Code: getString(m, "eventCode"), Name: getString(m, "eventName"),
		StartDate: ParseTime(getString(m, "startDate")), EndDate: ParseTime(getString(m, "endDate")),
		Active: getBool(m, "isActive"),
	}, nil
}

// RegistrationPages streams an event's registrations page by page.
func (c *Client) RegistrationPages(ctx context.Context, acct, event string, q RegistrationQuery) iter.Seq2[Page[Registration], error] {
	if err := required("RegistrationPages", "account", acct, "event", event); err != nil {
		return func(yield func(Page[Registration], error) bool) { yield(Page[Registration]{}, err) }
	}
	v := url.Values{}
	for k, val := range q.Filters {
		v.Set(k, val)
	}
	if !q.ModifiedAfter.IsZero() {
		v.Set("dateModified_after", q.ModifiedAfter.UTC().Format(FilterTimeFormat))
	}
	if q.ActiveOnly {
		v.Set("isActive", "true")
	}
	order := q.OrderBy
	if order == "" {
		order = "dateModified_asc"
	}
	v.Set("orderBy", order)
	return pages(ctx, c, pageSpec{resource: "Registration", path: v1Base + seg("Registration", acct, event), query: v, key: "registrations", start: q.StartIndex},
		func(_, m map[string]any) Registration { return c.decodeRegistration(m) })
}

// GetRegistration reads one registration; a 404 satisfies IsNotFound.
func (c *Client) GetRegistration(ctx context.Context, acct, event, regCode string) (Registration, error) {
	if err := required("GetRegistration", "account", acct, "event", event, "registration code", regCode); err != nil {
		return Registration{}, err
	}
	body, err := c.do(ctx, call{method: http.MethodGet, resource: "Registration", path: v1Base + seg("Registration", acct, event, regCode)})
	if err != nil {
		return Registration{}, err
	}
	m, err := decodeObject(http.MethodGet, "Registration", body)
	if err != nil {
		return Registration{}, err
	}
	return c.decodeRegistration(m), nil
}

// CreateRegistration registers an existing profile (by pin) for an event.
func (c *Client) CreateRegistration(ctx context.Context, acct, event string, r NewRegistration) (Registration, error) {
	if err := required("CreateRegistration", "account", acct, "event", event, "profile pin", r.PIN); err != nil {
		return Registration{}, err
	}
	b := map[string]any{"profile": map[string]any{"pin": r.PIN}}
	if r.AttendeeType != "" {
		b["attendeeTypeCode"] = r.AttendeeType
	}
	if r.Status != "" {
		b[c.cfg.Fields.RegistrationStatus] = r.Status
	}
	body, err := c.do(ctx, call{method: http.MethodPost, resource: "Registration", path: v1Base + seg("Registration", acct, event), body: b, create: true})
	if err != nil {
		return Registration{}, err
	}
	m, err := decodeObject(http.MethodPost, "Registration", body)
	if err != nil {
		return Registration{}, err
	}
	reg := c.decodeRegistration(m)
	if reg.Code == "" {
		return reg, fmt.Errorf("certain: POST Registration: response carries no registrationCode")
	}
	return reg, nil
}

// UpdateRegistration sends only the given fields to the registration.
func (c *Client) UpdateRegistration(ctx context.Context, acct, event, regCode string, changed map[string]any) error {
	if err := required("UpdateRegistration", "account", acct, "event", event, "registration code", regCode); err != nil {
		return err
	}
	if len(changed) == 0 {
		return nil
	}
	_, err := c.do(ctx, call{method: http.MethodPost, resource: "Registration", path: v1Base + seg("Registration", acct, event, regCode), body: changed})
	return err
}

// FindProfiles searches profiles by one field ("email" or the external id
// field), oldest dateModified first. No match is an empty slice.
func (c *Client) FindProfiles(ctx context.Context, acct, field, value string) ([]Profile, error) {
	if err := required("FindProfiles", "account", acct, "search field", field, "search value", value); err != nil {
		return nil, err
	}
	v := url.Values{}
	v.Set(field, value)
	v.Set("orderBy", "dateModified_asc")
	return collect(pages(ctx, c, pageSpec{resource: "Profile", path: v1Base + seg("Profile", acct), query: v, key: "profiles"},
		func(_, m map[string]any) Profile { return c.decodeProfile(m) }))
}

// GetProfile reads one profile by pin.
func (c *Client) GetProfile(ctx context.Context, acct, pin string) (Profile, error) {
	if err := required("GetProfile", "account", acct, "pin", pin); err != nil {
		return Profile{}, err
	}
	body, err := c.do(ctx, call{method: http.MethodGet, resource: "Profile", path: v1Base + seg("Profile", acct, pin)})
	if err != nil {
		return Profile{}, err
	}
	m, err := decodeObject(http.MethodGet, "Profile", body)
	if err != nil {
		return Profile{}, err
	}
	return c.decodeProfile(m), nil
}

// CreateProfile creates a profile and returns it with its new pin.
func (c *Client) CreateProfile(ctx context.Context, acct string, fields map[string]any) (Profile, error) {
	if err := required("CreateProfile", "account", acct); err != nil {
		return Profile{}, err
	}
	if len(fields) == 0 {
		return Profile{}, errors.New("certain: CreateProfile: no fields given")
	}
	body, err := c.do(ctx, call{method: http.MethodPost, resource: "Profile", path: v1Base + seg("Profile", acct), body: fields, create: true})
	if err != nil {
		return Profile{}, err
	}
	m, err := decodeObject(http.MethodPost, "Profile", body)
	if err != nil {
		return Profile{}, err
	}
	p := c.decodeProfile(m)
	if p.PIN == "" {
		return p, errors.New("certain: POST Profile: response carries no pin")
	}
	return p, nil
}

// UpdateProfile sends only the given fields; other fields stay unchanged.
func (c *Client) UpdateProfile(ctx context.Context, acct, pin string, changed map[string]any) error {
	if err := required("UpdateProfile", "account", acct, "pin", pin); err != nil {
		return err
	}
	if len(changed) == 0 {
		return nil
	}
	_, err := c.do(ctx, call{method: http.MethodPost, resource: "Profile", path: v1Base + seg("Profile", acct, pin), body: changed})
	return err
}

// AgendaItemPages streams the event's active agenda items with their tags.
func (c *Client) AgendaItemPages(ctx context.Context, acct, event string) iter.Seq2[Page[AgendaItem], error] {
	if err := required("AgendaItemPages", "account", acct, "event", event); err != nil {
		return func(yield func(Page[AgendaItem], error) bool) { yield(Page[AgendaItem]{}, err) }
	}
	v := url.Values{}
	v.Set(c.cfg.IncludeParam, "tags")
	v.Set("isActive", "true")
	f := c.cfg.Fields
	return pages(ctx, c, pageSpec{resource: "AgendaItem", path: v1Base + seg("AgendaItem", acct, event), query: v, key: "agendaItems"},
		func(_, m map[string]any) AgendaItem {
			return AgendaItem{Code: getString(m, "activityCode"), Name: getString(m, "name"), Active: getBool(m, "isActive"),
				Tags: getTags(m, f.Tags), Points: num(m[f.Points])}
		})
}

// RegistrationAgendaPages streams every agenda line of the event.
func (c *Client) RegistrationAgendaPages(ctx context.Context, acct, event string, startIndex int) iter.Seq2[Page[AgendaLine], error] {
	if err := required("RegistrationAgendaPages", "account", acct, "event", event); err != nil {
		return func(yield func(Page[AgendaLine], error) bool) { yield(Page[AgendaLine]{}, err) }
	}
	f := c.cfg.Fields
	return pages(ctx, c, pageSpec{resource: "RegistrationAgenda", path: v1Base + seg("RegistrationAgenda", acct, event), key: "registrationAgendas", start: startIndex},
		func(_, m map[string]any) AgendaLine {
			return AgendaLine{RegistrationCode: getString(m, "registrationCode"), ActivityCode: getString(m, "activityCode"),
				Status: getString(m, "status"), Rating: num(m[f.AgendaRating])}
		})
}

// SessionPages streams the event's session instances (Standard 2.0) with tags.
func (c *Client) SessionPages(ctx context.Context, acct, event string) iter.Seq2[Page[Session], error] {
	if err := required("SessionPages", "account", acct, "event", event); err != nil {
		return func(yield func(Page[Session], error) bool) { yield(Page[Session]{}, err) }
	}
	v := url.Values{}
	v.Set(c.cfg.IncludeParam, "tags")
	f := c.cfg.Fields
	return pages(ctx, c, pageSpec{resource: "Session", path: v2Base + seg("accounts", acct, "events", event, "sessions"), query: v, key: "sessions"},
		func(_, m map[string]any) Session {
			return Session{InstanceID: int(num(m["instanceId"])), SessionCode: getString(m, "sessionCode"), Title: getString(m, "sessionTitle"),
				Tags: getTags(m, f.Tags), Points: num(m[f.Points])}
		})
}

// SessionRegistrations reads all registrations of one session instance.
func (c *Client) SessionRegistrations(ctx context.Context, acct, event string, instanceID int) ([]SessionLine, error) {
	if err := required("SessionRegistrations", "account", acct, "event", event); err != nil {
		return nil, err
	}
	f := c.cfg.Fields
	return collect(pages(ctx, c, pageSpec{resource: "SessionRegistration",
		path: v2Base + seg("accounts", acct, "events", event, "sessions", strconv.Itoa(instanceID), "registrations"), key: "registrations"},
		func(env, m map[string]any) SessionLine {
			return SessionLine{InstanceID: instanceID, SessionCode: firstNonEmpty(getString(m, "sessionCode"), getString(env, "sessionCode")),
				RegistrationCode: getString(m, "registrationCode"), Status: getString(m, "registrationStatus"), Rating: num(m[f.SessionRating])}
		}))
}

// RegistrationSessions reads the session instances of one registration.
func (c *Client) RegistrationSessions(ctx context.Context, acct, event, regCode string) ([]SessionLine, error) {
	if err := required("RegistrationSessions", "account", acct, "event", event, "registration code", regCode); err != nil {
		return nil, err
	}
	f := c.cfg.Fields
	return collect(pages(ctx, c, pageSpec{resource: "RegistrationSession",
		path: v2Base + seg("accounts", acct, "events", event, "registrations", regCode, "sessions"), key: "instances"},
		func(_, m map[string]any) SessionLine {
			return SessionLine{InstanceID: int(num(m["instanceId"])), SessionCode: getString(m, "sessionCode"),
				RegistrationCode: regCode, Status: getString(m, "registrationStatus"), Rating: num(m[f.SessionRating])}
		}))
}

// AppointmentPages streams the event's appointments. Appointment.Rating is
// normalised to [given by registration, given by targetRegistration] whatever
// FieldNames.AppointmentRatingOrd says about the wire order.
func (c *Client) AppointmentPages(ctx context.Context, acct, event string, startIndex int) iter.Seq2[Page[Appointment], error] {
	if err := required("AppointmentPages", "account", acct, "event", event); err != nil {
		return func(yield func(Page[Appointment], error) bool) { yield(Page[Appointment]{}, err) }
	}
	swap := len(c.cfg.Fields.AppointmentRatingOrd) > 0 && c.cfg.Fields.AppointmentRatingOrd[0] == "targetRegistration"
	return pages(ctx, c, pageSpec{resource: "Appointments", path: v1Base + seg("Appointments", acct, event), key: "appointments", start: startIndex},
		func(_, m map[string]any) Appointment {
			a := Appointment{ID: int(num(m["appointmentId"])), Status: getString(m, "status"), Source: getString(m, "appointmentSource"),
				RegCode: getString(m, "registration.regCode"), TargetCode: getString(m, "targetRegistration.regCode")}
			if r, ok := m["appointmentRating"].([]any); ok {
				for i := 0; i < len(r) && i < 2; i++ {
					a.Rating[i] = num(r[i])
				}
			}
			if swap {
				a.Rating[0], a.Rating[1] = a.Rating[1], a.Rating[0]
			}
			return a
		})
}

func (c *Client) decodeProfile(m map[string]any) Profile {
	f := c.cfg.Fields
	return Profile{
		PIN: getString(m, "pin"), Email: getString(m, "email"),
		ExternalID: getString(m, f.ExternalID), Source: getString(m, f.Source),
		Fields: m, DateModified: ParseTime(getString(m, "dateModified")),
	}
}

func (c *Client) decodeRegistration(m map[string]any) Registration {
	f := c.cfg.Fields
	r := Registration{
		Code: getString(m, "registrationCode"), EventCode: getString(m, "eventCode"), AccountCode: getString(m, "accountCode"),
		AttendeeType: getString(m, "attendeeTypeCode"), Status: getString(m, f.RegistrationStatus),
		Active: getBool(m, "isActive"), Complete: getBool(m, f.Complete),
		DateCreated: ParseTime(getString(m, "dateCreated")), DateModified: ParseTime(getString(m, "dateModified")),
		Fields: m,
	}
	if p, ok := m["profile"].(map[string]any); ok {
		r.Profile = c.decodeProfile(p)
	}
	return r
}

// ParseTime reads a Certain timestamp leniently: "T" or space separator,
// optional fraction and zone; no zone means UTC. Unparseable gives zero.
func ParseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	s = strings.Replace(s, " ", "T", 1)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func getBool(m map[string]any, name string) bool {
	s := strings.ToLower(getString(m, name))
	return s == "true" || s == "1" || s == "yes"
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case json.Number:
		f, _ := x.Float64()
		return f
	case string:
		f, _ := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f
	}
	return 0
}

// getTags accepts an array of names, an array of {"name"|"tagName"} objects,
// or a comma-separated string.
func getTags(m map[string]any, field string) []string {
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	switch v := m[field].(type) {
	case []any:
		for _, t := range v {
			switch x := t.(type) {
			case string:
				add(x)
			case map[string]any:
				add(firstNonEmpty(getString(x, "name"), getString(x, "tagName")))
			}
		}
	case string:
		for _, s := range strings.Split(v, ",") {
			add(s)
		}
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// RegistrationAgenda reads the agenda lines of one registration.
func (c *Client) RegistrationAgenda(ctx context.Context, acct, event, regCode string) ([]AgendaLine, error) {
	if err := required("RegistrationAgenda", "account", acct, "event", event, "registration code", regCode); err != nil {
		return nil, err
	}
	f := c.cfg.Fields
	return collect(pages(ctx, c, pageSpec{resource: "RegistrationAgenda", path: v1Base + seg("RegistrationAgenda", acct, event, regCode), key: "registrationAgendas"},
		func(_, m map[string]any) AgendaLine {
			return AgendaLine{RegistrationCode: getString(m, "registrationCode"), ActivityCode: getString(m, "activityCode"),
				Status: getString(m, "status"), Rating: num(m[f.AgendaRating])}
		}))
}
