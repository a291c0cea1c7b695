package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// ErrCheckpointed is returned by a job function that stopped at the soft
// deadline after saving its checkpoint.
var ErrCheckpointed = errors.New("stopped at the soft deadline; checkpoint saved")

// ErrConfig marks configuration errors found at the start of a run (unknown
// list, unknown Marketo field, missing custom object...): nothing was written.
var ErrConfig = errors.New("configuration error")

// Configf returns an error wrapping ErrConfig.
func Configf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}

// Clients are the per-account API clients a run uses.
type Clients struct {
	Marketo Marketo
	Certain Certain
}

// Connector builds (or returns cached) clients for a connection.
type Connector interface {
	Connect(ctx context.Context, conn config.Connection) (Clients, error)
}

// JobFunc runs one job. It returns nil when the job finished (per-record
// failures are outcomes, not errors), ErrCheckpointed when it stopped at the
// soft deadline, or an error (a *marketo.QuotaError stops the run until the
// quota resets).
type JobFunc func(ctx context.Context, rc *RunContext) error

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
	// Metrics, when set, receives one CloudWatch EMF line per finished run
	// (os.Stdout in Lambda).
	Metrics io.Writer
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
		sum, claimed, err := e.claimAndRun(ctx, j, st.Version, "schedule")
		if err != nil {
			return res, err
		}
		if !claimed {
			res.Skipped[j.ID] = "claimed by another invocation"
			continue
		}
		res.Ran = append(res.Ran, sum)
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
	sum, claimed, err := e.claimAndRun(ctx, j, st.Version, trigger)
	if err != nil {
		return sum, err
	}
	if !claimed {
		return sum, fmt.Errorf("run job %q: another invocation is running it (lease held until %s)", jobID, st.LeaseUntil.Format(time.RFC3339))
	}
	return sum, nil
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

func (e *Executor) claimAndRun(ctx context.Context, j config.Job, version int64, trigger string) (RunSummary, bool, error) {
	env := e.env()
	runID := env.newID()
	now := env.now()
	leaseUntil := now.Add(16 * time.Minute) // longer than any Lambda invocation
	if dl, ok := ctx.Deadline(); ok {
		leaseUntil = dl.Add(time.Minute)
	}
	ok, err := e.Store.ClaimJob(ctx, j.ID, runID, version, leaseUntil, now)
	if err != nil {
		return RunSummary{}, false, fmt.Errorf("claim job %q: %w", j.ID, err)
	}
	if !ok {
		return RunSummary{}, false, nil
	}
	run := e.execute(ctx, j, runID, trigger)
	next := e.nextDue(j, run)
	// The release must land even when ctx is already cancelled.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	// Transient failures are retried by the AWS SDK's own retryer; one that
	// persists leaves the job due again when the lease expires, and the run's
	// delta hashes keep that rerun from sending anything twice.
	if err = e.Store.ReleaseJob(rctx, j.ID, runID, next, run.Outcome); err != nil {
		return summarize(run), true, fmt.Errorf("release job %q after run %s: %w", j.ID, runID, err)
	}
	return summarize(run), true, nil
}

func (e *Executor) nextDue(j config.Job, run store.Run) time.Time {
	switch run.Outcome {
	case store.RunCheckpointed:
		return run.Finished // continue at the next tick
	case store.RunQuota:
		return marketo.NextDailyReset(run.Finished, marketo.ChicagoLocation())
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
func (e *Executor) execute(ctx context.Context, j config.Job, runID, trigger string) store.Run {
	env := e.env()
	log := env.logger().With("jobId", j.ID, "runId", runID, "account", j.Account, "event", j.Event, "jobType", j.Type)
	rec := &Recorder{store: e.Store, run: store.Run{
		ID: runID, JobID: j.ID, JobType: j.Type, Account: j.Account, Event: j.Event,
		Trigger: trigger, Started: env.now(), Outcome: store.RunRunning, Counts: map[string]int{},
	}}
	if err := e.Store.PutRun(ctx, rec.run); err != nil {
		log.ErrorContext(ctx, "cannot record run start", "error", err)
	}
	rc := &RunContext{Job: j, Store: e.Store, Run: rec, Logger: log, now: env.now, soft: e.softDeadline(ctx), interrupt: e.Interrupt}
	err := e.prepare(ctx, rc)
	prepared := err == nil
	var mBefore, cBefore int
	if err == nil {
		mBefore, cBefore = rc.Clients.Marketo.Stats().Calls, rc.Clients.Certain.Stats().Calls
		err = e.Funcs[j.Type](ctx, rc)
		rec.run.MarketoCalls = rc.Clients.Marketo.Stats().Calls - mBefore
		rec.run.CertainCalls = rc.Clients.Certain.Stats().Calls - cBefore
	}
	// Finishing writes must survive the parent context's cancellation.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if ferr := rec.Flush(fctx); ferr != nil {
		log.ErrorContext(fctx, "cannot record per-record outcomes", "error", ferr)
	}
	run := rec.finish(err, env.now())
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
	if merr := EmitRunMetrics(e.Metrics, run); merr != nil {
		log.ErrorContext(fctx, "cannot emit run metrics", "error", merr)
	}
	lvl := slog.LevelInfo
	if run.Outcome == store.RunFailed {
		lvl = slog.LevelError
	}
	log.Log(ctx, lvl, "run finished", "outcome", run.Outcome, "counts", run.Counts,
		"marketoCalls", run.MarketoCalls, "certainCalls", run.CertainCalls, "error", run.Error)
	return run
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
	case rc.Run.run.Trigger == "direct-force":
		// A new forced run starts from the beginning, whatever an earlier
		// run left: only the version is kept, to replace its checkpoint.
		rc.cpVersion = cp.Version
	default:
		rc.Checkpoint, rc.cpVersion = cp.Data, cp.Version
		rc.Run.run.Trigger = "continuation"
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
	case !finished && rc.forceVersion == 0 && rc.Run.run.Trigger == "direct-force":
		if _, err := e.Store.PutCheckpoint(ctx, forceMarker(rc.Job.ID), store.Checkpoint{RunID: rc.Run.run.ID, Data: []byte("{}"), Updated: e.env().now()}, 0); err != nil {
			return err
		}
	}
	return nil
}

// RunContext is what a job function gets.
type RunContext struct {
	Job        config.Job
	Conn       config.Connection
	Clients    Clients
	Store      store.Store
	Run        *Recorder
	Logger     *slog.Logger
	Checkpoint []byte // the previous run's checkpoint, nil when starting fresh

	cpVersion    int64
	forceVersion int64 // version of the forced-run marker, 0 when none
	now          func() time.Time
	soft         softDeadline
	interrupt    func(jobID string) bool
}

// Now is the executor's clock.
func (rc *RunContext) Now() time.Time { return rc.now() }

// ShouldStop reports whether the job must stop starting new work: the soft
// deadline has passed or ctx is done.
func (rc *RunContext) ShouldStop(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	if rc.interrupt != nil && rc.interrupt(rc.Job.ID) {
		return true
	}
	return rc.soft.passed()
}

// SaveCheckpoint stores the job's progress. It survives the cancellation of
// ctx. A conflicting write (another run moved the checkpoint) is an error:
// two runs of one job must never interleave.
func (rc *RunContext) SaveCheckpoint(ctx context.Context, data []byte) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	v, err := rc.Store.PutCheckpoint(sctx, rc.Job.ID, store.Checkpoint{RunID: rc.Run.run.ID, Data: data, Updated: rc.now()}, rc.cpVersion)
	if err != nil {
		return fmt.Errorf("job %q: save checkpoint: %w", rc.Job.ID, err)
	}
	rc.cpVersion = v
	return nil
}

// Recorder collects a run's counts and per-record outcomes; safe for
// concurrent use by a job's workers.
type Recorder struct {
	store store.Runs
	mu    sync.Mutex
	run   store.Run
	buf   []store.RecordOutcome
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
// Unchanged records (delta skips) are counted but not kept one by one.
func (r *Recorder) Record(o store.RecordOutcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.run.Counts[o.Outcome]++
	if o.Outcome != store.OutcomeUnchanged {
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

// ID is the run id.
func (r *Recorder) ID() string { return r.run.ID }

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
