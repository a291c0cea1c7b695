package limit_test

import (
	"context"
	"errors"
	"flag"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
)

// testFourWorkers: four workers (each its own Marketo client and its own
// budget object, as four Lambdas would have) share one DynamoDB budget set
// to Marketo's real limits and hammer the simulator, which enforces the same
// limits. Time runs 10x faster on a clock shared by the simulator, the
// clients and the budgets, so 60 s of Marketo time take 6 s.
//
// Always asserted (safety, independent of the machine's load): no 606, no
// 615, never more than 10 calls in flight on the budget's side (the spy),
// and every worker served. (The spy's grants per 20 s are logged, not
// asserted: it stamps a grant when Acquire returns, which a descheduled
// goroutine does late; the simulator's 606 count is the authority.)
//
// Measured (efficiency): calls answered after the first (full) window as a
// share of the budget, the mean over every 20 s window starting in the
// measured span (calls come in waves, so a fixed span depends on where they
// fall), each worker's share, and the DynamoDB requests per Marketo call.
// These depend on the CPU the goroutines get while the simulated clock runs
// ten times real time, so on a loaded machine they drop: a wall-clock limit
// in disguise. They are logged always, and asserted (at least 85 % of the
// budget, no worker under half its equal share) only when measuring:
//
//	go test -count=1 -v -run 'TestDynamoBudget/Four' ./lib/limit -args -budget.measure
//
// The planner's pacing decisions themselves are table-tested without
// timing in plan_test.go.
// measureBudget turns the efficiency figures of testFourWorkers into
// assertions, for a measurement on an otherwise idle machine.
var measureBudget = flag.Bool("budget.measure", false, "assert the shared budget's throughput and fairness figures (run on an idle machine)")

func testFourWorkers(t *testing.T, db limit.DynamoAPI, table string) {
	const (
		workers    = 4
		perWorker  = 6 // goroutines per worker
		callsPer20 = 100
		window     = 20 * time.Second
		warmup     = 20 * time.Second // the first window starts full; measure after it
	)
	// 100 s of simulator time at 10x: 10 s of wall time. The race detector
	// slows the code several times, and every wall millisecond the code
	// spends counts as speed simulated ones, so under -race the clock runs
	// at 4x (80 s of simulator time, 20 s of wall time): the test measures
	// the budget's design, not the detector's overhead.
	speed, run := 10.0, 100*time.Second
	if raceEnabled {
		speed, run = 4, 80*time.Second
	}
	clk := marketotest.NewFastClock(speed)
	srv := marketotest.NewServer(t, marketotest.WithRateLimit(callsPer20, window), marketotest.WithConcurrencyLimit(10),
		marketotest.WithLatency(300*time.Millisecond), marketotest.WithClock(clk))
	start := clk.Now()
	end := start.Add(run)
	var measured, total atomic.Int64
	var doneMu sync.Mutex
	var dones []time.Time
	perWorkerCalls := make([]atomic.Int64, workers)
	var budgets []*limit.Shared
	var inflight, maxIn atomic.Int64
	var grants []time.Time
	var grantsMu sync.Mutex
	defer func() {
		grantsMu.Lock()
		defer grantsMu.Unlock()
		slices.SortFunc(grants, func(a, b time.Time) int { return a.Compare(b) })
		maxW := 0
		for i := range grants {
			n := 0
			for j := i; j < len(grants) && grants[j].Sub(grants[i]) < window; j++ {
				n++
			}
			maxW = max(maxW, n)
		}
		t.Logf("spy: max in flight %d, max grants in 20 s %d", maxIn.Load(), maxW)
		if maxIn.Load() > 10 {
			t.Errorf("spy: %d calls in flight, the budget allows 10", maxIn.Load())
		}
	}()
	var histMu sync.Mutex
	hist := map[int]int{}
	defer func() { t.Logf("completions per 2 s: %v", hist) }()
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		budget, err := limit.NewShared(db, table, "123-ABC-456", limit.Config{CallsPer20s: callsPer20, Concurrent: 10, Now: clk.Now, Sleep: clk.Sleep})
		if err != nil {
			t.Fatal(err)
		}
		budgets = append(budgets, budget)
		client, err := srv.NewClient(func(c *marketo.Config) {
			c.Budget = &spy{b: budget, clk: clk, inflight: &inflight, maxIn: &maxIn, grants: &grants, mu: &grantsMu}
		})
		if err != nil {
			t.Fatal(err)
		}
		for range perWorker {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(float64(run)/speed)+5*time.Second)
				defer cancel()
				for clk.Now().Before(end) {
					if _, err := client.DescribeLeads(ctx); err != nil {
						if !errors.Is(err, context.DeadlineExceeded) {
							errs <- err
						}
						return
					}
					done := clk.Now()
					total.Add(1)
					histMu.Lock()
					hist[int(done.Sub(start)/(2*time.Second))]++
					histMu.Unlock()
					if !done.Before(start.Add(warmup)) && done.Before(end) {
						measured.Add(1)
						perWorkerCalls[w].Add(1)
					}
					doneMu.Lock()
					dones = append(dones, done)
					doneMu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("worker call failed: %v", err)
	}
	c606, c615 := srv.CountCode("606"), srv.CountCode("615")
	budget := float64(callsPer20) * float64(run-warmup) / float64(window)
	ratio := float64(measured.Load()) / budget
	t.Logf("4 workers x %d goroutines, %s of simulator time: %d calls answered (%d in the measured %s, budget %.0f => %.1f%%), 606=%d 615=%d, simulator counted %d",
		perWorker, run, total.Load(), measured.Load(), run-warmup, budget, 100*ratio, c606, c615, srv.CountedCalls())
	if c606 != 0 || c615 != 0 {
		t.Errorf("got %d 606 and %d 615 answers, want none", c606, c615)
	}
	if *measureBudget && ratio < 0.85 {
		t.Errorf("throughput %.1f%% of the budget, want at least 85%%", 100*ratio)
	}
	// Mean calls per 20 s over every window [s, s+20 s) with s in
	// [warmup, end-20 s], in steps of 100 ms.
	slices.SortFunc(dones, func(a, b time.Time) int { return a.Compare(b) })
	sum, n := 0, 0
	for s := start.Add(warmup); !s.After(end.Add(-window)); s = s.Add(100 * time.Millisecond) {
		lo, _ := slices.BinarySearchFunc(dones, s, func(a, b time.Time) int { return a.Compare(b) })
		hi, _ := slices.BinarySearchFunc(dones, s.Add(window), func(a, b time.Time) int { return a.Compare(b) })
		sum += hi - lo
		n++
	}
	mean := float64(sum) / float64(n) / callsPer20
	var share []int64
	for i := range perWorkerCalls {
		share = append(share, perWorkerCalls[i].Load())
	}
	st := sumStats(budgets)
	perCall := float64(st.Writes+st.Reads) / float64(st.Grants)
	t.Logf("mean calls per sliding 20 s window after the first: %.1f%% of the budget; measured calls per worker %v", 100*mean, share)
	t.Logf("DynamoDB: %d writes (%d lost races, %d lease renewals) + %d reads for %d grants in %d blocks = %.2f requests per Marketo call",
		st.Writes, st.Conflicts, st.Renewals, st.Reads, st.Grants, st.BlocksTook, perCall)
	if *measureBudget && mean < 0.85 {
		t.Errorf("mean calls per sliding 20 s window %.1f%% of the budget, want at least 85%%", 100*mean)
	}
	for w, c := range share {
		if c == 0 {
			t.Errorf("worker %d got none of the %d measured calls", w, measured.Load())
		}
		if *measureBudget && float64(c) < 0.5*float64(measured.Load())/workers {
			t.Errorf("worker %d got %d of %d measured calls: starved (want at least half its equal share)", w, c, measured.Load())
		}
	}
}

type spy struct {
	b        marketo.Budget
	clk      *marketotest.FastClock
	inflight *atomic.Int64
	maxIn    *atomic.Int64
	grants   *[]time.Time
	mu       *sync.Mutex
}

func (s *spy) Acquire(ctx context.Context) (func(), error) {
	rel, err := s.b.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	n := s.inflight.Add(1)
	for {
		m := s.maxIn.Load()
		if n <= m || s.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	s.mu.Lock()
	*s.grants = append(*s.grants, s.clk.Now())
	s.mu.Unlock()
	return func() { s.inflight.Add(-1); rel() }, nil
}
