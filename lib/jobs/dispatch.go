package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// The fan-out of scheduled jobs (docs/architecture.md §7): a schedule tick
// only dispatches (Dispatch sends one RunMessage per due job to the job
// type's work queue), and the job type's function consumes the queue, one
// job per message (Consume). A run that stops early queues its own
// continuation. Direct runs are queued too (Enqueue).

// DefaultContinueAfter is how long a run stopped at the soft deadline waits
// before its continuation is delivered.
const DefaultContinueAfter = 2 * time.Second

// DefaultBusyRetry is how long a direct run waits for a run of the same job
// that holds its lease before it looks again.
const DefaultBusyRetry = 30 * time.Second

// dispatchReads bounds the job states a dispatcher reads at once.
const dispatchReads = 16

// DispatchResult says what one schedule tick did.
type DispatchResult struct {
	JobType string            `json:"jobType"`
	Queued  []string          `json:"queued"`
	Skipped map[string]string `json:"skipped,omitempty"` // job id -> why (not due, running, disabled, not queued)
}

func (e *Executor) continueAfter() time.Duration {
	if e.ContinueAfter > 0 {
		return e.ContinueAfter
	}
	return DefaultContinueAfter
}

func (e *Executor) busyRetry() time.Duration {
	if e.BusyRetry > 0 {
		return e.BusyRetry
	}
	return DefaultBusyRetry
}

// Dispatch sends one schedule message per enabled, due job of jobType to
// the work queue, and nothing else: the runs happen in the consumers. A job
// whose lease is held is running and is left alone (its run continues or
// reschedules itself). The error names the jobs that could not be queued;
// the next tick queues them again (a copy queued twice is harmless).
func (e *Executor) Dispatch(ctx context.Context, jobType string) (DispatchResult, error) {
	res := DispatchResult{JobType: jobType, Queued: []string{}, Skipped: map[string]string{}}
	if _, ok := e.Funcs[jobType]; !ok {
		return res, fmt.Errorf("dispatch: unknown job type %q", jobType)
	}
	if e.Queue == nil {
		return res, errors.New("dispatch: no work queue")
	}
	all, err := e.Store.ListJobs(ctx, jobType)
	if err != nil {
		return res, fmt.Errorf("dispatch %s: list jobs: %w", jobType, err)
	}
	now := e.env().now()
	due, err := e.dueJobs(ctx, all, now, res.Skipped)
	if err != nil {
		return res, fmt.Errorf("dispatch %s: %w", jobType, err)
	}
	if len(due) == 0 {
		return res, nil
	}
	sent, serr := e.Queue.SendRuns(ctx, due, 0)
	for i, m := range due {
		if i < len(sent) && sent[i] {
			res.Queued = append(res.Queued, m.JobID)
		} else {
			res.Skipped[m.JobID] = "not queued; the next tick tries again"
		}
	}
	if serr != nil {
		return res, fmt.Errorf("dispatch %s: queued %d of %d due jobs: %w", jobType, len(res.Queued), len(due), serr)
	}
	return res, nil
}

// dueJobs reads the states of the enabled jobs (a few at a time) and
// returns a schedule message for each one that is due; the others are
// noted in skipped.
func (e *Executor) dueJobs(ctx context.Context, all []config.Job, now time.Time, skipped map[string]string) ([]RunMessage, error) {
	var mu sync.Mutex
	var due []RunMessage
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(dispatchReads)
	for _, j := range all {
		if !j.Enabled {
			skipped[j.ID] = "disabled"
			continue
		}
		g.Go(func() error {
			st, err := e.Store.GetJobState(gctx, j.ID)
			if err != nil {
				return fmt.Errorf("job %q state: %w", j.ID, err)
			}
			why := notDue(j, st, now)
			mu.Lock()
			defer mu.Unlock()
			if why != "" {
				skipped[j.ID] = why
				return nil
			}
			at := st.NextDue
			if at.IsZero() || at.After(now) {
				at = now
			}
			due = append(due, RunMessage{Version: RunVersion, JobID: j.ID, Kind: RunKindSchedule, Due: at})
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// In the order the store listed them (the reads finish in any order),
	// then one account's jobs after another's in turn.
	pos, account := map[string]int{}, map[string]string{}
	for i, j := range all {
		pos[j.ID], account[j.ID] = i, j.Account
	}
	slices.SortFunc(due, func(a, b RunMessage) int { return pos[a.JobID] - pos[b.JobID] })
	return interleave(due, 1, func(m RunMessage) string { return account[m.JobID] }), nil
}

// interleave orders items so that consecutive runs of up to n items
// belong to different accounts where it can: the first n items of every
// account (in order of first appearance), then the next n of every
// account, and so on; each account's items keep their order. The consumers
// take a queue's messages about in the order they were sent, so K
// consumers start on K accounts' work (K Marketo instances' or Certain
// accounts' budgets) instead of all waiting on the first account's budget
// while the others' stay unused; n is the consumers' batch size, so that
// one batch is one account's.
func interleave[T any](items []T, n int, account func(T) string) []T {
	var order []string
	by := map[string][]T{}
	for _, it := range items {
		a := account(it)
		if _, ok := by[a]; !ok {
			order = append(order, a)
		}
		by[a] = append(by[a], it)
	}
	out := make([]T, 0, len(items))
	for from := 0; len(out) < len(items); from += n {
		for _, a := range order {
			if from < len(by[a]) {
				out = append(out, by[a][from:min(from+n, len(by[a]))]...)
			}
		}
	}
	return out
}

// Enqueue queues a direct run of one job (due or not) and returns its
// message: the run will be recorded under m.RunID, which a caller can wait
// for (cmctl run reads that run record). force makes the run ignore delta
// hashes.
func (e *Executor) Enqueue(ctx context.Context, jobID string, force bool) (RunMessage, error) {
	j, err := e.Store.GetJob(ctx, jobID)
	if err != nil {
		return RunMessage{}, fmt.Errorf("run job %q: %w", jobID, err)
	}
	if _, ok := e.Funcs[j.Type]; !ok {
		return RunMessage{}, fmt.Errorf("run job %q: this function does not run jobs of type %q", jobID, j.Type)
	}
	if e.Queue == nil {
		return RunMessage{}, errors.New("run job: no work queue")
	}
	env := e.env()
	now := env.now()
	m := RunMessage{Version: RunVersion, JobID: j.ID, Kind: RunKindDirect, Due: now, RunID: env.newID(), Force: force}
	sent, err := e.Queue.SendRuns(ctx, []RunMessage{m}, 0)
	if err == nil && (len(sent) != 1 || !sent[0]) {
		err = errors.New("the queue did not accept the message")
	}
	if err != nil {
		return m, fmt.Errorf("run job %q: queue the run: %w", jobID, err)
	}
	return m, nil
}

// Consumed says what consuming one run message did.
type Consumed struct {
	JobID string `json:"jobId"`
	Kind  string `json:"kind"`
	// Ran is the run, when one ran.
	Ran *RunSummary `json:"ran,omitempty"`
	// Skipped says why nothing ran (a duplicate, not due, disabled, running
	// elsewhere).
	Skipped string `json:"skipped,omitempty"`
	// RetryAt, when set, asks for the message to be delivered again at
	// that time (a continuation waiting for the daily quota's reset, a
	// direct run waiting for the job's other run to end).
	RetryAt time.Time `json:"retryAt,omitzero"`
	// Continued says when the run's continuation was queued for.
	Continued time.Time `json:"continued,omitzero"`
}

// Consume handles one run message: it runs the job when the message still
// calls for a run and the job's claim is won, and queues the continuation
// of a run that stopped early. Nothing runs twice: a copy delivered again,
// or a message the job has moved past, is acknowledged without a run. An
// error means the message must be delivered again (a store or queue
// failure before anything ran, or a job type this function does not run).
func (e *Executor) Consume(ctx context.Context, m RunMessage) (Consumed, error) {
	c := Consumed{JobID: m.JobID, Kind: m.Kind}
	j, err := e.Store.GetJob(ctx, m.JobID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		c.Skipped = "job not configured (deleted since it was queued)"
		return c, nil
	case err != nil:
		return c, fmt.Errorf("run message for job %q: %w", m.JobID, err)
	}
	if _, ok := e.Funcs[j.Type]; !ok {
		return c, fmt.Errorf("run message for job %q: this function does not run jobs of type %q (a message on the wrong queue)", j.ID, j.Type)
	}
	if m.Kind == RunKindDirect {
		return e.consumeDirect(ctx, j, m)
	}
	if !j.Enabled {
		c.Skipped = "disabled"
		return c, nil
	}
	st, err := e.Store.GetJobState(ctx, j.ID)
	if err != nil {
		return c, fmt.Errorf("run message for job %q: state: %w", j.ID, err)
	}
	now := e.env().now()
	if why := notDue(j, st, now); why != "" {
		c.Skipped = why
		// A continuation the job still expects waits for its time (the
		// quota's reset); any other message the job has moved past is done.
		if m.Kind == RunKindContinuation && sameInstant(st.NextDue, m.Due) && st.NextDue.After(now) && !st.LeaseUntil.After(now) {
			c.RetryAt = st.NextDue
		}
		return c, nil
	}
	run, next, claimed, err := e.claimAndRun(ctx, j, st.Version, "schedule", "")
	return e.afterRun(ctx, c, j, run, next, claimed, err)
}

// consumeDirect runs a direct message under its run id, once: a copy whose
// run exists is a duplicate, unless that run died with the invocation that
// ran it (then the job runs again under a new id).
func (e *Executor) consumeDirect(ctx context.Context, j config.Job, m RunMessage) (Consumed, error) {
	c := Consumed{JobID: m.JobID, Kind: m.Kind}
	env := e.env()
	st, err := e.Store.GetJobState(ctx, j.ID)
	if err != nil {
		return c, fmt.Errorf("run message for job %q: state: %w", j.ID, err)
	}
	now := env.now()
	leased := st.LeaseUntil.After(now)
	runID := m.RunID
	prev, err := e.Store.GetRun(ctx, m.RunID)
	switch {
	case err == nil && (prev.Outcome != store.RunRunning || leased && st.LeaseOwner == m.RunID):
		c.Skipped = fmt.Sprintf("duplicate: run %s is %s", m.RunID, prev.Outcome)
		return c, nil
	case err == nil:
		runID = env.newID()
		env.logger().WarnContext(ctx, "a direct run ended with its invocation before it finished; running the job again",
			"jobId", j.ID, "runId", m.RunID, "newRunId", runID)
	case !errors.Is(err, store.ErrNotFound):
		return c, fmt.Errorf("run message for job %q: run %s: %w", j.ID, m.RunID, err)
	}
	if leased {
		c.Skipped = fmt.Sprintf("job busy: run %s holds it until %s", st.LeaseOwner, st.LeaseUntil.UTC().Format(time.RFC3339))
		c.RetryAt = minTime(st.LeaseUntil, now.Add(e.busyRetry()))
		return c, nil
	}
	trigger := "direct"
	if m.Force {
		j.Params.ForceFull = true
		trigger = "direct-force"
	}
	run, next, claimed, err := e.claimAndRun(ctx, j, st.Version, trigger, runID)
	if err == nil && !claimed {
		// Lost to another claimant: a copy of this message, or another run.
		if st2, serr := e.Store.GetJobState(ctx, j.ID); serr == nil && st2.LeaseOwner == runID {
			c.Skipped = "duplicate: run " + runID + " is running"
			return c, nil
		}
		c.Skipped = "job busy: claimed by another invocation"
		c.RetryAt = now.Add(e.busyRetry())
		return c, nil
	}
	return e.afterRun(ctx, c, j, run, next, claimed, err)
}

// afterRun completes c from a claimAndRun and queues the continuation of a
// run that stopped early.
func (e *Executor) afterRun(ctx context.Context, c Consumed, j config.Job, run store.Run, next time.Time, claimed bool, err error) (Consumed, error) {
	log := e.env().logger().With("jobId", j.ID, "jobType", j.Type)
	switch {
	case err != nil && !claimed:
		return c, err
	case !claimed:
		c.Skipped = "claimed by another invocation"
		return c, nil
	}
	sum := summarize(run)
	c.Ran = &sum
	if err != nil {
		// The run happened but its lease could not be released: it
		// expires, and the next tick finds the job due.
		log.ErrorContext(ctx, "run done but its lease not released; the job is due again when the lease expires", "runId", run.ID, "error", err)
		return c, nil
	}
	if run.Outcome != store.RunCheckpointed && run.Outcome != store.RunQuota {
		return c, nil
	}
	now := e.env().now()
	delay := e.continueAfter()
	if run.Outcome == store.RunQuota {
		delay = next.Sub(now)
	}
	delay = min(max(delay, 0), MaxQueueDelay)
	cont := RunMessage{Version: RunVersion, JobID: j.ID, Kind: RunKindContinuation, Due: next}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	sent, serr := e.Queue.SendRuns(sctx, []RunMessage{cont}, delay)
	if serr == nil && (len(sent) != 1 || !sent[0]) {
		serr = errors.New("the queue did not accept the message")
	}
	if serr != nil {
		// Not lost: the job is due at next, and the tick after that queues it.
		log.Log(ctx, slog.LevelWarn, "continuation not queued; the next schedule tick continues the run",
			"runId", run.ID, "due", next, "error", serr)
		return c, nil
	}
	c.Continued = now.Add(delay)
	return c, nil
}

// sameInstant compares times that went through JSON and the store (which
// keeps milliseconds).
func sameInstant(a, b time.Time) bool {
	d := a.Sub(b)
	return d > -time.Second && d < time.Second
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Stopping reports whether the invocation is too close to its deadline (or
// done) to start another run: a consumer given several messages reports
// the rest for redelivery.
func (e *Executor) Stopping(ctx context.Context) bool { return e.softDeadline(ctx).reached(ctx) }
