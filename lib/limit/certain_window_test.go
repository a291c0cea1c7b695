package limit_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/certain-marketo/certain-marketo/lib/clock"
	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/testkit/awstest"
)

// The property a Certain budget promises (lib/limit/paced.go): however
// many goroutines and processes take from it, no sliding second sees more
// than CallsPerSecond call starts. The workloads below run in a
// testing/synctest bubble, so a start is stamped at the exact simulated
// moment Acquire hands the call out, and idle spells (when an old budget
// banked calls) are exact too: every 3 s all callers pause for a second,
// then all want calls at once.

// windowLoad is the workload: callers goroutines per budget, each calling
// until run has passed (on now) with 50-300 ms per call, all idle in the
// third second of every three.
type windowLoad struct {
	callers int
	run     time.Duration
	now     func() time.Time
}

type acquirer interface {
	Acquire(ctx context.Context) (func(), error)
}

// starts runs the workload on the budgets and returns every call's start.
func (w windowLoad) starts(t *testing.T, budgets []acquirer) []time.Time {
	t0 := w.now()
	var mu sync.Mutex
	var starts []time.Time
	var wg sync.WaitGroup
	for bi, b := range budgets {
		for ci := range w.callers {
			rng := rand.New(rand.NewPCG(uint64(bi), uint64(ci)))
			wg.Go(func() {
				for {
					el := w.now().Sub(t0)
					if el >= w.run {
						return
					}
					if ph := el % (3 * time.Second); ph >= 2*time.Second {
						time.Sleep(3*time.Second - ph) // everybody idle
						continue
					}
					rel, err := b.Acquire(t.Context())
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					starts = append(starts, w.now())
					mu.Unlock()
					time.Sleep(50*time.Millisecond + time.Duration(rng.Int64N(int64(250*time.Millisecond))))
					rel()
				}
			})
		}
	}
	wg.Wait()
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	return starts
}

// checkWindow fails when n+1 starts fall within one second, and when the
// budget served less than half of what n per second allows over the busy
// two seconds of every three (a budget that starves its callers would
// pass the window trivially).
func checkWindow(t *testing.T, starts []time.Time, n int, run time.Duration) {
	t.Helper()
	over := 0
	for i := 0; i+n < len(starts); i++ {
		if d := starts[i+n].Sub(starts[i]); d < time.Second {
			if over == 0 {
				t.Errorf("starts %d..%d (%d calls) within %s, at %s: more than %d in one second",
					i, i+n, n+1, d, starts[i].Sub(starts[0]), n)
			}
			over++
		}
	}
	if over > 0 {
		t.Errorf("%d sliding seconds saw more than %d starts", over, n)
	}
	if busy := float64(n) * run.Seconds() * 2 / 3; float64(len(starts)) < busy/2 {
		t.Errorf("%d calls in %s, want at least half of %.0f (the pace over the busy time)", len(starts), run, busy)
	}
	t.Logf("%d calls, at most %d per second allowed", len(starts), n)
}

// TestInProcessCertainWindowNeverOverrun: 12 goroutines (able to start
// about 70 calls a second) on one in-process budget of 50 calls/s with
// Burst 5, the defaults.
func TestInProcessCertainWindowNeverOverrun(t *testing.T) {
	const n = 50
	run := 30 * time.Second
	synctest.Test(t, func(t *testing.T) {
		b, err := limit.NewInProcessCertain(limit.CertainConfig{Concurrent: 16, CallsPerSecond: n})
		if err != nil {
			t.Fatal(err)
		}
		starts := windowLoad{callers: 12, run: run, now: time.Now}.starts(t, []acquirer{b})
		checkWindow(t, starts, n, run)
	})
}

// bubbleBudgets returns n Lambdas' budgets of one Certain account held in
// moto, for a synctest bubble: the bubble's clock starts in 2000, so now
// shifts it to real0's day (the item's TTL is then in the future), and the
// DynamoDB client is the bubble's own, without kept-alive connections, so
// that no connection outlives the test. wrap may slow the client down.
// Requests to moto take no simulated time (a goroutine waiting on a socket
// holds the bubble's clock).
func bubbleBudgets(t *testing.T, awsCfg aws.Config, table, account string, real0 time.Time, n int, cfg limit.CertainConfig,
	wrap func(limit.DynamoAPI) limit.DynamoAPI) (budgets []*limit.Shared, now func() time.Time) {
	t.Helper()
	shift := real0.Sub(time.Now())
	now = func() time.Time { return time.Now().Add(shift) }
	var db limit.DynamoAPI = awstest.NewSerial(dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	}))
	if wrap != nil {
		db = wrap(db)
	}
	cfg.Now, cfg.Sleep = now, clock.Sleep
	for range n {
		b, err := limit.NewSharedCertain(db, table, account, cfg)
		if err != nil {
			t.Fatal(err)
		}
		budgets = append(budgets, b)
	}
	return budgets, now
}

// closeBudgets closes the budgets and returns their DynamoDB figures summed.
func closeBudgets(t *testing.T, budgets []*limit.Shared) limit.Stats {
	t.Helper()
	for _, b := range budgets {
		if err := b.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}
	return sumStats(budgets)
}

// sumStats is the budgets' figures summed.
func sumStats(budgets []*limit.Shared) limit.Stats {
	var st limit.Stats
	for _, b := range budgets {
		s := b.Stats()
		st.Grants += s.Grants
		st.Writes += s.Writes
		st.Reads += s.Reads
		st.Renewals += s.Renewals
		st.Conflicts += s.Conflicts
		st.BlocksTook += s.BlocksTook
		st.SlotsMissed += s.SlotsMissed
	}
	return st
}

// testCertainWindowShared: three Lambdas (each its own budget object, 4
// goroutines) share one account's DynamoDB budget of 50 calls/s, in blocks
// of 5 with a Burst of 5 (the defaults).
func testCertainWindowShared(t *testing.T, awsCfg aws.Config, table string) {
	const n = 50
	run := 30 * time.Second
	real0 := time.Now()
	synctest.Test(t, func(t *testing.T) {
		shared, now := bubbleBudgets(t, awsCfg, table, "acme.certain.test/WINDOW", real0, 3, limit.CertainConfig{Concurrent: 16, CallsPerSecond: n}, nil)
		var budgets []acquirer
		for _, b := range shared {
			budgets = append(budgets, b)
		}
		starts := windowLoad{callers: 4, run: run, now: now}.starts(t, budgets)
		st := closeBudgets(t, shared)
		checkWindow(t, starts, n, run)
		t.Logf("DynamoDB: %d writes (%d renewals, %d conflicts), %d reads, %d blocks (%d slots missed) for %d calls: %.2f requests a call",
			st.Writes, st.Renewals, st.Conflicts, st.Reads, st.BlocksTook, st.SlotsMissed, len(starts), float64(st.Writes+st.Reads)/float64(len(starts)))
	})
}

// slowWrites is a DynamoDB whose writes take delay (on the bubble's
// clock): a block is in hand that long after it was planned.
type slowWrites struct {
	limit.DynamoAPI
	delay time.Duration
}

func (s slowWrites) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	time.Sleep(s.delay)
	return s.DynamoAPI.PutItem(ctx, in, optFns...)
}

// testCertainFinePaceSlowWrites: at 1,000 calls/s a slot is a millisecond,
// and a block planned from the plan's now would have all its slots behind
// it when its 20 ms write came back: the processes took block after block
// and started nothing (lib/limit/paced.go, lead). Four Lambdas, 3 slots
// among them, 3 callers each with 40 ms calls, for 3 s: the slots bound
// the calls to 3 per 40 ms (225 in all); the budget must serve a good part
// of that (here at least 30), each call at a slot of its own.
func testCertainFinePaceSlowWrites(t *testing.T, awsCfg aws.Config, table string) {
	const n = 1000
	run := 3 * time.Second
	real0 := time.Now()
	synctest.Test(t, func(t *testing.T) {
		budgets, now := bubbleBudgets(t, awsCfg, table, "acme.certain.test/FINE", real0, 4, limit.CertainConfig{Concurrent: 3, CallsPerSecond: n},
			func(db limit.DynamoAPI) limit.DynamoAPI { return slowWrites{db, 20 * time.Millisecond} })
		t0 := now()
		// A caller not served gives up a second after the run (else a
		// budget that starts nothing would hang the test).
		ctx, cancel := context.WithTimeout(t.Context(), run+time.Second)
		defer cancel()
		var mu sync.Mutex
		var starts []time.Time
		var starved int
		var wg sync.WaitGroup
		for _, b := range budgets {
			for range 3 {
				wg.Go(func() {
					for now().Sub(t0) < run {
						rel, err := b.Acquire(ctx)
						if err != nil {
							mu.Lock()
							starved++
							mu.Unlock()
							return
						}
						mu.Lock()
						starts = append(starts, now())
						mu.Unlock()
						time.Sleep(40 * time.Millisecond)
						rel()
					}
				})
			}
		}
		wg.Wait()
		missed := closeBudgets(t, budgets).SlotsMissed
		// In the bubble a call starts exactly at its slot, and slots are at
		// least a millisecond apart (ceil(i*1002/1000)): two starts closer
		// than that would be two blocks given the same slots.
		slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
		for i := 1; i < len(starts); i++ {
			if d := starts[i].Sub(starts[i-1]); d < time.Millisecond {
				t.Fatalf("starts %d and %d are %s apart: two calls on one slot", i-1, i, d)
			}
		}
		// (A caller may go unserved: 3 slots for 4 processes, and a holder
		// keeps its lease while it has calls waiting.)
		if len(starts) < 30 {
			t.Errorf("%d calls in %s (%d slots passed over, %d callers never served), want at least 30 of the 225 the slots allow", len(starts), run, missed, starved)
		}
		t.Logf("%d calls in %s, %d slots passed over, %d callers never served", len(starts), run, missed, starved)
	})
}
