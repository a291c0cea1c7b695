package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/memqueue"
)

// The deployed path of the scheduled jobs (Config.ViaQueue): a step is a
// schedule tick of the job's function, which queues a run message per due
// job on the work queue, then the delivery of every message visible now to
// two consumers at once (two processes of the function, each with its own
// clients, as two Lambda instances), through the real app.JobHandler. A
// run's continuation is delivered at the next step, as its short delay has
// passed by then. A job the tick did not find due (the reruns after the
// faults, when every job has finished) is run by a direct run request, as
// an operator would, through the same queue.

// workQueueVisibility is the template's work queues' visibility timeout.
const workQueueVisibility = 90 * time.Minute

// setupWorkQueue gives the world its work queue and two consumers.
func (w *World) setupWorkQueue() {
	w.Broker = memqueue.NewBroker(w.Clock.Now)
	w.Work = w.Broker.Queue("rel-work")
	w.Work.Visibility = workQueueVisibility
	w.Work.MaxReceives = 10
	wq := &app.WorkQueue{Client: w.Broker, QueueURL: w.Work.URL, Now: w.Clock.Now}
	types := []string{config.TypeImportLeads, config.TypeSyncLeads, config.TypeEngagementMetrics, config.TypeInterestMetrics}
	for _, ex := range []*jobs.Executor{w.Executor, w.Executor2} {
		ex.Queue = wq
		w.Consumers = append(w.Consumers, lambda.NewHandler(app.JobHandler(ex, wq, w.Logger, types...)))
	}
}

// runViaQueue runs one step of the given jobs through the work queue and
// returns each job's outcome: its last run's, "waiting" when none ran, or
// "crashed" when a process died.
func (w *World) runViaQueue(ctx context.Context, jobIDs ...string) ([]string, error) {
	before := w.observe()
	seen := map[string]bool{}
	for _, id := range jobIDs {
		for _, r := range w.listRuns(id) {
			seen[r.ID] = true
		}
	}
	outs := make([]string, len(jobIDs))
	crashed := func() ([]string, error) {
		for i := range outs {
			outs[i] = "crashed"
		}
		return outs, nil
	}
	var types []string
	for _, id := range jobIDs {
		if t := w.jobByID(id).Type; !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	for _, typ := range types {
		tick := fmt.Sprintf(`{"jobType":%q,"scheduledTime":%q}`, typ, w.Clock.Now().UTC().Format(time.RFC3339))
		if _, err := w.Consumers[0].Invoke(ctx, []byte(tick)); err != nil {
			return nil, fmt.Errorf("tick %s: %w", typ, err)
		}
	}
	if err := w.deliverWork(ctx); err != nil || w.Store.Crashed() {
		if w.Store.Crashed() {
			return crashed()
		}
		return nil, err
	}
	// A job the tick left alone (not due, not running) runs on request.
	direct := false
	for _, id := range jobIDs {
		if !w.ranSince(id, seen) && !w.leased(id) {
			if _, err := w.Consumers[0].Invoke(ctx, fmt.Appendf(nil, `{"jobId":%q}`, id)); err != nil {
				return nil, fmt.Errorf("direct run of %s: %w", id, err)
			}
			direct = true
		}
	}
	if direct {
		if err := w.deliverWork(ctx); err != nil || w.Store.Crashed() {
			if w.Store.Crashed() {
				return crashed()
			}
			return nil, err
		}
	}
	runs, err := w.stepRuns(ctx, jobIDs, seen, outs)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.runs = append(w.runs, runs...)
	w.mu.Unlock()
	w.addViolations(checkRunTruth(w, runs, before, w.observe())...)
	return outs, nil
}

// stepRuns returns the runs of the jobs not in seen and sets each job's
// outcome: its last claimed run's, or "waiting" when none ran.
func (w *World) stepRuns(ctx context.Context, jobIDs []string, seen map[string]bool, outs []string) ([]store.Run, error) {
	var runs []store.Run
	for i, id := range jobIDs {
		for _, r := range w.listRuns(id) {
			if !seen[r.ID] {
				runs = append(runs, r)
			}
		}
		st, err := w.Mem.GetJobState(ctx, id)
		if err != nil {
			return nil, err
		}
		outs[i] = "waiting"
		if st.LastRunID != "" && !seen[st.LastRunID] {
			r, err := w.Mem.GetRun(ctx, st.LastRunID)
			if err != nil {
				return nil, fmt.Errorf("run %s: %w", st.LastRunID, err)
			}
			outs[i] = r.Outcome
		}
	}
	return runs, nil
}

// deliverWork hands every message visible on the work queue to the two
// consumers, one message per invocation, until none is visible. A process
// that dies (the store refusing writes) settles nothing: its message comes
// back after the visibility timeout, as SQS would do.
func (w *World) deliverWork(ctx context.Context) error {
	var dead atomic.Bool
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, h := range w.Consumers {
		wg.Go(func() {
			for !dead.Load() {
				ev := w.Work.Receive(1)
				if len(ev.Records) == 0 {
					return
				}
				raw, err := json.Marshal(ev)
				if err != nil {
					panic(err)
				}
				out, err := h.Invoke(ctx, raw)
				if w.Store.Crashed() {
					dead.Store(true)
					return
				}
				var resp events.SQSEventResponse
				if err == nil {
					err = json.Unmarshal(out, &resp)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("the job function answered a batch with an error: %w", err))
					mu.Unlock()
					return
				}
				w.Work.Settle(ev, resp)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (w *World) listRuns(jobID string) []store.Run {
	runs, err := w.Mem.ListRuns(context.Background(), jobID, 1000)
	if err != nil {
		w.T.Fatalf("reliability: runs of %s: %v", jobID, err)
	}
	return runs
}

func (w *World) ranSince(jobID string, seen map[string]bool) bool {
	for _, r := range w.listRuns(jobID) {
		if !seen[r.ID] {
			return true
		}
	}
	return false
}

func (w *World) leased(jobID string) bool {
	st, err := w.Mem.GetJobState(context.Background(), jobID)
	return err == nil && st.LeaseUntil.After(w.Clock.Now())
}

// DuplicateRunMessages delivers every run message the product sends three
// times (SQS's at-least-once delivery, and a dispatcher tick retried by
// the scheduler), to the two consumers at once.
func DuplicateRunMessages() Fault {
	return Fault{Name: "duplicate run messages",
		Setup: func(w *World) {
			wrapOnSend(w, func(string) int {
				w.Net.Note("run message duplicated", 2)
				return 3
			})
		}}
}

// wrapOnSend adds f to what the work queue does with a sent message (the
// copies multiply), so that faults combine; a world without a work queue
// is left alone.
func wrapOnSend(w *World, f func(body string) int) {
	if w.Work == nil {
		return
	}
	prev := w.Work.OnSend
	w.Work.OnSend = func(body string) int {
		n := 1
		if prev != nil {
			n = prev(body)
		}
		if n == 0 {
			return 0
		}
		return n * f(body)
	}
}

// LostContinuation stops every job early in its first invocations (as
// Deadline does) and loses every continuation message the stopped runs
// queue: the next schedule tick finds the job due and continues it.
func LostContinuation() Fault {
	d := Deadline()
	return Fault{Name: "lost continuation",
		Setup: func(w *World) {
			wrapOnSend(w, func(body string) int {
				if m, err := jobs.DecodeRun([]byte(body)); err == nil && m.Kind == jobs.RunKindContinuation {
					w.Net.Note("continuation lost", 1)
					return 0
				}
				return 1
			})
		},
		Before: d.Before}
}

// CrashAfterClaim kills the consumer right after its claim on the job won,
// in the first invocation of every step: no run record, no release; the
// lease expires and the message stays hidden for the queue's visibility
// timeout, and the next tick after the lease runs the job.
func CrashAfterClaim() Fault {
	var armed atomic.Bool
	return Fault{Name: "consumer crash after claim",
		Setup: func(w *World) {
			w.Store.SetAfterClaim(func(string) {
				if armed.CompareAndSwap(true, false) {
					w.Store.Crash()
					w.CancelRun()
					w.Net.Note("crash after claim", 1)
				}
			})
		},
		Before: func(_ *World, _ string, attempt int) { armed.Store(attempt == 0) }}
}
