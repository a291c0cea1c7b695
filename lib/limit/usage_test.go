package limit_test

import (
	"context"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

func acquireN(t *testing.T, b interface {
	Acquire(context.Context) (func(), error)
}, n int) {
	t.Helper()
	for range n {
		rel, err := b.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		rel()
	}
}

// The day's count a budget reports is the instance's, every Lambda's calls
// included, as of its last read or write; unused calls given back on Close
// do not count, and a new Chicago day starts at zero.
func testDailyUsage(t *testing.T, db limit.DynamoAPI, table string) {
	chicago := marketo.ChicagoLocation()
	clk := &fakeClock{now: time.Date(2026, 3, 2, 23, 0, 0, 0, chicago)}
	cfg := limit.Config{CallsPer20s: 100, Concurrent: 5, Daily: 10, IdleGrace: -1}
	a := newBudget(t, db, table, clk, cfg)
	b := newBudget(t, db, table, clk, cfg)
	ctx := context.Background()
	if u := b.DailyUsage(clk.Now()); u.Known || u.Calls != 0 || u.Limit != 10 {
		t.Fatalf("unused budget: %+v, want unknown with limit 10", u)
	}
	acquireN(t, a, 4)
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	u := a.DailyUsage(clk.Now())
	if !u.Known || u.Calls != 4 || u.Day != "2026-03-02" || u.Percent() != 40 {
		t.Fatalf("after 4 calls and Close: %+v (%v%%), want 4 calls of 10 on 2026-03-02", u, u.Percent())
	}
	acquireN(t, b, 1)
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if u := b.DailyUsage(clk.Now()); u.Calls != 5 {
		t.Fatalf("the other Lambda sees %+v, want 5 calls (4 of the first Lambda and its own)", u)
	}
	clk.Sleep(ctx, time.Hour+time.Second) // past midnight in Chicago
	if u := b.DailyUsage(clk.Now()); u.Calls != 0 || u.Day != "2026-03-03" {
		t.Fatalf("after midnight Chicago: %+v, want 0 calls on 2026-03-03", u)
	}
}

func TestInProcessDailyUsage(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	b, err := limit.NewInProcess(limit.Config{Daily: 4, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	acquireN(t, b, 3)
	if u := b.DailyUsage(now); !u.Known || u.Calls != 3 || u.Limit != 4 || u.Percent() != 75 {
		t.Fatalf("usage %+v (%v%%), want 3 of 4 (75%%)", u, u.Percent())
	}
	unlimited, err := limit.NewInProcess(limit.Config{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	acquireN(t, unlimited, 2)
	if u := unlimited.DailyUsage(now); u.Known || u.Percent() != 0 {
		t.Fatalf("without a daily limit: %+v, want unknown (the calls are not counted)", u)
	}
}
