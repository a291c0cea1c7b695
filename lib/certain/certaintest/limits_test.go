package certaintest_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
)

// status sends GET path and returns the status and Retry-After header.
func status(t *testing.T, srv *certaintest.Server, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	req.SetBasicAuth(srv.Username(), srv.Password())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

const evPath = "/certainExternal/service/v1/Event/ACME/HS26"

func TestRateLimitPerAccount(t *testing.T) {
	clk := certaintest.NewClock(time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC))
	srv := certaintest.NewServer(t, certaintest.WithClock(clk.Now), certaintest.WithRateLimit(3))
	srv.AddEvent("ACME", map[string]any{"eventCode": "HS26"})
	srv.AddEvent("GLOBEX", map[string]any{"eventCode": "HS26"})
	for i := range 3 {
		if st, _ := status(t, srv, evPath); st != 200 {
			t.Fatalf("call %d: %d, want 200 (3 per second allowed)", i+1, st)
		}
		clk.Advance(100 * time.Millisecond)
	}
	// The 4th within the second is refused until the first leaves it, 700
	// ms later: Retry-After rounds up to a whole second.
	if st, ra := status(t, srv, evPath); st != http.StatusTooManyRequests || ra != "1" {
		t.Fatalf("4th call in a second: %d Retry-After %q, want 429 and 1", st, ra)
	}
	// Another account has its own limit.
	if st, _ := status(t, srv, "/certainExternal/service/v1/Event/GLOBEX/HS26"); st != 200 {
		t.Errorf("another account's call: %d, want 200", st)
	}
	clk.Advance(700 * time.Millisecond) // the first call leaves the second; the refused one never counted
	if st, _ := status(t, srv, evPath); st != 200 {
		t.Errorf("after the first call left the second: %d, want 200", st)
	}
	if st, _ := status(t, srv, evPath); st != http.StatusTooManyRequests {
		t.Errorf("a 4th call again: %d, want 429", st)
	}
	if ls := srv.LimitStats(); ls.Throttled != 2 {
		t.Errorf("throttled %d, want 2", ls.Throttled)
	}
	srv.SetLimits(0, 0)
	if st, _ := status(t, srv, evPath); st != 200 {
		t.Errorf("with the limits lifted: %d, want 200", st)
	}
}

func TestConcurrencyLimitAndLatency(t *testing.T) {
	srv := certaintest.NewServer(t, certaintest.WithConcurrencyLimit(2), certaintest.WithLatency(300*time.Millisecond), certaintest.WithoutRetryAfter())
	srv.AddEvent("ACME", map[string]any{"eventCode": "HS26"})
	// Hold two calls open at the simulator, then send a third.
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		wg.Go(func() { codes[i], _ = status(t, srv, evPath) })
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.LimitStats().PeakInFlight["ACME"] < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	st, ra := status(t, srv, evPath)
	wg.Wait()
	if codes[0] != 200 || codes[1] != 200 {
		t.Fatalf("the two admitted calls: %v, want 200s", codes)
	}
	if st != http.StatusTooManyRequests || ra != "" {
		t.Errorf("a third call while two are in flight: %d Retry-After %q, want 429 without the header", st, ra)
	}
	if ls := srv.LimitStats(); ls.PeakInFlight["ACME"] != 2 || ls.Throttled != 1 {
		t.Errorf("stats %+v, want a peak of 2 and one 429", ls)
	}
}

func TestLatencyRangeOnTheSimulatedClock(t *testing.T) {
	var mu sync.Mutex
	var held []time.Duration
	sleep := func(_ context.Context, d time.Duration) error {
		mu.Lock()
		held = append(held, d)
		mu.Unlock()
		return nil
	}
	srv := certaintest.NewServer(t, certaintest.WithLatencyRange(100*time.Millisecond, 300*time.Millisecond), certaintest.WithSleep(sleep))
	srv.AddEvent("ACME", map[string]any{"eventCode": "HS26"})
	for range 50 {
		status(t, srv, evPath)
	}
	lo, hi := time.Hour, time.Duration(0)
	for _, d := range held {
		lo, hi = min(lo, d), max(hi, d)
	}
	if len(held) != 50 || lo < 100*time.Millisecond || hi > 300*time.Millisecond || hi-lo < 100*time.Millisecond {
		t.Errorf("%d holds from %s to %s, want 50 spread over 100-300 ms", len(held), lo, hi)
	}
}
