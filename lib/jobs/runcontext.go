package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// JobFunc runs one job. It returns nil when the job finished (per-record
// failures are outcomes, not errors), ErrCheckpointed when it stopped at the
// soft deadline, or an error (a *marketo.QuotaError stops the run until the
// quota resets).
type JobFunc func(ctx context.Context, rc *RunContext) error

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

// RunContext is what a job function gets.
type RunContext struct {
	Job        config.Job
	Conn       config.Connection
	Clients    Clients
	Store      store.Store
	Run        *Recorder
	Logger     *slog.Logger
	Checkpoint []byte // the previous run's checkpoint, nil when starting fresh
	// Event is the job's event as Certain answered it before the job ran
	// (checkScope); zero for an account-level job.
	Event certain.Event

	cpVersion    int64
	forceVersion int64 // version of the forced-run marker, 0 when none
	now          func() time.Time
	soft         softDeadline
	interrupt    func(jobID string) bool
	leadIDs      *leadIDCache // what Marketo said this run about stored lead ids
	leadIDsOnce  sync.Once
	// leadSchema is the lead describe once a part of the run has read it,
	// so the run reads it once (convert.go).
	schemaMu   sync.Mutex
	leadSchema leadSchema
	describing callLock // held by the batch reading the describe for the run
	// writeBackTurns makes the run's batches hand their Certain
	// write-backs out one batch after the other, in the order they came,
	// instead of all at once (leads.go writeBacks; the metrics jobs set
	// it); writingBack is held by the batch handing them out.
	writeBackTurns bool
	writingBack    callLock
}

// leadIDCache is what Marketo said this run about stored lead ids, shared
// by the run's batches (made on first use).
func (rc *RunContext) leadIDCache() *leadIDCache {
	rc.leadIDsOnce.Do(func() {
		if rc.leadIDs == nil {
			rc.leadIDs = newLeadIDCache()
		}
	})
	return rc.leadIDs
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
	v, err := rc.Store.PutCheckpoint(sctx, rc.Job.ID, store.Checkpoint{RunID: rc.Run.ID(), Data: data, Updated: rc.now()}, rc.cpVersion)
	if err != nil {
		return fmt.Errorf("job %q: save checkpoint: %w", rc.Job.ID, err)
	}
	rc.cpVersion = v
	return nil
}

// checkScope reads the job's event (or, for an account-level job, checks
// its account) before the job does anything. Certain answers 404 both for
// an empty search and for an unknown event or account, so without this a
// mistyped event code would run as an event without registrations and
// "succeed" with nothing done; with it, the run fails with a configuration
// error naming the event.
func checkScope(ctx context.Context, rc *RunContext) error {
	ct, j := rc.Clients.Certain, rc.Job
	if j.Event == "" {
		err := ct.CheckAccount(ctx, j.Account)
		switch {
		case errors.Is(err, certain.ErrNoAccount):
			return Configf("job %q: account %q not found in Certain (check the account of the job and of its connection): %v", j.ID, j.Account, err)
		case err != nil:
			return fmt.Errorf("job %q: check account %q: %w", j.ID, j.Account, err)
		}
		return nil
	}
	ev, err := ct.GetEvent(ctx, j.Account, j.Event)
	switch {
	case certain.IsNotFound(err):
		return Configf("job %q: event %q not found in Certain account %q (Certain answers 404 for an unknown event or account): %v", j.ID, j.Event, j.Account, err)
	case err != nil:
		return fmt.Errorf("job %q: read event %s/%s: %w", j.ID, j.Account, j.Event, err)
	}
	rc.Event = ev
	return nil
}
