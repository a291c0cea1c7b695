package limit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/certain-marketo/certain-marketo/lib/limit"
)

func newCertainBudget(t *testing.T, db limit.DynamoAPI, table string, clk *fakeClock, cfg limit.CertainConfig) *limit.Shared {
	t.Helper()
	cfg.Now, cfg.Sleep = clk.Now, clk.Sleep
	b, err := limit.NewSharedCertain(db, table, "acme.certain.test/ACME", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testCertainPaceShared: two Lambdas of one Certain account share its
// pace: 10 calls per second with one ahead of it, so the 9 calls after the
// first take 900 ms between them, whichever Lambda makes them.
func testCertainPaceShared(t *testing.T, db limit.DynamoAPI, table string) {
	t0 := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	clk := &fakeClock{now: t0}
	cfg := limit.CertainConfig{Concurrent: 4, CallsPerSecond: 10, Block: 1, Burst: 1, IdleGrace: -1}
	a, b := newCertainBudget(t, db, table, clk, cfg), newCertainBudget(t, db, table, clk, cfg)
	ctx := context.Background()
	for i := range 10 {
		rel, err := []*limit.Shared{a, b}[i%2].Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rel()
		// Call i+1 at i*100 ms, never earlier; later by at most the
		// stagger and jitter that spread racing Lambdas (a step and a
		// half, 150 ms, per wait).
		want := time.Duration(i) * 100 * time.Millisecond
		if w := clk.Now().Sub(t0); w < want || w > want+time.Duration(i)*150*time.Millisecond {
			t.Fatalf("call %d granted after %s, want about %s", i+1, w, want)
		}
	}
}

// testCertainLeasesExpire: a Lambda dies holding 3 of the account's 4
// slots. Another gets the 4th at once and waits for the dead one's lease
// (LeaseTTL) for more; once it lapses, all four are its.
func testCertainLeasesExpire(t *testing.T, db limit.DynamoAPI, table string) {
	t0 := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	clk := &fakeClock{now: t0}
	cfg := limit.CertainConfig{Concurrent: 4, CallsPerSecond: 100, MaxCall: 5 * time.Second, LeaseTTL: 8 * time.Second, IdleGrace: -1}
	dead, alive := newCertainBudget(t, db, table, clk, cfg), newCertainBudget(t, db, table, clk, cfg)
	ctx := context.Background()
	for range 3 {
		if _, err := dead.Acquire(ctx); err != nil { // never released: the Lambda died
			t.Fatal(err)
		}
	}
	var rels []func()
	rel, err := alive.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rels = append(rels, rel)
	if w := clk.Now().Sub(t0); w > time.Second {
		t.Fatalf("the free 4th slot took %s", w)
	}
	for range 3 {
		rel, err := alive.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rels = append(rels, rel)
	}
	if w := clk.Now().Sub(t0); w < 8*time.Second || w > 9*time.Second {
		t.Fatalf("waited %s for the dead holder's slots, want about 8 s (LeaseTTL)", w)
	}
	// Four in flight now: a fifth waits, whoever asks.
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := newCertainBudget(t, db, table, clk, cfg).Acquire(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a 5th call with 4 in flight = %v, want it to wait until its deadline", err)
	}
	for _, r := range rels {
		r()
	}
	if err := alive.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestInProcessCertainPace(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	clk := &fakeClock{now: t0}
	b, err := limit.NewInProcessCertain(limit.CertainConfig{Concurrent: 2, CallsPerSecond: 20, Block: 3, Now: clk.Now, Sleep: clk.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 13 {
		rel, err := b.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rel()
		// 20 per second, each 50 ms after the one before, from the first
		// (nothing is banked: Burst does not let calls start early).
		if w, want := clk.Now().Sub(t0), time.Duration(i)*50*time.Millisecond; w != want {
			t.Fatalf("call %d at %s, want %s", i+1, w, want)
		}
	}
}

func TestNewCertainBudgetRejectsBadConfig(t *testing.T) {
	for _, cfg := range []limit.CertainConfig{{Concurrent: 65}, {CallsPerSecond: 1001}, {CallsPerSecond: -1}, {CallsPerSecond: 4, Block: 5},
		{Block: 5, Burst: 4}, {MaxCall: time.Minute, LeaseTTL: time.Minute}, {UseBy: -time.Second}} {
		if _, err := limit.NewSharedCertain(&dynamodb.Client{}, "t", "a", cfg); err == nil {
			t.Errorf("NewSharedCertain(%+v) accepted", cfg)
		}
		if _, err := limit.NewInProcessCertain(cfg); err == nil {
			t.Errorf("NewInProcessCertain(%+v) accepted", cfg)
		}
	}
	if _, err := limit.NewSharedCertain(&dynamodb.Client{}, "t", "", limit.CertainConfig{}); err == nil || !strings.Contains(err.Error(), "certain budget") {
		t.Errorf("an empty account key: %v, want an error naming the certain budget", err)
	}
}

func TestFactoryCertain(t *testing.T) {
	cfg := limit.CertainConfig{Concurrent: 3, CallsPerSecond: 5}
	if b, err := (limit.Factory{Mode: limit.ModeInProcess}).NewCertain("h/ACME", cfg); err != nil {
		t.Errorf("in-process: %v", err)
	} else if _, ok := b.(*limit.InProcess); !ok {
		t.Errorf("in-process: got %T", b)
	}
	if b, err := (limit.Factory{Mode: limit.ModeShared, DB: &dynamodb.Client{}, Table: "state"}).NewCertain("h/ACME", cfg); err != nil {
		t.Errorf("shared: %v", err)
	} else if _, ok := b.(*limit.Shared); !ok {
		t.Errorf("shared: got %T", b)
	}
	if b, err := (limit.Factory{Mode: limit.ModeShared}).NewCertain("h/ACME", cfg); err == nil || b != nil {
		t.Errorf("shared without a table = %v, %v; want an error and no budget", b, err)
	}
	if _, err := (limit.Factory{}).NewCertain("h/ACME", cfg); err == nil {
		t.Error("a factory without a mode made a budget")
	}
}
