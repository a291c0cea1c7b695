package marketo_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// "12:00AM CST" read two ways: America/Chicago follows daylight saving
// (05:00 UTC in summer, 06:00 UTC in winter), UTC-6 is 06:00 UTC all year.
// After a 607 just past the configured midnight, the other reading's
// midnight, an hour later, is tried before a whole day is given up.
func TestQuotaZoneResets(t *testing.T) {
	cases := []struct {
		name string
		zone marketo.QuotaZone
		at   string
		next string // NextReset
		r607 string // ResumeAfter607
	}{
		{"chicago summer afternoon", marketo.QuotaZoneChicago, "2026-07-01T20:00:00Z", "2026-07-02T05:00:00Z", "2026-07-02T05:00:00Z"},
		{"chicago winter afternoon", marketo.QuotaZoneChicago, "2026-01-15T20:00:00Z", "2026-01-16T06:00:00Z", "2026-01-16T06:00:00Z"},
		{"utc-6 summer afternoon", marketo.QuotaZoneUTCMinus6, "2026-07-01T20:00:00Z", "2026-07-02T06:00:00Z", "2026-07-02T06:00:00Z"},
		{"utc-6 winter afternoon", marketo.QuotaZoneUTCMinus6, "2026-01-15T20:00:00Z", "2026-01-16T06:00:00Z", "2026-01-16T06:00:00Z"},
		// A Chicago-configured run resumed at 00:00 CDT on an instance that
		// resets at 00:00 CST: its 607 means "not yet", so 01:00 CDT.
		{"chicago summer, 607 just after midnight", marketo.QuotaZoneChicago, "2026-07-02T05:00:05Z", "2026-07-03T05:00:00Z", "2026-07-02T06:00:00Z"},
		// Past the grace the instance's day has turned either way: tomorrow.
		{"chicago summer, 607 three hours in", marketo.QuotaZoneChicago, "2026-07-02T08:00:00Z", "2026-07-03T05:00:00Z", "2026-07-03T05:00:00Z"},
		// UTC-6's midnight is the later one: nothing later to try the same day.
		{"utc-6 summer, 607 just after midnight", marketo.QuotaZoneUTCMinus6, "2026-07-02T06:00:05Z", "2026-07-03T06:00:00Z", "2026-07-03T06:00:00Z"},
		{"chicago winter, 607 just after midnight", marketo.QuotaZoneChicago, "2026-01-16T06:00:05Z", "2026-01-17T06:00:00Z", "2026-01-17T06:00:00Z"},
		// The day daylight saving starts (8 March 2026): 00:00 CST is still 06:00 UTC.
		{"chicago DST start", marketo.QuotaZoneChicago, "2026-03-08T12:00:00Z", "2026-03-09T05:00:00Z", "2026-03-09T05:00:00Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			at := utc(tc.at)
			if got := tc.zone.NextReset(at); !got.Equal(utc(tc.next)) {
				t.Errorf("NextReset = %s, want %s", got.UTC().Format(time.RFC3339), tc.next)
			}
			if got := tc.zone.ResumeAfter607(at); !got.Equal(utc(tc.r607)) {
				t.Errorf("ResumeAfter607 = %s, want %s", got.UTC().Format(time.RFC3339), tc.r607)
			}
		})
	}
	for in, want := range map[string]marketo.QuotaZone{"": marketo.QuotaZoneChicago, "America/Chicago": marketo.QuotaZoneChicago, " UTC-6 ": marketo.QuotaZoneUTCMinus6} {
		if z, err := marketo.ParseQuotaZone(in); err != nil || z != want {
			t.Errorf("ParseQuotaZone(%q) = %q, %v", in, z, err)
		}
	}
	for _, bad := range []string{"CST", "America/New_York", "UTC-5"} {
		if _, err := marketo.ParseQuotaZone(bad); err == nil || !strings.Contains(err.Error(), "UTC-6") {
			t.Errorf("ParseQuotaZone(%q): %v", bad, err)
		}
	}
}

// A 607 gives a QuotaError whose ResetAt follows the client's quota zone.
func TestQuotaErrorFollowsZone(t *testing.T) {
	for _, tc := range []struct {
		zone marketo.QuotaZone
		want string
	}{{marketo.QuotaZoneChicago, "2026-07-02T05:00:00Z"}, {marketo.QuotaZoneUTCMinus6, "2026-07-02T06:00:00Z"}} {
		clk := marketotest.NewManualClock(utc("2026-07-01T20:00:00Z"))
		sim := marketotest.NewServer(t, marketotest.WithClock(clk))
		sim.AddList(1, "L", nil)
		sim.ExhaustQuota()
		c, err := sim.NewClient(func(cfg *marketo.Config) { cfg.QuotaZone = tc.zone })
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetList(context.Background(), 1)
		var qe *marketo.QuotaError
		if !errors.As(err, &qe) || !qe.ResetAt.Equal(utc(tc.want)) {
			t.Errorf("%s: %v, want ResetAt %s", tc.zone, err, tc.want)
		}
	}
	if _, err := marketo.New(marketo.Config{BaseURL: "https://x.mktorest.com", ClientID: "a", ClientSecret: "b", QuotaZone: "CST"}); err == nil {
		t.Error("quota zone CST accepted")
	}
}

// Every call ends within CallTimeout whatever the HTTP client's own timeout,
// so lib/limit's leases (sized for marketo.MaxCallTime) never expire under a
// call in flight: a server that never answers is given up on and retried.
func TestCallTimeoutBoundsEveryCall(t *testing.T) {
	sim := marketotest.NewServer(t)
	sim.AddList(1, "L", nil)
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	var hung atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/rest/") && hung.Add(1) == 1 {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return
		}
		sim.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	c, err := marketo.New(marketo.Config{BaseURL: "http://" + ln.Addr().String(), ClientID: sim.ClientID(), ClientSecret: sim.ClientSecret(),
		AllowHTTP: true, HTTPClient: &http.Client{}, CallTimeout: 200 * time.Millisecond, BackoffBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.GetList(context.Background(), 1)
	if err != nil || l.Name != "L" {
		t.Fatalf("after a hung call: %+v, %v; want the retry to succeed", l, err)
	}
	if s := c.Stats(); s.ByCode["network"] != 1 || s.Retries != 1 {
		t.Errorf("stats %+v: want one timed-out call, retried once", s)
	}
}

// A call its context withdrew before the request was written (the run's
// deadline, say) never reached Marketo: it is not in the client's call
// count, which run records report, while a call that timed out after it was
// written is (TestCallTimeoutBoundsEveryCall).
func TestWithdrawnCallIsNotCounted(t *testing.T) {
	sim := marketotest.NewServer(t)
	sim.AddList(1, "L", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rest atomic.Int32
	withdraw := roundTripper(func(r *http.Request) (*http.Response, error) {
		if strings.HasPrefix(r.URL.Path, "/rest/") {
			rest.Add(1)
			cancel() // the deadline falls before the request is written
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	c, err := sim.NewClient(func(cfg *marketo.Config) { cfg.HTTPClient = &http.Client{Transport: withdraw} })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetList(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetList = %v, want the context's cancellation", err)
	}
	seen := 0
	for _, call := range sim.Calls() {
		if strings.HasPrefix(call.Path, "/rest/") {
			seen++
		}
	}
	if n := c.Stats().Calls; rest.Load() != 1 || n != 0 || seen != 0 {
		t.Errorf("%d calls reached the transport, the client counted %d, Marketo saw %d; want 1, 0, 0", rest.Load(), n, seen)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The missing-token answers: 600 (before 2022) re-authenticates once like
// 601; 603 (now) is fatal.
func TestMissingTokenCodes(t *testing.T) {
	sim, c := manual(t)
	sim.AddList(1, "L", nil)
	sim.FailNext("/rest/v1/lists/*", 1, "600")
	if _, err := c.GetList(context.Background(), 1); err != nil {
		t.Fatalf("600 once: %v, want re-authentication and success", err)
	}
	sim.FailNext("/rest/v1/lists/*", 1, "603")
	var me *marketo.Error
	if _, err := c.GetList(context.Background(), 1); !errors.As(err, &me) || me.Code != "603" {
		t.Fatalf("603: %v, want a fatal *Error", err)
	}
}

// IdentityURL as Admin > Web Services shows it (…/identity) gets
// /oauth/token appended once; a bare host gets /identity first.
func TestIdentityURLForms(t *testing.T) {
	for name, form := range map[string]string{"admin form": "/identity", "trailing slash": "/identity/", "token endpoint": "/identity/oauth/token", "bare host": ""} {
		t.Run(name, func(t *testing.T) {
			sim := marketotest.NewServer(t)
			sim.AddList(1, "L", nil)
			c, err := sim.NewClient(func(cfg *marketo.Config) { cfg.IdentityURL = sim.URL + form })
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.GetList(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
			if n := sim.CountPath("/identity/oauth/token"); n != 1 {
				t.Errorf("identity calls at /identity/oauth/token: %d; calls %+v", n, sim.Calls())
			}
		})
	}
}

// A 1003 reason recorded since 2021 carries the value sent; SafeMessage
// keeps the field and drops the value.
func TestSafeMessage(t *testing.T) {
	cases := map[string]string{
		"Invalid value for field 'email_field' and value 'jane@private.example'": "Invalid value for field 'email_field' (value withheld)",
		"Invalid value for field 'boolean_field'":                                "Invalid value for field 'boolean_field'",
		"Lead not found": "Lead not found",
	}
	for in, want := range cases {
		if got := marketo.SafeMessage(marketo.Reason{Code: "1003", Message: in}); got != want {
			t.Errorf("SafeMessage(%q) = %q, want %q", in, got, want)
		}
	}
}
