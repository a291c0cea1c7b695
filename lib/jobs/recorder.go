package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// Recorder collects a run's counts and per-record outcomes; safe for
// concurrent use by a job's workers.
type Recorder struct {
	store store.Runs
	mu    sync.Mutex
	run   store.Run
	buf   []store.RecordOutcome
	// kept counts the outcomes buffered or handed to the store: past
	// store.MaxOutcomesPerRun the store keeps none, so they are only
	// counted (run.OutcomesDropped) and the run's memory does not grow
	// with the records it handles.
	kept  int
	fails failTally // failed records by code and reason, for metrics and the notice
}

// NewRecorder returns a recorder for a run that is not driven by Executor
// (trigger-campaign's SQS batches, the change detector).
func NewRecorder(s store.Runs, run store.Run) *Recorder {
	if run.Counts == nil {
		run.Counts = map[string]int{}
	}
	return &Recorder{store: s, run: run}
}

// Record counts one per-record outcome and keeps it for the run record.
// Unchanged records (delta skips) are counted but not kept one by one;
// past store.MaxOutcomesPerRun outcomes are counted as dropped, as the
// store would drop them.
func (r *Recorder) Record(o store.RecordOutcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.run.Counts[o.Outcome]++
	if o.Outcome == store.OutcomeFailed {
		r.fails.add(o.Code, o.Reason)
	}
	switch {
	case o.Outcome == store.OutcomeUnchanged:
	case r.kept >= store.MaxOutcomesPerRun:
		r.run.OutcomesDropped++
	default:
		r.kept++
		r.buf = append(r.buf, o)
	}
}

// Add adds n to a named count ("profilesCreated", ...).
func (r *Recorder) Add(name string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.run.Counts[name] += n
}

// Counts returns a copy of the counts so far.
func (r *Recorder) Counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.run.Counts))
	for k, v := range r.run.Counts {
		out[k] = v
	}
	return out
}

// failures returns the failed records so far by code, and the n most
// frequent failure reasons.
func (r *Recorder) failures(n int) (byCode map[string]int, top []FailureReason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fails.codes(), r.fails.top(n)
}

// ID is the run id.
func (r *Recorder) ID() string { return r.run.ID }

// SetCalls records the Marketo and Certain calls the run spent.
func (r *Recorder) SetCalls(marketo, certain int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.run.MarketoCalls, r.run.CertainCalls = marketo, certain
}

// trigger is what started the run ("schedule", "direct", "sqs", ...).
func (r *Recorder) trigger() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.run.Trigger
}

// setTrigger renames what started the run: a scheduled run that continues a
// checkpoint is recorded as a continuation.
func (r *Recorder) setTrigger(t string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.run.Trigger = t
}

// Flush writes the buffered outcomes to the store.
func (r *Recorder) Flush(ctx context.Context) error {
	r.mu.Lock()
	buf := r.buf
	r.buf = nil
	r.mu.Unlock()
	if len(buf) == 0 {
		return nil
	}
	dropped, err := r.store.AddOutcomes(ctx, r.run.ID, buf)
	r.mu.Lock()
	r.run.OutcomesDropped += dropped
	r.mu.Unlock()
	if err != nil {
		return fmt.Errorf("run %s: add %d outcomes: %w", r.run.ID, len(buf), err)
	}
	return nil
}

// finish sets the outcome from the job's error and returns the final record.
func (r *Recorder) finish(err error, now time.Time) store.Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	run := r.run
	run.Finished = now
	run.Counts = make(map[string]int, len(r.run.Counts))
	for k, v := range r.run.Counts {
		run.Counts[k] = v
	}
	switch {
	case err == nil && run.Counts[store.OutcomeFailed] > 0:
		run.Outcome = store.RunPartial
	case err == nil:
		run.Outcome = store.RunSucceeded
	case errors.Is(err, ErrCheckpointed):
		run.Outcome = store.RunCheckpointed
	case errors.Is(err, marketo.ErrDailyQuota):
		run.Outcome = store.RunQuota
		run.Error = err.Error()
	default:
		run.Outcome = store.RunFailed
		run.Error = err.Error()
	}
	return run
}

// Finish records the end of a run not driven by Executor.
func (r *Recorder) Finish(ctx context.Context, err error, now time.Time) (store.Run, error) {
	ferr := r.Flush(ctx)
	run := r.finish(err, now)
	if perr := r.store.PutRun(ctx, run); perr != nil {
		return run, errors.Join(ferr, fmt.Errorf("run %s: record end: %w", run.ID, perr))
	}
	return run, ferr
}
