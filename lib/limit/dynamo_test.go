package limit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store/dynamostore"
	"github.com/certain-marketo/certain-marketo/lib/testkit/awstest"
)

// TestDynamoBudget runs every budget test against one moto_server; each
// subtest gets its own table.
func TestDynamoBudget(t *testing.T) {
	moto := awstest.StartMoto(t)
	cfg := moto.Config(t)
	// moto does not apply concurrent conditional writes to one item
	// atomically (DynamoDB does): awstest.Serial gives the budgets DynamoDB's
	// per-item serialisation. See serial_test.go.
	db := awstest.NewSerial(dynamodb.NewFromConfig(cfg))
	var seq atomic.Int64
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, limit.DynamoAPI, string)
	}{
		{"WindowSharedBetweenLambdas", testWindowShared},
		{"LeasesExpireWhenAHolderDies", testLeasesExpire},
		{"DeadHoldersBlockComesBackAtExpiry", testDeadBlock},
		{"ClosedBlockGivesUnusedCallsBack", testClosedBlock},
		{"ConcurrencyCapHeldAcrossLambdas", testConcurrencyCap},
		{"DailyBudgetResetsAtChicagoMidnight", testDaily},
		{"DailyUsageCountsEveryLambda", testDailyUsage},
		{"DailyBudgetFollowsQuotaZoneUTCMinus6", testDailyUTCMinus6},
		{"FourWorkersOnTheSimulator", testFourWorkers},
		{"CertainPaceSharedBetweenLambdas", testCertainPaceShared},
		{"CertainLeasesExpireWhenAHolderDies", testCertainLeasesExpire},
		{"CertainWindowNeverOverrun", func(t *testing.T, _ limit.DynamoAPI, table string) { testCertainWindowShared(t, cfg, table) }},
		{"CertainFinePaceSlowWrites", func(t *testing.T, _ limit.DynamoAPI, table string) { testCertainFinePaceSlowWrites(t, cfg, table) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := seq.Add(1)
			names := dynamostore.TableNames{Config: fmt.Sprintf("config-%d", n), State: fmt.Sprintf("state-%d", n)}
			if err := awstest.CreateTables(context.Background(), cfg, names); err != nil {
				t.Fatal(err)
			}
			tc.fn(t, db, names.State)
		})
	}
}

// fakeClock: Sleep advances the clock instead of waiting.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func newBudget(t *testing.T, db limit.DynamoAPI, table string, clk *fakeClock, cfg limit.Config) *limit.Shared {
	t.Helper()
	cfg.Now, cfg.Sleep = clk.Now, clk.Sleep
	b, err := limit.NewShared(db, table, "123-ABC-456", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testWindowShared(t *testing.T, db limit.DynamoAPI, table string) {
	for _, tc := range []struct {
		name  string
		burst int
	}{{"paced", 1}, {"burst", 6}} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
			clk := &fakeClock{now: t0}
			// Block 1: one call per grant, so the exact sliding window is
			// visible. The pace is one call per (Window+Margin)/CallsPer20s =
			// 3.5 s; Burst calls may go ahead of it.
			cfg := limit.Config{CallsPer20s: 6, Concurrent: 10, Margin: time.Second, Block: 1, Burst: tc.burst, IdleGrace: -1}
			cfg.Now, cfg.Sleep = clk.Now, clk.Sleep
			var ab []*limit.Shared
			for range 2 {
				x, err := limit.NewShared(db, table, "instance-"+tc.name, cfg) // one budget per subtest
				if err != nil {
					t.Fatal(err)
				}
				ab = append(ab, x)
			}
			a, b := ab[0], ab[1]
			ctx := context.Background()
			for i := range 6 {
				rel, err := []*limit.Shared{a, b}[i%2].Acquire(ctx)
				if err != nil {
					t.Fatal(err)
				}
				rel()
				// Paced: call i+1 at i*3.5 s, never earlier, later by at most
				// the stagger and jitter that spread racing Lambdas (up to
				// 400 ms a wait); burst: all six at once.
				n := max(0, i+1-tc.burst)
				want := time.Duration(n) * 3500 * time.Millisecond
				if w := clk.Now().Sub(t0); w < want || w > want+time.Duration(n)*400*time.Millisecond {
					t.Fatalf("call %d granted after %s, want about %s", i+1, w, want)
				}
			}
			// The 7th call waits until the first grant leaves the window (20
			// s + 1 s margin), and for the pace. It comes from a: b, which
			// took the 6th, has used its own share (1/2 of the pace) while a
			// holds slots.
			sixth := clk.Now().Sub(t0)
			rel, err := a.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rel()
			want := 21 * time.Second
			if tc.burst == 1 {
				want = max(want, sixth+3500*time.Millisecond)
			}
			if w := clk.Now().Sub(t0); w < 21*time.Second || w > want+time.Second {
				t.Fatalf("7th call waited %s, want at least 21 s and about %s", w, want)
			}
		})
	}
}

func testLeasesExpire(t *testing.T, db limit.DynamoAPI, table string) {
	t0 := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	clk := &fakeClock{now: t0}
	cfg := limit.Config{CallsPer20s: 100, Concurrent: 2, MaxCall: 20 * time.Second, LeaseTTL: 30 * time.Second, IdleGrace: -1}
	dead, alive := newBudget(t, db, table, clk, cfg), newBudget(t, db, table, clk, cfg)
	ctx := context.Background()
	for range 2 {
		if _, err := dead.Acquire(ctx); err != nil { // never released: the Lambda died
			t.Fatal(err)
		}
	}
	rel, err := alive.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w := clk.Now().Sub(t0); w < 30*time.Second || w > 32*time.Second {
		t.Fatalf("waited %s for the dead holder's leases, want about 30 s (LeaseTTL)", w)
	}
	// A released lease is free at once.
	rel()
	before := clk.Now()
	rel2, err := alive.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// (dead's own process would still count its slots as held; a new Lambda does not.)
	rel3, err := newBudget(t, db, table, clk, cfg).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w := clk.Now().Sub(before); w > time.Second {
		t.Fatalf("waited %s although slots were free", w)
	}
	rel2()
	rel3()
}

func testConcurrencyCap(t *testing.T, db limit.DynamoAPI, table string) {
	clk := &fakeClock{now: time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)}
	cfg := limit.Config{CallsPer20s: 100, Concurrent: 3, LeaseTTL: time.Hour}
	a, b := newBudget(t, db, table, clk, cfg), newBudget(t, db, table, clk, cfg)
	ctx := context.Background()
	ra, _ := a.Acquire(ctx)
	rb, _ := b.Acquire(ctx)
	rc, _ := b.Acquire(ctx)
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := a.Acquire(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("4th call with 3 in flight = %v, want it to wait until the deadline", err)
	}
	rb()
	rel, err := a.Acquire(ctx)
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	rel()
	ra()
	rc()
}

func testDaily(t *testing.T, db limit.DynamoAPI, table string) {
	chicago := marketo.ChicagoLocation()
	clk := &fakeClock{now: time.Date(2026, 3, 2, 23, 50, 0, 0, chicago)}
	b := newBudget(t, db, table, clk, limit.Config{CallsPer20s: 100, Concurrent: 5, Daily: 3, IdleGrace: -1})
	ctx := context.Background()
	for range 3 {
		rel, err := b.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rel()
	}
	_, err := b.Acquire(ctx)
	var qe *marketo.QuotaError
	if !errors.As(err, &qe) || !errors.Is(err, marketo.ErrDailyQuota) || !qe.Local {
		t.Fatalf("4th call = %v, want a local *marketo.QuotaError", err)
	}
	if want := time.Date(2026, 3, 3, 0, 0, 0, 0, chicago); !qe.ResetAt.Equal(want) {
		t.Fatalf("ResetAt = %v, want %v", qe.ResetAt, want)
	}
	// Another Lambda sees the same count.
	other := newBudget(t, db, table, clk, limit.Config{CallsPer20s: 100, Concurrent: 5, Daily: 3, IdleGrace: -1})
	if _, err := other.Acquire(ctx); !errors.Is(err, marketo.ErrDailyQuota) {
		t.Fatalf("other Lambda = %v, want the quota error", err)
	}
	clk.Sleep(ctx, 10*time.Minute+time.Second)
	rel, err := other.Acquire(ctx)
	if err != nil {
		t.Fatalf("after midnight Chicago: %v", err)
	}
	rel()
}

// With quotaZone UTC-6 the shared daily count turns at 06:00 UTC in
// summer, an hour after Chicago's midnight.
func testDailyUTCMinus6(t *testing.T, db limit.DynamoAPI, table string) {
	clk := &fakeClock{now: time.Date(2026, 7, 2, 4, 50, 0, 0, time.UTC)}
	cfg := limit.Config{CallsPer20s: 100, Concurrent: 5, Daily: 1, IdleGrace: -1, QuotaZone: marketo.QuotaZoneUTCMinus6}
	b := newBudget(t, db, table, clk, cfg)
	ctx := context.Background()
	rel, err := b.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rel()
	clk.Sleep(ctx, 20*time.Minute) // 05:10 UTC: Chicago's day has turned, UTC-6's has not
	_, err = b.Acquire(ctx)
	var qe *marketo.QuotaError
	if !errors.As(err, &qe) || !qe.ResetAt.Equal(time.Date(2026, 7, 2, 6, 0, 0, 0, time.UTC)) {
		t.Fatalf("at 05:10 UTC: %v, want the quota error resetting at 06:00 UTC", err)
	}
	clk.Sleep(ctx, 50*time.Minute+time.Second)
	if rel, err = b.Acquire(ctx); err != nil {
		t.Fatalf("after 06:00 UTC: %v", err)
	}
	rel()
}

func TestNewSharedRejectsBadConfig(t *testing.T) {
	for _, cfg := range []limit.Config{{CallsPer20s: 101}, {Concurrent: 11}, {Daily: -1}, {Margin: -time.Second},
		{CallsPer20s: 10, Block: 11}, {CallsPer20s: 10, Block: 5, Burst: 4}, {CallsPer20s: 10, Burst: 11}, {MaxCall: time.Minute, LeaseTTL: time.Minute}, {UseBy: -time.Second}} {
		if _, err := limit.NewShared(&dynamodb.Client{}, "t", "i", cfg); err == nil {
			t.Errorf("NewShared(%+v) accepted", cfg)
		}
	}
	if _, err := limit.NewShared(nil, "t", "i", limit.Config{}); err == nil {
		t.Error("nil client accepted")
	}
}

// testDeadBlock: a Lambda takes a block of calls and dies with one unused.
// The block counts in full until it expires (UseBy+MaxCall+Window+Margin
// after its grant), then another Lambda gets the window back.
func testDeadBlock(t *testing.T, db limit.DynamoAPI, table string) {
	t0 := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	clk := &fakeClock{now: t0}
	cfg := limit.Config{CallsPer20s: 2, Block: 2, Concurrent: 10, Margin: time.Second, UseBy: 2 * time.Second,
		MaxCall: 20 * time.Second, LeaseTTL: 30 * time.Second, IdleGrace: -1}
	dead, alive := newBudget(t, db, table, clk, cfg), newBudget(t, db, table, clk, cfg)
	ctx := context.Background()
	if _, err := dead.Acquire(ctx); err != nil { // takes a block of 2, uses 1, never releases
		t.Fatal(err)
	}
	rel, err := alive.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rel()
	if w, want := clk.Now().Sub(t0), 43*time.Second; w < want || w > want+2*time.Second {
		t.Fatalf("waited %s for the dead holder's block, want about %s (UseBy+MaxCall+Window+Margin)", w, want)
	}
}

// testClosedBlock: a live Lambda that used one call of a block of two gives
// the other back when it closes the block; the used call counts until its
// answer + Window + Margin, no longer.
func testClosedBlock(t *testing.T, db limit.DynamoAPI, table string) {
	t0 := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	clk := &fakeClock{now: t0}
	cfg := limit.Config{CallsPer20s: 2, Block: 2, Concurrent: 10, Margin: time.Second, UseBy: 2 * time.Second, IdleGrace: -1}
	a, b := newBudget(t, db, table, clk, cfg), newBudget(t, db, table, clk, cfg)
	ctx := context.Background()
	rel, err := a.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rel, err = b.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rel()
	if w := clk.Now().Sub(t0); w > 0 {
		t.Fatalf("waited %s for a call a gave back", w)
	}
	// The window now holds a's used call and b's block of 1: a third call
	// waits for a's call to leave (its answer at t0 + 20 s + 1 s).
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rel, err = a.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rel()
	if w := clk.Now().Sub(t0); w < 21*time.Second || w > 23*time.Second {
		t.Fatalf("third call waited %s, want about 21 s", w)
	}
	if st := a.Stats(); st.Grants != 2 || st.Writes == 0 {
		t.Fatalf("a's stats %+v, want 2 grants and some writes", st)
	}
}
