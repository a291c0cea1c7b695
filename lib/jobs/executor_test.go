package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

const testType = config.TypeSyncLeads

func testJob(id string) config.Job {
	return config.Job{ID: id, Account: jobstest.Account, Event: "HS26", Type: testType, Name: id, Enabled: true,
		Schedule: config.Schedule{Interval: config.Duration(15 * time.Minute)},
		Params:   config.Params{Statuses: []string{"Pre-Registered"}}}
}

// Overlapping ticks run a due job exactly once.
func TestTickOverlapRunsJobOnce(t *testing.T) {
	var runs atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{}, 8)
	env := jobstest.New(t, jobstest.WithFunc(testType, func(ctx context.Context, rc *jobs.RunContext) error {
		runs.Add(1)
		started <- struct{}{}
		<-release
		return nil
	}))
	env.PutJob(t, testJob("j1"))
	env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": "HS26"}) // jobs read their event first
	var wg sync.WaitGroup
	results := make([]jobs.TickResult, 6)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := env.Executor.Tick(context.Background(), testType)
			if err != nil {
				t.Errorf("tick %d: %v", i, err)
			}
			results[i] = r
		}()
	}
	<-started
	time.Sleep(50 * time.Millisecond) // let the other ticks reach their claim
	close(release)
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Fatalf("job ran %d times over 6 overlapping ticks, want 1", n)
	}
	ran := 0
	for _, r := range results {
		ran += len(r.Ran)
	}
	if ran != 1 {
		t.Fatalf("%d ticks report a run, want 1: %+v", ran, results)
	}
	// A tick right after the run: not due for 15 minutes.
	r, err := env.Executor.Tick(context.Background(), testType)
	if err != nil || len(r.Ran) != 0 || r.Skipped["j1"] == "" {
		t.Fatalf("tick after run = %+v, %v; want j1 skipped as not due", r, err)
	}
	env.Clock.Advance(15 * time.Minute)
	if r, err = env.Executor.Tick(context.Background(), testType); err != nil || len(r.Ran) != 1 {
		t.Fatalf("tick 15 min later = %+v, %v; want one run", r, err)
	}
}

// The run record's outcome follows the job's result, and a checkpoint is
// handed to the next run and deleted when a run finishes.
func TestRunOutcomesAndCheckpoint(t *testing.T) {
	step := 0
	var seen []string
	env := jobstest.New(t, jobstest.WithFunc(testType, func(ctx context.Context, rc *jobs.RunContext) error {
		step++
		seen = append(seen, string(rc.Checkpoint))
		switch step {
		case 1:
			rc.Run.Record(store.RecordOutcome{Key: "R-1", Outcome: store.OutcomeCreated})
			if err := rc.SaveCheckpoint(ctx, []byte(`{"page":1}`)); err != nil {
				return err
			}
			return jobs.ErrCheckpointed
		case 2:
			rc.Run.Record(store.RecordOutcome{Key: "R-2", Outcome: store.OutcomeFailed, Code: "1007", Reason: "several leads share this email"})
			if err := rc.SaveCheckpoint(ctx, []byte(`{"page":2}`)); err != nil {
				return err
			}
			return fmt.Errorf("sync: %w", &marketo.QuotaError{})
		case 3:
			return nil
		}
		return jobs.Configf("params.listId: list 99 not found")
	}))
	env.PutJob(t, testJob("j1"))
	env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": "HS26"}) // jobs read their event first
	ctx := context.Background()

	r1 := env.RunJob(t, ctx, "j1")
	if r1.Outcome != store.RunCheckpointed || r1.Counts[store.OutcomeCreated] != 1 {
		t.Fatalf("run 1 = %+v, want checkpointed with 1 created", r1)
	}
	st, _ := env.Store.GetJobState(ctx, "j1")
	if st.NextDue.After(env.Clock.Now()) {
		t.Fatalf("after a checkpointed run the job is due at %v, want now (%v)", st.NextDue, env.Clock.Now())
	}
	r2 := env.RunJob(t, ctx, "j1")
	if r2.Outcome != store.RunQuota || r2.Trigger != "continuation" {
		t.Fatalf("run 2 = %+v, want quota, continuation", r2)
	}
	st, _ = env.Store.GetJobState(ctx, "j1")
	if want := marketo.NextDailyReset(env.Clock.Now(), marketo.ChicagoLocation()); !st.NextDue.Equal(want) {
		t.Fatalf("after quota the job is due at %v, want the reset %v", st.NextDue, want)
	}
	outs := env.Outcomes(t, r2.ID)
	if len(outs) != 1 || outs[0].Code != "1007" {
		t.Fatalf("run 2 outcomes = %+v, want the 1007 failure", outs)
	}
	r3 := env.RunJob(t, ctx, "j1")
	if r3.Outcome != store.RunSucceeded {
		t.Fatalf("run 3 = %+v, want succeeded", r3)
	}
	if _, err := env.Store.GetCheckpoint(ctx, "j1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("checkpoint after a finished run: err = %v, want ErrNotFound", err)
	}
	r4 := env.RunJob(t, ctx, "j1")
	if r4.Outcome != store.RunFailed || r4.Error == "" {
		t.Fatalf("run 4 = %+v, want failed with the configuration error", r4)
	}
	want := []string{"", `{"page":1}`, `{"page":2}`, ""}
	if b, _ := json.Marshal(seen); string(b) != mustJSON(want) {
		t.Fatalf("checkpoints seen = %s, want %s", b, mustJSON(want))
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A job whose connection is missing fails with a run record naming it.
func TestMissingConnectionIsConfigError(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(testType, func(context.Context, *jobs.RunContext) error { return nil }))
	j := testJob("j2")
	j.Account = "NOPE"
	env.PutJob(t, j)
	env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": "HS26"}) // jobs read their event first
	run := env.RunJob(t, context.Background(), "j2")
	if run.Outcome != store.RunFailed || !strings.Contains(run.Error, `account "NOPE"`) {
		t.Fatalf("run = %+v, want failed naming account NOPE", run)
	}
}

// A soft deadline already passed: ShouldStop is true from the start.
func TestShouldStopAtSoftDeadline(t *testing.T) {
	var stop bool
	env := jobstest.New(t, jobstest.WithFunc(testType, func(ctx context.Context, rc *jobs.RunContext) error {
		stop = rc.ShouldStop(ctx)
		return nil
	}))
	env.PutJob(t, testJob("j3"))
	env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": "HS26"}) // jobs read their event first
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	env.Executor.Margin = 5 * time.Second // capped to a sixth of what is left: ~333 ms
	env.RunJob(t, ctx, "j3")
	if stop {
		t.Fatalf("ShouldStop true 1.6 s before the soft deadline")
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	env.InterruptAfter(0)
	env.Clock.Advance(time.Hour)
	env.RunJob(t, ctx2, "j3")
	if !stop {
		t.Fatalf("ShouldStop false after an interrupt")
	}
}
