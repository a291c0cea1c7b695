package certain_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
)

// measureAdaptive runs the convergence measurement (about a minute of wall
// time at Certain's real latencies) and asserts its figures.
var measureAdaptive = flag.Bool("certain.measure", false, "measure the adaptive limit's convergence against the simulator at 100-300 ms per call (about a minute)")

// drive makes calls from workers goroutines until n calls were made, and
// samples the client's limit every 50 ms.
func drive(t *testing.T, c *certain.Client, workers, n int, code string) (limits []int) {
	t.Helper()
	var made atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				mu.Lock()
				limits = append(limits, c.Stats().Limit)
				mu.Unlock()
			}
		}
	}()
	for range workers {
		wg.Go(func() {
			for made.Add(1) <= int64(n) {
				if err := c.UpdateRegistration(context.Background(), "ACME", "HS26", code, map[string]any{"note": "x"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(limits)
}

// tenant is a simulator that tolerates tolerated calls in flight, with one
// registration to update, and a client of it with the given ceiling and
// Sleep.
func tenant(t *testing.T, tolerated, ceiling int, sleep func(context.Context, time.Duration) error, opts ...certaintest.Option) (*certaintest.Server, *certain.Client, string) {
	t.Helper()
	srv := certaintest.NewServer(t, append([]certaintest.Option{certaintest.WithConcurrencyLimit(tolerated)}, opts...)...)
	srv.AddEvent("ACME", map[string]any{"eventCode": "HS26"})
	pin := srv.AddProfile("ACME", map[string]any{"email": "a@x.example"})
	code := srv.AddRegistration("ACME", "HS26", pin, map[string]any{"registrationStatusLabel": "Invited"})
	cfg := srv.Config()
	cfg.MaxInFlight = ceiling
	cfg.MaxAttempts = 20
	cfg.Sleep = sleep
	c, err := certain.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, code
}

// TestAdaptiveLimitAgainstTheSimulator: 24 workers against a tenant that
// tolerates 3 calls in flight. Whatever the machine's load, every call
// succeeds in the end, the client never has more than its ceiling in
// flight, every 429 the tenant answered was seen and cut the limit, and
// the limit ends within the ceiling.
func TestAdaptiveLimitAgainstTheSimulator(t *testing.T) {
	noWait := func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	srv, c, code := tenant(t, 3, 16, noWait, certaintest.WithLatency(3*time.Millisecond))
	drive(t, c, 24, 600, code)
	st, ls := c.Stats(), srv.LimitStats()
	t.Logf("calls %d, 429s %d, cuts %d, limit %d, peak in flight %d (at the simulator %d)",
		st.Calls, st.Throttled, st.Cuts, st.Limit, st.PeakInFlight, ls.PeakInFlight["ACME"])
	if st.Calls-st.Throttled != 600 || st.ByCode[http.StatusTooManyRequests] != ls.Throttled || st.Throttled != ls.Throttled {
		t.Errorf("calls %d with %d refused (the simulator refused %d), want 600 answered and every 429 seen", st.Calls, st.Throttled, ls.Throttled)
	}
	if st.PeakInFlight > 16 || ls.PeakInFlight["ACME"] > 16 {
		t.Errorf("%d calls in flight (%d at the simulator), the ceiling is 16", st.PeakInFlight, ls.PeakInFlight["ACME"])
	}
	if ls.Throttled > 0 && st.Cuts == 0 {
		t.Errorf("%d 429s and no cut", ls.Throttled)
	}
	if st.Limit < 1 || st.Limit > 16 {
		t.Errorf("limit %d, want 1..16", st.Limit)
	}
}

// TestAdaptiveConvergence measures, at Certain's latencies (100-300 ms per
// call, wall time), where the limit of a client with a ceiling of 32 and 40
// busy workers settles against a tenant that tolerates 16 calls in flight
// and one that tolerates 3, and how many calls were refused. Run with
// -certain.measure on an idle machine.
func TestAdaptiveConvergence(t *testing.T) {
	if !*measureAdaptive {
		t.Skip("a measurement of about a minute: go test ./lib/certain -run AdaptiveConvergence -certain.measure -v")
	}
	for _, tc := range []struct{ tolerated, calls int }{{16, 3000}, {3, 600}} {
		t.Run(fmt.Sprint("tolerates ", tc.tolerated), func(t *testing.T) {
			srv, c, code := tenant(t, tc.tolerated, 32, nil, certaintest.WithLatencyRange(100*time.Millisecond, 300*time.Millisecond))
			start := time.Now()
			limits := drive(t, c, 40, tc.calls, code)
			wall := time.Since(start)
			st, ls := c.Stats(), srv.LimitStats()
			late := limits[len(limits)/2:]
			sum := 0
			for _, l := range late {
				sum += l
			}
			meanLimit := float64(sum) / float64(len(late))
			share := float64(st.Throttled) / float64(st.Calls)
			t.Logf("tolerates %d: %d calls in %s, mean in flight %.1f, limit over the second half: mean %.1f min %d max %d, final %d; 429s %d (%.2f%%), cuts %d, paused %s; simulator peak %d",
				tc.tolerated, st.Calls, wall.Round(time.Millisecond), float64(st.CallTime)/float64(wall), meanLimit, slices.Min(late), slices.Max(late),
				st.Limit, st.Throttled, 100*share, st.Cuts, st.Paused, ls.PeakInFlight["ACME"])
			if meanLimit < float64(tc.tolerated)-1.5 || slices.Max(late) > tc.tolerated+1 {
				t.Errorf("the limit did not settle at %d: mean %.1f, max %d over the second half", tc.tolerated, meanLimit, slices.Max(late))
			}
			if share > 0.01 {
				t.Errorf("429s are %.2f%% of calls, want at most 1%%", 100*share)
			}
		})
	}
}
