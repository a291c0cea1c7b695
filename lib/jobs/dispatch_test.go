package jobs_test

import (
	"context"
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
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// sentRun is one message a fakeQueue accepted.
type sentRun struct {
	m     jobs.RunMessage
	delay time.Duration
}

// fakeQueue records what the executor queues; refuse makes it fail.
type fakeQueue struct {
	mu     sync.Mutex
	sent   []sentRun
	refuse bool
}

func (q *fakeQueue) SendRuns(_ context.Context, msgs []jobs.RunMessage, delay time.Duration) ([]bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ok := make([]bool, len(msgs))
	if q.refuse {
		return ok, errors.New("queue unavailable")
	}
	for i, m := range msgs {
		if _, err := m.Encode(); err != nil {
			return ok, err
		}
		q.sent = append(q.sent, sentRun{m, delay})
		ok[i] = true
	}
	return ok, nil
}

// take returns and forgets what was sent.
func (q *fakeQueue) take() []sentRun {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.sent
	q.sent = nil
	return s
}

func queued(t *testing.T, env *jobstest.Env) *fakeQueue {
	t.Helper()
	env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": "HS26"}) // jobs read their event first
	q := &fakeQueue{}
	env.Executor.Queue = q
	return q
}

// A tick queues one message per enabled, due job and runs nothing.
func TestDispatchQueuesDueJobsOnly(t *testing.T) {
	var runs atomic.Int32
	env := jobstest.New(t, jobstest.WithFunc(testType, func(context.Context, *jobs.RunContext) error { runs.Add(1); return nil }))
	q := queued(t, env)
	for _, id := range []string{"due-1", "due-2", "ran", "off"} {
		j := testJob(id)
		j.Enabled = id != "off"
		env.PutJob(t, j)
	}
	ctx := context.Background()
	env.RunJob(t, ctx, "ran") // not due again for 15 minutes
	runs.Store(0)

	res, err := env.Executor.Dispatch(ctx, testType)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.Queued, ","); got != "due-1,due-2" {
		t.Fatalf("queued %s, want due-1,due-2 (skipped %v)", got, res.Skipped)
	}
	if !strings.HasPrefix(res.Skipped["ran"], "not due until") || res.Skipped["off"] != "disabled" {
		t.Fatalf("skipped %v, want ran not due and off disabled", res.Skipped)
	}
	if runs.Load() != 0 {
		t.Fatalf("the dispatcher ran %d jobs; it must only queue", runs.Load())
	}
	for _, s := range q.take() {
		if s.m.Kind != jobs.RunKindSchedule || s.delay != 0 || !s.m.Due.Equal(env.Clock.Now()) {
			t.Errorf("queued %+v with delay %v, want a schedule message due now, no delay", s.m, s.delay)
		}
	}

	// A queue that refuses: the tick fails naming what was not queued.
	q.refuse = true
	res, err = env.Executor.Dispatch(ctx, testType)
	if err == nil || len(res.Queued) != 0 || !strings.Contains(res.Skipped["due-1"], "not queued") {
		t.Fatalf("dispatch to a refusing queue = %+v, %v; want an error and due-1 not queued", res, err)
	}
}

// A tick queues the accounts' due jobs in turn (each account's in the
// store's order), so the first consumers start on different accounts'
// Marketo budgets.
func TestDispatchTakesAccountsInTurn(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(testType, func(context.Context, *jobs.RunContext) error { return nil }))
	q := queued(t, env)
	for _, id := range []string{"a1", "a2", "a3", "b1", "b2", "c1"} {
		j := testJob(id)
		j.Account = strings.ToUpper(id[:1])
		env.PutJob(t, j)
	}
	res, err := env.Executor.Dispatch(context.Background(), testType)
	if err != nil {
		t.Fatal(err)
	}
	const want = "a1,b1,c1,a2,b2,a3"
	if got := strings.Join(res.Queued, ","); got != want {
		t.Fatalf("queued %s, want %s", got, want)
	}
	var sent []string
	for _, s := range q.take() {
		sent = append(sent, s.m.JobID)
	}
	if got := strings.Join(sent, ","); got != want {
		t.Fatalf("sent %s, want %s", got, want)
	}
}

// Many copies of one message, consumed at once: the job runs once; a copy
// delivered after the run finds it not due and runs nothing.
func TestConsumeDuplicatesRunOnce(t *testing.T) {
	var runs atomic.Int32
	release := make(chan struct{})
	env := jobstest.New(t, jobstest.WithFunc(testType, func(context.Context, *jobs.RunContext) error {
		runs.Add(1)
		<-release
		return nil
	}))
	q := queued(t, env)
	env.PutJob(t, testJob("j1"))
	ctx := context.Background()
	if _, err := env.Executor.Dispatch(ctx, testType); err != nil {
		t.Fatal(err)
	}
	m := q.take()[0].m
	var wg sync.WaitGroup
	got := make([]jobs.Consumed, 6)
	for i := range got {
		wg.Go(func() {
			c, err := env.Executor.Consume(ctx, m)
			if err != nil {
				t.Errorf("consume copy %d: %v", i, err)
			}
			got[i] = c
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	ran := 0
	for _, c := range got {
		if c.Ran != nil {
			ran++
		} else if c.Skipped == "" || !c.RetryAt.IsZero() {
			t.Errorf("a copy that did not run: %+v, want a reason and no retry", c)
		}
	}
	if ran != 1 || runs.Load() != 1 {
		t.Fatalf("%d copies report a run, the job ran %d times; want 1 and 1", ran, runs.Load())
	}
	late, err := env.Executor.Consume(ctx, m)
	if err != nil || late.Ran != nil || !strings.HasPrefix(late.Skipped, "not due until") {
		t.Fatalf("a copy after the run = %+v, %v; want skipped as not due", late, err)
	}
	if q.take() != nil {
		t.Fatal("a finished run queued a continuation")
	}
}

// A run stopped at the soft deadline queues its continuation at once (a
// short delay); the continuation resumes the checkpoint; a run stopped by
// the daily quota queues one that waits for the reset.
func TestConsumeQueuesContinuations(t *testing.T) {
	step := 0
	env := jobstest.New(t, jobstest.WithFunc(testType, func(ctx context.Context, rc *jobs.RunContext) error {
		step++
		switch step {
		case 1:
			if err := rc.SaveCheckpoint(ctx, []byte(`{"page":1}`)); err != nil {
				return err
			}
			return jobs.ErrCheckpointed
		case 2:
			if string(rc.Checkpoint) != `{"page":1}` {
				return fmt.Errorf("continuation got checkpoint %q", rc.Checkpoint)
			}
			return fmt.Errorf("sync: %w", &marketo.QuotaError{})
		}
		return nil
	}))
	q := queued(t, env)
	env.PutJob(t, testJob("j1"))
	ctx := context.Background()
	if _, err := env.Executor.Dispatch(ctx, testType); err != nil {
		t.Fatal(err)
	}
	c1, err := env.Executor.Consume(ctx, q.take()[0].m)
	if err != nil || c1.Ran == nil || c1.Ran.Outcome != store.RunCheckpointed {
		t.Fatalf("first run = %+v, %v; want checkpointed", c1, err)
	}
	cont := q.take()
	if len(cont) != 1 || cont[0].m.Kind != jobs.RunKindContinuation || cont[0].delay != jobs.DefaultContinueAfter || cont[0].m.JobID != "j1" {
		t.Fatalf("after a checkpointed run queued %+v, want one continuation delayed %v", cont, jobs.DefaultContinueAfter)
	}
	env.Clock.Advance(jobs.DefaultContinueAfter)
	c2, err := env.Executor.Consume(ctx, cont[0].m)
	if err != nil || c2.Ran == nil || c2.Ran.Outcome != store.RunQuota {
		t.Fatalf("continuation = %+v, %v; want the quota stop", c2, err)
	}
	if r, _ := env.Store.GetRun(ctx, c2.Ran.RunID); r.Trigger != "continuation" {
		t.Fatalf("continuation run trigger %q, want continuation", r.Trigger)
	}
	reset := marketo.NextDailyReset(env.Clock.Now(), marketo.ChicagoLocation())
	qc := q.take()
	if len(qc) != 1 || !qc[0].m.Due.Equal(reset) || qc[0].delay != jobs.MaxQueueDelay {
		t.Fatalf("after the quota stop queued %+v, want one continuation due at the reset %v, delayed the 15-minute maximum", qc, reset)
	}
	// Delivered 15 minutes later: it asks to come back at the reset.
	env.Clock.Advance(jobs.MaxQueueDelay)
	c3, err := env.Executor.Consume(ctx, qc[0].m)
	if err != nil || c3.Ran != nil || !c3.RetryAt.Equal(reset) {
		t.Fatalf("continuation before the reset = %+v, %v; want no run and a retry at %v", c3, err, reset)
	}
	env.Clock.Advance(reset.Sub(env.Clock.Now()))
	c4, err := env.Executor.Consume(ctx, qc[0].m)
	if err != nil || c4.Ran == nil || c4.Ran.Outcome != store.RunSucceeded {
		t.Fatalf("continuation at the reset = %+v, %v; want succeeded", c4, err)
	}
	// The same continuation once more: the job has moved past it.
	c5, err := env.Executor.Consume(ctx, qc[0].m)
	if err != nil || c5.Ran != nil || !c5.RetryAt.IsZero() {
		t.Fatalf("a stale continuation = %+v, %v; want skipped without retry", c5, err)
	}
}

// A continuation the queue refused is not lost: the job is due, and the
// next tick queues it.
func TestLostContinuationIsDispatchedByTheNextTick(t *testing.T) {
	step := 0
	env := jobstest.New(t, jobstest.WithFunc(testType, func(ctx context.Context, rc *jobs.RunContext) error {
		step++
		if step == 1 {
			return jobs.ErrCheckpointed
		}
		return nil
	}))
	q := queued(t, env)
	env.PutJob(t, testJob("j1"))
	ctx := context.Background()
	if _, err := env.Executor.Dispatch(ctx, testType); err != nil {
		t.Fatal(err)
	}
	m := q.take()[0].m
	q.refuse = true
	c, err := env.Executor.Consume(ctx, m)
	if err != nil || c.Ran == nil || c.Ran.Outcome != store.RunCheckpointed || !c.Continued.IsZero() {
		t.Fatalf("consume with the continuation refused = %+v, %v; want the checkpointed run, no continuation", c, err)
	}
	q.refuse = false
	env.Clock.Advance(time.Minute)
	res, err := env.Executor.Dispatch(ctx, testType)
	if err != nil || len(res.Queued) != 1 {
		t.Fatalf("next tick = %+v, %v; want j1 queued", res, err)
	}
	c, err = env.Executor.Consume(ctx, q.take()[0].m)
	if err != nil || c.Ran == nil || c.Ran.Outcome != store.RunSucceeded {
		t.Fatalf("the tick's message = %+v, %v; want the run finished", c, err)
	}
}

// A direct run is queued with its run id, recorded under it, and runs once
// whatever the copies; one that finds the job running waits for it.
func TestDirectRunThroughTheQueue(t *testing.T) {
	var forced []bool
	hold := make(chan struct{})
	var holding atomic.Bool
	env := jobstest.New(t, jobstest.WithFunc(testType, func(ctx context.Context, rc *jobs.RunContext) error {
		forced = append(forced, rc.Job.Params.ForceFull)
		if holding.Load() {
			<-hold
		}
		return nil
	}))
	q := queued(t, env)
	env.PutJob(t, testJob("j1"))
	ctx := context.Background()
	if _, err := env.Executor.Enqueue(ctx, "nope", false); err == nil {
		t.Fatal("enqueue of an unknown job succeeded")
	}
	m, err := env.Executor.Enqueue(ctx, "j1", true)
	if err != nil {
		t.Fatal(err)
	}
	if got := q.take(); len(got) != 1 || got[0].m != m || m.Kind != jobs.RunKindDirect || m.RunID == "" || !m.Force {
		t.Fatalf("enqueue sent %+v, returned %+v; want one forced direct message with a run id", got, m)
	}
	c, err := env.Executor.Consume(ctx, m)
	if err != nil || c.Ran == nil || c.Ran.RunID != m.RunID {
		t.Fatalf("consume = %+v, %v; want the run recorded as %s", c, err, m.RunID)
	}
	if r, _ := env.Store.GetRun(ctx, m.RunID); r.Trigger != "direct-force" || r.Outcome != store.RunSucceeded || len(forced) != 1 || !forced[0] {
		t.Fatalf("run %+v (forced %v), want a succeeded direct-force run", r, forced)
	}
	dup, err := env.Executor.Consume(ctx, m)
	if err != nil || dup.Ran != nil || !strings.HasPrefix(dup.Skipped, "duplicate") {
		t.Fatalf("a copy after the run = %+v, %v; want a duplicate", dup, err)
	}

	// The job is running (a scheduled run holds it): the direct run waits.
	env.Clock.Advance(time.Hour)
	holding.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := env.Executor.RunNow(ctx, "j1", false); err != nil {
			t.Errorf("scheduled run: %v", err)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for st, _ := env.Store.GetJobState(ctx, "j1"); !st.LeaseUntil.After(env.Clock.Now()); st, _ = env.Store.GetJobState(ctx, "j1") {
		if time.Now().After(deadline) {
			t.Fatal("the scheduled run did not take the lease")
		}
		time.Sleep(time.Millisecond)
	}
	m2, err := env.Executor.Enqueue(ctx, "j1", false)
	if err != nil {
		t.Fatal(err)
	}
	busy, err := env.Executor.Consume(ctx, m2)
	if err != nil || busy.Ran != nil || !strings.HasPrefix(busy.Skipped, "job busy") || !busy.RetryAt.Equal(env.Clock.Now().Add(jobs.DefaultBusyRetry)) {
		t.Fatalf("direct run while the job runs = %+v, %v; want busy, retry in %v", busy, err, jobs.DefaultBusyRetry)
	}
	close(hold)
	<-done
	holding.Store(false)
	later, err := env.Executor.Consume(ctx, m2)
	if err != nil || later.Ran == nil || later.Ran.RunID != m2.RunID {
		t.Fatalf("direct run after the other ended = %+v, %v; want it run as %s", later, err, m2.RunID)
	}
}

// A direct run whose invocation died (its record still "running", no lease)
// runs again under a new id when its message comes back.
func TestDirectRunAfterACrashRunsAgain(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(testType, func(context.Context, *jobs.RunContext) error { return nil }))
	queued(t, env)
	env.PutJob(t, testJob("j1"))
	ctx := context.Background()
	m, err := env.Executor.Enqueue(ctx, "j1", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Store.PutRun(ctx, store.Run{ID: m.RunID, JobID: "j1", Outcome: store.RunRunning, Started: env.Clock.Now()}); err != nil {
		t.Fatal(err)
	}
	c, err := env.Executor.Consume(ctx, m)
	if err != nil || c.Ran == nil || c.Ran.RunID == m.RunID || c.Ran.Outcome != store.RunSucceeded {
		t.Fatalf("redelivered direct run = %+v, %v; want a new run that succeeded", c, err)
	}
}

// A message for a job type the function does not run is an error (it is
// on the wrong queue); one for a deleted job is done.
func TestConsumeMisroutedAndDeleted(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(testType, func(context.Context, *jobs.RunContext) error { return nil }))
	queued(t, env)
	j := testJob("other")
	j.Type = config.TypeEngagementMetrics
	j.Params = config.Params{CustomObject: demodata.EngagementObject, Modules: []string{config.ModuleAgenda}}
	env.PutJob(t, j)
	ctx := context.Background()
	now := env.Clock.Now()
	if _, err := env.Executor.Consume(ctx, jobs.RunMessage{Version: 1, JobID: "other", Kind: jobs.RunKindSchedule, Due: now}); err == nil ||
		!strings.Contains(err.Error(), "wrong queue") {
		t.Fatalf("misrouted message: err = %v, want one naming the wrong queue", err)
	}
	c, err := env.Executor.Consume(ctx, jobs.RunMessage{Version: 1, JobID: "gone", Kind: jobs.RunKindSchedule, Due: now})
	if err != nil || c.Ran != nil || !strings.Contains(c.Skipped, "not configured") {
		t.Fatalf("message for a deleted job = %+v, %v; want skipped", c, err)
	}
}

func TestDecodeRun(t *testing.T) {
	good := `{"version":1,"jobId":"j1","kind":"direct","due":"2026-04-01T08:00:00Z","runId":"20260401T080000Z-1a2b3c4d","force":true}`
	m, err := jobs.DecodeRun([]byte(good))
	if err != nil || m.RunID != "20260401T080000Z-1a2b3c4d" || !m.Force || m.Due.Location() != time.UTC {
		t.Fatalf("DecodeRun(good) = %+v, %v", m, err)
	}
	b, err := m.Encode()
	if err != nil || string(b) != good {
		t.Fatalf("Encode = %s, %v; want %s", b, err, good)
	}
	for body, want := range map[string]string{
		`{"version":2,"jobId":"j","kind":"schedule","due":"2026-04-01T08:00:00Z"}`:             "version 2",
		`{"version":1,"kind":"schedule","due":"2026-04-01T08:00:00Z"}`:                         "jobId is required",
		`{"version":1,"jobId":"j","kind":"later","due":"2026-04-01T08:00:00Z"}`:                `kind "later"`,
		`{"version":1,"jobId":"j","kind":"schedule"}`:                                          "due is required",
		`{"version":1,"jobId":"j","kind":"direct","due":"2026-04-01T08:00:00Z"}`:               "runId is required",
		`{"version":1,"jobId":"j","kind":"schedule","due":"2026-04-01T08:00:00Z","runId":"r"}`: "belong to direct runs",
		`{"version":1,"jobId":"j","kind":"schedule","due":"2026-04-01T08:00:00Z","extra":1}`:   "unknown field",
		`{"version":1,"jobId":"j","kind":"schedule","due":"2026-04-01T08:00:00Z"} {}`:          "trailing data",
		`{"version":1,"jobId":"a b","kind":"schedule","due":"2026-04-01T08:00:00Z"}`:           "spaces",
		`not json`: "run message",
	} {
		if _, err := jobs.DecodeRun([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeRun(%s) = %v, want an error containing %q", body, err, want)
		}
	}
}
