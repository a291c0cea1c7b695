package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// Executor runs configured jobs. It is safe for concurrent use.
type Executor struct {
	Store     store.Store
	Connector Connector
	Funcs     map[string]JobFunc // by job type
	Now       func() time.Time
	Logger    *slog.Logger
	// Margin is kept free before the invocation deadline: after
	// deadline-Margin no new page or batch starts. Default 30 s, and never
	// more than a sixth of the time left at the start.
	Margin time.Duration
	// NewID returns a new run id; default: time-based with a random suffix.
	NewID func() string
	// Interrupt, when set, reports an external request to stop at the next
	// safe point, as if the soft deadline had passed (an operator's stop, or
	// a test cutting a run at an exact place).
	Interrupt func(jobID string) bool
	// Report receives every finished run: its metrics and, when it ended
	// failed or partial, its notice.
	Report Reporter
	// Queue is the job type's work queue: Dispatch and Enqueue send to it,
	// and a run consumed from it that stops early queues its continuation
	// there (dispatch.go). Tick and RunNow do not use it.
	Queue RunQueue
	// ContinueAfter delays the continuation of a run stopped at the soft
	// deadline (default DefaultContinueAfter).
	ContinueAfter time.Duration
	// BusyRetry is how soon a direct run that found the job running looks
	// again (default DefaultBusyRetry).
	BusyRetry time.Duration
	// Progress, when set, is attached to each run as it starts, for a
	// progress line; nil: none.
	Progress *Progress
}

// TickResult says what one schedule tick did.
type TickResult struct {
	JobType string            `json:"jobType"`
	Ran     []RunSummary      `json:"ran"`
	Skipped map[string]string `json:"skipped,omitempty"` // job id -> why (not due, claimed elsewhere, disabled)
}

// RunSummary is the part of a run record a handler returns.
type RunSummary struct {
	RunID        string         `json:"runId"`
	JobID        string         `json:"jobId"`
	Outcome      string         `json:"outcome"`
	Counts       map[string]int `json:"counts,omitempty"`
	MarketoCalls int            `json:"marketoCalls"`
	CertainCalls int            `json:"certainCalls"`
	Error        string         `json:"error,omitempty"`
}

// env is the executor's clock, logger and run ids.
func (e *Executor) env() runEnv { return runEnv{clock: e.Now, log: e.Logger, ids: e.NewID} }

// Tick runs every enabled job of jobType that is due. It starts no new job
// after the soft deadline.
func (e *Executor) Tick(ctx context.Context, jobType string) (TickResult, error) {
	res := TickResult{JobType: jobType, Skipped: map[string]string{}}
	if _, ok := e.Funcs[jobType]; !ok {
		return res, fmt.Errorf("tick: unknown job type %q", jobType)
	}
	jobs, err := e.Store.ListJobs(ctx, jobType)
	if err != nil {
		return res, fmt.Errorf("tick %s: list jobs: %w", jobType, err)
	}
	soft := e.softDeadline(ctx)
	now := e.env().now
	for _, j := range jobs {
		if !j.Enabled {
			res.Skipped[j.ID] = "disabled"
			continue
		}
		if soft.passed() {
			res.Skipped[j.ID] = "tick deadline reached; next tick"
			continue
		}
		st, err := e.Store.GetJobState(ctx, j.ID)
		if err != nil {
			return res, fmt.Errorf("tick %s: job %q state: %w", jobType, j.ID, err)
		}
		if why := notDue(j, st, now()); why != "" {
			res.Skipped[j.ID] = why
			continue
		}
		run, _, claimed, err := e.claimAndRun(ctx, j, st.Version, "schedule", "")
		if err != nil {
			return res, err
		}
		if !claimed {
			res.Skipped[j.ID] = "claimed by another invocation"
			continue
		}
		res.Ran = append(res.Ran, summarize(run))
	}
	return res, nil
}

// RunNow runs one job now, due or not (a direct invoke). It still claims the
// job, so it never runs alongside a scheduled run of the same job. force
// makes the run ignore delta hashes.
func (e *Executor) RunNow(ctx context.Context, jobID string, force bool) (RunSummary, error) {
	j, err := e.Store.GetJob(ctx, jobID)
	if err != nil {
		return RunSummary{}, fmt.Errorf("run job %q: %w", jobID, err)
	}
	if _, ok := e.Funcs[j.Type]; !ok {
		return RunSummary{}, fmt.Errorf("run job %q: this function does not run jobs of type %q", jobID, j.Type)
	}
	trigger := "direct"
	if force {
		j.Params.ForceFull = true
		trigger = "direct-force"
	}
	st, err := e.Store.GetJobState(ctx, j.ID)
	if err != nil {
		return RunSummary{}, fmt.Errorf("run job %q: state: %w", jobID, err)
	}
	run, _, claimed, err := e.claimAndRun(ctx, j, st.Version, trigger, "")
	if err != nil {
		return summarize(run), err
	}
	if !claimed {
		return RunSummary{}, fmt.Errorf("run job %q: another invocation is running it (lease held until %s)", jobID, st.LeaseUntil.Format(time.RFC3339))
	}
	return summarize(run), nil
}

// notDue returns why a job should not run now, or "" when it is due.
func notDue(j config.Job, st store.JobState, now time.Time) string {
	if st.LeaseUntil.After(now) {
		return "running elsewhere (lease held)"
	}
	if st.NextDue.IsZero() {
		// Never ran: due once the schedule's window has opened.
		s := j.Schedule
		if s.At != nil && now.Before(*s.At) {
			return "run-once time not reached"
		}
		if s.Start != nil && now.Before(*s.Start) {
			return "schedule window not open"
		}
		if s.End != nil && !now.Before(*s.End) {
			return "schedule window closed"
		}
		return ""
	}
	if now.Before(st.NextDue) {
		return "not due until " + st.NextDue.UTC().Format(time.RFC3339)
	}
	return ""
}

// Never is the NextDue of a job whose schedule has no further run.
var never = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// softDeadline is when the executor starts no new job, and a job no new
// page or batch.
func (e *Executor) softDeadline(ctx context.Context) softDeadline {
	return newSoftDeadline(ctx, e.Margin, 30*time.Second)
}

// claimAndRun claims the job at its state's version and, when the claim
// wins, runs it and releases it with its next due time (returned). runID is
// the run's id, or "" for a new one.
func (e *Executor) claimAndRun(ctx context.Context, j config.Job, version int64, trigger, runID string) (store.Run, time.Time, bool, error) {
	env := e.env()
	if runID == "" {
		runID = env.newID()
	}
	now := env.now()
	leaseUntil := now.Add(16 * time.Minute) // longer than any Lambda invocation
	if dl, ok := ctx.Deadline(); ok {
		leaseUntil = dl.Add(time.Minute)
	}
	ok, err := e.Store.ClaimJob(ctx, j.ID, runID, version, leaseUntil, now)
	if err != nil {
		return store.Run{}, time.Time{}, false, fmt.Errorf("claim job %q: %w", j.ID, err)
	}
	if !ok {
		return store.Run{}, time.Time{}, false, nil
	}
	run, resume := e.execute(ctx, j, runID, trigger)
	next := e.nextDue(j, run, resume)
	// The release must land even when ctx is already cancelled.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	// Transient failures are retried by the AWS SDK's own retryer; one that
	// persists leaves the job due again when the lease expires, and the run's
	// delta hashes keep that rerun from sending anything twice.
	if err = e.Store.ReleaseJob(rctx, j.ID, runID, next, run.Outcome); err != nil {
		return run, next, true, fmt.Errorf("release job %q after run %s: %w", j.ID, runID, err)
	}
	return run, next, true, nil
}

// nextDue is when the job runs next: at once after a checkpoint, when the
// quota allows after a 607 (resume: the *QuotaError's ResetAt, which follows
// the connection's quota zone, as the budget's daily count does), else by
// its schedule.
func (e *Executor) nextDue(j config.Job, run store.Run, resume time.Time) time.Time {
	switch run.Outcome {
	case store.RunCheckpointed:
		return run.Finished // continue at the next tick
	case store.RunQuota:
		if resume.After(run.Finished) {
			return resume
		}
		return marketo.DefaultQuotaZone.NextReset(run.Finished)
	}
	if next, ok := j.Schedule.Next(run.Finished); ok {
		return next
	}
	return never
}

func summarize(r store.Run) RunSummary {
	return RunSummary{RunID: r.ID, JobID: r.JobID, Outcome: r.Outcome, Counts: r.Counts,
		MarketoCalls: r.MarketoCalls, CertainCalls: r.CertainCalls, Error: r.Error}
}

// execute runs the job function and records the run. Errors of the job end
// in the run record; only store failures would be lost, and they are logged.
// resume is when a run stopped by the daily quota may go on.
func (e *Executor) execute(ctx context.Context, j config.Job, runID, trigger string) (run store.Run, resume time.Time) {
	env := e.env()
	log := env.logger().With("jobId", j.ID, "runId", runID, "account", j.Account, "event", j.Event, "jobType", j.Type)
	start := store.Run{
		ID: runID, JobID: j.ID, JobType: j.Type, Account: j.Account, Event: j.Event,
		Trigger: trigger, Started: env.now(), Outcome: store.RunRunning, Counts: map[string]int{},
	}
	rec := NewRecorder(e.Store, start)
	if err := e.Store.PutRun(ctx, start); err != nil {
		log.ErrorContext(ctx, "cannot record run start", "error", err)
	}
	rc := &RunContext{Job: j, Store: e.Store, Run: rec, Logger: log, now: env.now, soft: e.softDeadline(ctx), interrupt: e.Interrupt}
	err := e.prepare(ctx, rc)
	prepared := err == nil
	var mBefore, cBefore int
	if err == nil {
		if e.Progress != nil {
			rc.Clients = e.Progress.begin(j, rc.Conn, rec, rc.Clients, env.now)
			defer e.Progress.end()
		}
		mBefore, cBefore = rc.Clients.Marketo.Stats().Calls, rc.Clients.Certain.Stats().Calls
		// The event is read first, and its call counted in the run.
		if err = checkScope(ctx, rc); err == nil {
			err = e.Funcs[j.Type](ctx, rc)
		}
		rec.SetCalls(rc.Clients.Marketo.Stats().Calls-mBefore, rc.Clients.Certain.Stats().Calls-cBefore)
	}
	// Finishing writes must survive the parent context's cancellation.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if ferr := rec.Flush(fctx); ferr != nil {
		log.ErrorContext(fctx, "cannot record per-record outcomes", "error", ferr)
	}
	run = rec.finish(err, env.now())
	var qe *marketo.QuotaError
	if errors.As(err, &qe) {
		resume = qe.ResetAt
	}
	if prepared {
		if merr := e.markForced(fctx, rc, err == nil); merr != nil {
			log.ErrorContext(fctx, "cannot record whether a forced run goes on", "error", merr)
		}
	}
	if err == nil && rc.cpVersion > 0 {
		if derr := e.Store.DeleteCheckpoint(fctx, j.ID, rc.cpVersion); derr != nil && !errors.Is(derr, store.ErrNotFound) {
			log.ErrorContext(fctx, "cannot delete the finished run's checkpoint", "error", derr)
		}
	}
	if perr := e.Store.PutRun(fctx, run); perr != nil {
		log.ErrorContext(fctx, "cannot record run end", "error", perr)
	}
	e.Report.finished(fctx, e.Store, log, run, rec, nil)
	lvl := slog.LevelInfo
	if run.Outcome == store.RunFailed {
		lvl = slog.LevelError
	}
	log.Log(ctx, lvl, "run finished", "outcome", run.Outcome, "counts", run.Counts,
		"marketoCalls", run.MarketoCalls, "certainCalls", run.CertainCalls, "error", run.Error)
	return run, resume
}

// prepare loads the connection, the clients and the checkpoint.
func (e *Executor) prepare(ctx context.Context, rc *RunContext) error {
	conn, err := e.Store.GetConnection(ctx, rc.Job.Account)
	if err != nil {
		return fmt.Errorf("%w: job %q: connection for account %q: %w", ErrConfig, rc.Job.ID, rc.Job.Account, err)
	}
	rc.Conn = conn
	if rc.Clients, err = e.Connector.Connect(ctx, conn); err != nil {
		return fmt.Errorf("job %q: connect account %q: %w", rc.Job.ID, conn.Account, err)
	}
	// A forced run ("resend everything") that outlives one invocation leaves
	// a marker, so that its continuations are forced too.
	m, err := e.Store.GetCheckpoint(ctx, forceMarker(rc.Job.ID))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("job %q: load forced-run marker: %w", rc.Job.ID, err)
	default:
		rc.forceVersion = m.Version
		rc.Job.Params.ForceFull = true
	}
	cp, err := e.Store.GetCheckpoint(ctx, rc.Job.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("job %q: load checkpoint: %w", rc.Job.ID, err)
	case rc.Run.trigger() == "direct-force":
		// A new forced run starts from the beginning, whatever an earlier
		// run left: only the version is kept, to replace its checkpoint.
		rc.cpVersion = cp.Version
	default:
		rc.Checkpoint, rc.cpVersion = cp.Data, cp.Version
		rc.Run.setTrigger("continuation")
	}
	return nil
}

// forceMarker is the checkpoint key marking a forced run still in progress.
func forceMarker(jobID string) string { return jobID + "#forced-run" }

// markForced keeps (forced, unfinished) or clears (finished) the forced-run
// marker after a run.
func (e *Executor) markForced(ctx context.Context, rc *RunContext, finished bool) error {
	switch {
	case finished && rc.forceVersion > 0:
		if err := e.Store.DeleteCheckpoint(ctx, forceMarker(rc.Job.ID), rc.forceVersion); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	case !finished && rc.forceVersion == 0 && rc.Run.trigger() == "direct-force":
		if _, err := e.Store.PutCheckpoint(ctx, forceMarker(rc.Job.ID), store.Checkpoint{RunID: rc.Run.ID(), Data: []byte("{}"), Updated: e.env().now()}, 0); err != nil {
			return err
		}
	}
	return nil
}
