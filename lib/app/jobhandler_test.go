package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
	"github.com/certain-marketo/certain-marketo/lib/testkit/memqueue"
)

// jobFn is a job function under the real JobHandler, its work queue in
// memory on the harness clock.
type jobFn struct {
	env *jobstest.Env
	q   *memqueue.Queue
	h   lambda.Handler
}

func newJobFn(t *testing.T, f jobs.JobFunc) *jobFn {
	t.Helper()
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, f))
	env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": "HS26"}) // jobs read their event first
	b := memqueue.NewBroker(env.Clock.Now)
	q := b.Queue("sync-leads-work")
	q.Visibility = 90 * time.Minute
	q.MaxReceives = 10
	wq := &app.WorkQueue{Client: b, QueueURL: q.URL, Now: env.Clock.Now}
	env.Executor.Queue = wq
	return &jobFn{env: env, q: q, h: lambda.NewHandler(app.JobHandler(env.Executor, wq, nil, config.TypeSyncLeads))}
}

func (f *jobFn) invoke(t *testing.T, payload []byte, out any) {
	t.Helper()
	raw, err := f.h.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatalf("invoke %s: %v", payload, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("response %s: %v", raw, err)
	}
}

// deliver hands every visible message to the function, one per event (the
// template's BatchSize 1), as the event source mapping would, and returns
// the responses.
func (f *jobFn) deliver(t *testing.T) []events.SQSEventResponse {
	t.Helper()
	var out []events.SQSEventResponse
	for {
		ev := f.q.Receive(1)
		if len(ev.Records) == 0 {
			return out
		}
		b, _ := json.Marshal(ev)
		var resp events.SQSEventResponse
		f.invoke(t, b, &resp)
		f.q.Settle(ev, resp)
		out = append(out, resp)
	}
}

func syncJob(id string) config.Job {
	return config.Job{ID: id, Account: jobstest.Account, Event: "HS26", Type: config.TypeSyncLeads, Name: id, Enabled: true,
		Schedule: config.Schedule{Interval: config.Duration(time.Hour)}, Params: config.Params{Statuses: []string{"Pre-Registered"}}}
}

// The deployed path: a tick queues the due jobs and runs nothing; the
// queue's messages, handed back one per invocation, run each job once; a
// checkpointed run continues from its own message seconds later; a direct
// run comes back through the queue under the run id the invocation answered.
func TestJobHandlerFansOutThroughTheQueue(t *testing.T) {
	var runs atomic.Int32
	var stopOnce atomic.Bool
	f := newJobFn(t, func(ctx context.Context, rc *jobs.RunContext) error {
		runs.Add(1)
		if rc.Job.ID == "big" && stopOnce.CompareAndSwap(false, true) {
			if err := rc.SaveCheckpoint(ctx, []byte(`{"startIndex":500}`)); err != nil {
				return err
			}
			return jobs.ErrCheckpointed
		}
		return nil
	})
	for _, id := range []string{"a", "b", "big"} {
		f.env.PutJob(t, syncJob(id))
	}
	var resp app.Response
	f.invoke(t, []byte(`{"jobType":"sync-leads","scheduledTime":"2026-04-01T14:00:00Z"}`), &resp)
	if resp.Dispatch == nil || len(resp.Dispatch.Queued) != 3 || runs.Load() != 0 || f.q.Len() != 3 {
		t.Fatalf("tick answered %+v with %d runs and %d messages; want 3 queued, none run", resp.Dispatch, runs.Load(), f.q.Len())
	}
	for _, r := range f.deliver(t) {
		if len(r.BatchItemFailures) != 0 {
			t.Fatalf("delivery failed: %+v", r)
		}
	}
	if runs.Load() != 3 || f.q.Len() != 1 {
		t.Fatalf("after delivery: %d runs, %d messages; want 3 runs and big's continuation", runs.Load(), f.q.Len())
	}
	cont, err := jobs.DecodeRun([]byte(f.q.Bodies()[0]))
	if err != nil || cont.Kind != jobs.RunKindContinuation || cont.JobID != "big" {
		t.Fatalf("queued %+v, %v; want big's continuation", cont, err)
	}
	if got := f.q.NextVisible().Sub(f.env.Clock.Now()); got != jobs.DefaultContinueAfter {
		t.Fatalf("continuation delivered in %v, want %v", got, jobs.DefaultContinueAfter)
	}
	f.env.Clock.Advance(jobs.DefaultContinueAfter)
	f.deliver(t)
	runsBig, err := f.env.Store.ListRuns(context.Background(), "big", 5)
	if err != nil || len(runsBig) != 2 || runsBig[0].Trigger != "continuation" || runsBig[0].Outcome != store.RunSucceeded {
		t.Fatalf("big's runs %+v, %v; want a checkpointed run then a continuation that succeeded", runsBig, err)
	}

	// A direct run: queued, answered with its run id, run once.
	f.invoke(t, []byte(`{"jobId":"a","force":true}`), &resp)
	if resp.Queued == nil || resp.Queued.RunID == "" || resp.Queued.Kind != jobs.RunKindDirect {
		t.Fatalf("direct run answered %+v, want the queued message", resp)
	}
	before := runs.Load()
	f.deliver(t)
	r, err := f.env.Store.GetRun(context.Background(), resp.Queued.RunID)
	if err != nil || r.Trigger != "direct-force" || r.Outcome != store.RunSucceeded || runs.Load() != before+1 {
		t.Fatalf("direct run %+v, %v (%d runs); want one succeeded direct-force run under the answered id", r, err, runs.Load()-before)
	}
}

// Malformed and misrouted messages are batch item failures hidden for the
// back-off, and reach the dead letters after the queue's receives; the
// other messages of the batch are not held back.
func TestJobHandlerPoisonMessages(t *testing.T) {
	f := newJobFn(t, func(context.Context, *jobs.RunContext) error { return nil })
	f.env.PutJob(t, syncJob("a"))
	other := syncJob("eng")
	other.Type = config.TypeInterestMetrics
	other.Params = config.Params{CustomObject: "interest_c", Fields: map[string]string{jobs.FieldKey: jobs.FieldDisabled}, Include: []string{"registered"}}
	f.env.PutJob(t, other)
	now := f.env.Clock.Now().UTC().Format(time.RFC3339)
	f.q.Send(`{"version":1,"jobId":"a","kind":"sometime","due":"`+now+`"}`, 0)
	f.q.Send(`{"version":1,"jobId":"eng","kind":"schedule","due":"`+now+`"}`, 0)
	f.q.Send(`{"version":1,"jobId":"a","kind":"schedule","due":"`+now+`"}`, 0)
	ev := f.q.Receive(10)
	b, _ := json.Marshal(ev)
	var resp events.SQSEventResponse
	f.invoke(t, b, &resp)
	f.q.Settle(ev, resp)
	if len(resp.BatchItemFailures) != 2 || resp.BatchItemFailures[0].ItemIdentifier != ev.Records[0].MessageId ||
		resp.BatchItemFailures[1].ItemIdentifier != ev.Records[1].MessageId {
		t.Fatalf("failures %+v, want the malformed and the misrouted message", resp.BatchItemFailures)
	}
	if runs, _ := f.env.Store.ListRuns(context.Background(), "a", 5); len(runs) != 1 {
		t.Fatalf("job a ran %d times, want once despite the poison beside it", len(runs))
	}
	if got := f.q.NextVisible().Sub(f.env.Clock.Now()); got != app.RetryBackoff(1) {
		t.Fatalf("failed messages come back in %v, want the first back-off %v", got, app.RetryBackoff(1))
	}
	for i := 0; f.q.Len() > 0 && i < 20; i++ {
		f.env.Clock.Advance(jobs.MaxQueueDelay)
		f.deliver(t)
	}
	if dead := f.q.DeadLetters(); len(dead) != 2 {
		t.Fatalf("dead letters %q, want the two poison messages", dead)
	}
}

// A continuation stopped by the daily quota is kept on the queue (hidden
// until the reset, at most MaxPostpone at a time) and runs at the reset; a
// direct run that finds the job busy comes back as a fresh copy.
func TestJobHandlerWaitsForTheQuotaReset(t *testing.T) {
	var quota atomic.Bool
	quota.Store(true)
	f := newJobFn(t, func(ctx context.Context, rc *jobs.RunContext) error {
		if quota.CompareAndSwap(true, false) {
			return fmt.Errorf("sync: %w", &marketo.QuotaError{})
		}
		return nil
	})
	f.env.PutJob(t, syncJob("a"))
	var resp app.Response
	f.invoke(t, []byte(`{"jobType":"sync-leads"}`), &resp)
	f.deliver(t)
	reset := marketo.NextDailyReset(f.env.Clock.Now(), marketo.ChicagoLocation())
	if f.q.Len() != 1 || f.q.NextVisible().Sub(f.env.Clock.Now()) != jobs.MaxQueueDelay {
		t.Fatalf("after the quota stop: %d messages, next in %v; want the continuation in 15 minutes", f.q.Len(), f.q.NextVisible().Sub(f.env.Clock.Now()))
	}
	deliveries := 0
	for f.q.Len() > 0 && deliveries < 10 {
		f.env.Clock.Advance(f.q.NextVisible().Sub(f.env.Clock.Now()))
		f.deliver(t)
		deliveries++
	}
	runs, _ := f.env.Store.ListRuns(context.Background(), "a", 5)
	if len(runs) != 2 || runs[0].Outcome != store.RunSucceeded || runs[0].Started.Before(reset) {
		t.Fatalf("runs %+v; want the quota stop, then a run at or after the reset %v", runs, reset)
	}
	if deliveries > 4 || len(f.q.DeadLetters()) != 0 {
		t.Fatalf("the wait took %d deliveries (dead letters %d); want at most 4 and none dead", deliveries, len(f.q.DeadLetters()))
	}

	// Another run holds the job: a direct run's message is done, and a
	// fresh copy comes back when the other run may have ended.
	ctx := context.Background()
	st, _ := f.env.Store.GetJobState(ctx, "a")
	if ok, err := f.env.Store.ClaimJob(ctx, "a", "other-run", st.Version, f.env.Clock.Now().Add(10*time.Minute), f.env.Clock.Now()); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	f.invoke(t, []byte(`{"jobId":"a"}`), &resp)
	f.deliver(t)
	if f.q.Len() != 1 || f.q.NextVisible().Sub(f.env.Clock.Now()) != jobs.DefaultBusyRetry {
		t.Fatalf("direct run on a busy job: %d messages, next in %v; want a copy in %v", f.q.Len(), f.q.NextVisible().Sub(f.env.Clock.Now()), jobs.DefaultBusyRetry)
	}
	if err := f.env.Store.ReleaseJob(ctx, "a", "other-run", f.env.Clock.Now().Add(time.Hour), store.RunSucceeded); err != nil {
		t.Fatal(err)
	}
	f.env.Clock.Advance(jobs.DefaultBusyRetry)
	f.deliver(t)
	if r, err := f.env.Store.GetRun(ctx, resp.Queued.RunID); err != nil || r.Outcome != store.RunSucceeded || f.q.Len() != 0 {
		t.Fatalf("the direct run after the other ended: %+v, %v (%d messages left)", r, err, f.q.Len())
	}
}

func TestJobHandlerRejectsBadPayloads(t *testing.T) {
	f := newJobFn(t, func(context.Context, *jobs.RunContext) error { return nil })
	for bad, want := range map[string]string{
		`{"jobType":"import-leads"}`:         "not served",
		`{"jobId":"nope"}`:                   "nope",
		`{"Records":"not a list"}`:           "invalid SQS event",
		`{"jobType":"sync-leads","extra":1}`: "unknown field",
	} {
		if _, err := f.h.Invoke(context.Background(), []byte(bad)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", bad, err, want)
		}
	}
	if f.q.Len() != 0 {
		t.Fatalf("refused payloads queued %d messages", f.q.Len())
	}
}

func TestRetryBackoff(t *testing.T) {
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute}
	for i, w := range want {
		if got := app.RetryBackoff(i + 1); got != w {
			t.Errorf("RetryBackoff(%d) = %v, want %v", i+1, got, w)
		}
	}
}

// A dry run is planned in the invocation and answered with the plan: it is
// not queued (it writes nothing, so it needs no claim), and no run record
// is written.
func TestJobHandlerAnswersADryRunWithItsPlan(t *testing.T) {
	f := newJobFn(t, func(context.Context, *jobs.RunContext) error { return nil })
	f.env.PutJob(t, syncJob("a"))
	var resp app.Response
	f.invoke(t, []byte(`{"jobId":"a","dryRun":true}`), &resp)
	if resp.Plan == nil || resp.Queued != nil || resp.Dispatch != nil {
		t.Fatalf("dry run answered %+v, want a plan and nothing queued", resp)
	}
	if n := f.q.Len(); n != 0 {
		t.Fatalf("%d messages queued by a dry run, want none", n)
	}
	if runs, err := f.env.Store.ListRuns(context.Background(), "a", 5); err != nil || len(runs) != 0 {
		t.Fatalf("runs after a dry run: %+v, %v; want none", runs, err)
	}
	// Plan members without dryRun are refused, as by the in-process handler.
	if _, err := f.h.Invoke(context.Background(), []byte(`{"jobId":"a","limit":5}`)); err == nil {
		t.Fatal("limit without dryRun was accepted")
	}
}
