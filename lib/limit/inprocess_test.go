package limit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
)

var epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func TestInProcessWindow(t *testing.T) {
	clk := marketotest.NewManualClock(epoch)
	b, err := limit.NewInProcess(limit.Config{Now: clk.Now, Sleep: clk.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 50 {
		rel, err := b.Acquire(ctx)
		if err != nil {
			t.Fatal(i, err)
		}
		rel()
	}
	if !clk.Now().Equal(epoch) {
		t.Fatalf("first 50 calls waited: clock at %s", clk.Now())
	}
	rel, err := b.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rel()
	if w := clk.Now().Sub(epoch); w < 20*time.Second {
		t.Errorf("51st call waited only %s", w)
	}
}

// TestInProcessConcurrency: both in-process budgets, a Marketo instance's
// and a Certain account's, hold calls in flight to their Concurrent.
func TestInProcessConcurrency(t *testing.T) {
	for _, tc := range []struct {
		name  string
		label string
		make  func() (*limit.InProcess, error)
	}{
		{"marketo", "marketo budget:", func() (*limit.InProcess, error) { return limit.NewInProcess(limit.Config{Concurrent: 2}) }},
		{"certain", "certain budget:", func() (*limit.InProcess, error) {
			return limit.NewInProcessCertain(limit.CertainConfig{Concurrent: 2, CallsPerSecond: 1000})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.make()
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			r1, _ := b.Acquire(ctx)
			r2, _ := b.Acquire(ctx)
			short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
			defer cancel()
			if _, err := b.Acquire(short); !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), tc.label) {
				t.Fatalf("third concurrent acquire: %v, want to block, then an error starting %q", err, tc.label)
			}
			r1()
			r1() // release is idempotent
			r3, err := b.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			r2()
			r3()
		})
	}
}

func TestInProcessDaily(t *testing.T) {
	chi, _ := time.LoadLocation("America/Chicago")
	start := time.Date(2026, 3, 2, 23, 0, 0, 0, chi)
	clk := marketotest.NewManualClock(start)
	b, err := limit.NewInProcess(limit.Config{Daily: 3, Now: clk.Now, Sleep: clk.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		rel, err := b.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rel()
	}
	_, err = b.Acquire(ctx)
	var qe *marketo.QuotaError
	if !errors.As(err, &qe) || !errors.Is(err, marketo.ErrDailyQuota) {
		t.Fatalf("4th call: %v, want QuotaError", err)
	}
	if want := time.Date(2026, 3, 3, 0, 0, 0, 0, chi); !qe.ResetAt.Equal(want) {
		t.Errorf("ResetAt %s, want %s", qe.ResetAt, want)
	}
	clk.Advance(61 * time.Minute)
	if _, err := b.Acquire(ctx); err != nil {
		t.Errorf("after midnight: %v", err)
	}
}

// The daily count follows the quota zone: in summer, America/Chicago's day
// turns at 05:00 UTC and UTC-6's at 06:00 UTC.
func TestInProcessDailyFollowsQuotaZone(t *testing.T) {
	for _, tc := range []struct {
		zone  marketo.QuotaZone
		reset time.Time
	}{
		{marketo.QuotaZoneChicago, time.Date(2026, 7, 2, 5, 0, 0, 0, time.UTC)},
		{marketo.QuotaZoneUTCMinus6, time.Date(2026, 7, 2, 6, 0, 0, 0, time.UTC)},
	} {
		t.Run(string(tc.zone), func(t *testing.T) {
			clk := marketotest.NewManualClock(time.Date(2026, 7, 1, 20, 0, 0, 0, time.UTC))
			b, err := limit.NewInProcess(limit.Config{Daily: 1, QuotaZone: tc.zone, Now: clk.Now, Sleep: clk.Sleep})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			rel, err := b.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rel()
			_, err = b.Acquire(ctx)
			var qe *marketo.QuotaError
			if !errors.As(err, &qe) || !qe.ResetAt.Equal(tc.reset) {
				t.Fatalf("2nd call: %v, want a QuotaError resetting at %s", err, tc.reset)
			}
			clk.Advance(tc.reset.Add(-time.Second).Sub(clk.Now()))
			if _, err := b.Acquire(ctx); err == nil {
				t.Fatal("a call a second before the zone's midnight was granted")
			}
			clk.Advance(time.Second)
			if _, err := b.Acquire(ctx); err != nil {
				t.Fatalf("at the zone's midnight: %v", err)
			}
		})
	}
	if _, err := limit.NewInProcess(limit.Config{QuotaZone: "CST"}); err == nil {
		t.Error("quota zone CST accepted")
	}
}

func TestInProcessRejectsBadConfig(t *testing.T) {
	for _, cfg := range []limit.Config{{CallsPer20s: 101}, {Concurrent: 11}, {Daily: -1}, {Window: -time.Second}} {
		if _, err := limit.NewInProcess(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// upsert runs the note's scenario: writers goroutines each upsert perWriter
// new leads through one client with an in-process budget at its defaults,
// against a simulator with Marketo's real limits on a fast clock.
func upsert(tb testing.TB, writers, perWriter int) (sim *marketotest.Server, c *marketo.Client, simElapsed time.Duration) {
	tb.Helper()
	clk := marketotest.NewFastClock(200)
	sim = marketotest.NewServer(tb, marketotest.WithClock(clk), marketotest.WithRateLimit(100, 20*time.Second),
		marketotest.WithConcurrencyLimit(10), marketotest.WithLatency(2*time.Second))
	budget, err := limit.NewInProcess(limit.Config{Now: clk.Now, Sleep: clk.Sleep})
	if err != nil {
		tb.Fatal(err)
	}
	c, err = sim.NewClient(func(cfg *marketo.Config) { cfg.Budget = budget })
	if err != nil {
		tb.Fatal(err)
	}
	start := clk.Now()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			in := make([]marketo.Lead, perWriter)
			for i := range in {
				in[i] = marketo.Lead{"email": fmt.Sprintf("w%d-lead%d@example.org", w, i), "firstName": "Lead", "lastName": fmt.Sprint(i), "company": "Contoso"}
			}
			res, err := c.SyncLeads(context.Background(), marketo.SyncLeadsRequest{Input: in})
			if err == nil && len(res) != perWriter {
				err = fmt.Errorf("writer %d: %d results", w, len(res))
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return sim, c, clk.Now().Sub(start)
}

// TestUpsert10000Leads reproduces the note's figures: 10,000 leads take the
// optimum 34 Sync Leads calls and the client receives no 606/615.
func TestUpsert10000Leads(t *testing.T) {
	sim, c, el := upsert(t, 1, 10000)
	s := c.Stats()
	if s.Calls != 34 || sim.CountPath("/rest/v1/leads.json") != 34 {
		t.Errorf("calls = %d (server %d), want 34", s.Calls, sim.CountPath("/rest/v1/leads.json"))
	}
	if n := sim.CountCode("606") + sim.CountCode("615"); n != 0 || s.ByCode["606"]+s.ByCode["615"] != 0 {
		t.Errorf("606/615 answers = %d", n)
	}
	if len(sim.Leads()) != 10000 {
		t.Errorf("leads stored = %d", len(sim.Leads()))
	}
	t.Logf("10,000 leads: %d calls, %d retries, 606=%d 615=%d, %s simulated (includes CPU time x clock speed)", s.Calls, s.Retries, s.ByCode["606"], s.ByCode["615"], el.Round(time.Second))
}

// TestUpsertSaturatesBudget drives 8 writers (120 calls, far above 50 per
// 20 s) and checks that the budget, not Marketo's 606/615, paces them.
func TestUpsertSaturatesBudget(t *testing.T) {
	sim, c, el := upsert(t, 8, 4500)
	s := c.Stats()
	// Token expiry (601/602) may add free re-sends when the simulated run
	// outlasts the token; every other call is one of the 120 batches.
	if n := s.Calls - s.ByCode["601"] - s.ByCode["602"]; n != 120 {
		t.Errorf("calls = %d (%v), want 120 batches", s.Calls, s.ByCode)
	}
	if n := sim.CountCode("606") + sim.CountCode("615"); n != 0 {
		t.Errorf("606/615 answers = %d, want 0", n)
	}
	// 120 calls at 50 per 20 s need at least 2 full windows (40 s).
	if el < 40*time.Second {
		t.Errorf("finished in %s of simulated time: the budget did not pace", el)
	}
	t.Logf("36,000 leads by 8 writers: %d calls, codes %v, server 606=%d 615=%d, %s simulated", s.Calls, s.ByCode, sim.CountCode("606"), sim.CountCode("615"), el.Round(time.Second))
}

func BenchmarkUpsert10000Leads(b *testing.B) {
	for b.Loop() {
		sim, c, _ := upsert(b, 1, 10000)
		b.ReportMetric(float64(c.Stats().Calls), "calls/op")
		b.ReportMetric(float64(sim.CountCode("606")+sim.CountCode("615")), "606+615/op")
	}
}
