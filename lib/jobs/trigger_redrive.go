package jobs

import (
	"context"

	"github.com/certain-marketo/certain-marketo/lib/store"
)

// What a re-drive reports for a change besides the outcomes a run records.
const (
	RedriveDuplicate = "duplicate" // settled before (triggered, or skipped for good): not run again
	RedriveNoJob     = "no-job"    // the job no longer fires for the change (disabled, statuses or window edited)
)

// triggerRetry is the run trigger of a re-drive.
const triggerRetry = "retry"

// RedriveResult is what re-driving one change did.
type RedriveResult struct {
	Change ChangeMessage
	// Outcome is the change's outcome in the re-drive's run (requested,
	// failed, skipped), or RedriveDuplicate, or RedriveNoJob; "" when Err
	// is set.
	Outcome string
	Reason  string
	Code    string
	RunID   string // the re-drive's run of the job, where the outcome is recorded ("" for a duplicate)
	// Err: the change could not be handled now (another delivery holds it,
	// Certain or Marketo unavailable); nothing was triggered, try again.
	Err error
}

// Redrive runs changes again for one trigger-campaign job: cmctl
// retry-failures, for the changes a run of the job recorded as failed once
// their cause is fixed. Each change is claimed with the same idempotency
// key as a new delivery (ChangeKey), so a change that has been triggered
// since is a duplicate and is never triggered again, a change that failed
// runs once more, and two re-drives at the same time run it once. The
// re-drive is recorded as a run of the job with trigger "retry".
func (t *Trigger) Redrive(ctx context.Context, jobID string, msgs []ChangeMessage) []RedriveResult {
	out := make([]RedriveResult, len(msgs))
	for i, m := range msgs {
		out[i].Change = m
	}
	errs := t.handle(ctx, msgs, groupScope{trigger: triggerRetry, job: jobID, settled: func(msg int, runID string, o store.RecordOutcome) {
		out[msg].Outcome, out[msg].Reason, out[msg].Code, out[msg].RunID = o.Outcome, o.Reason, o.Code, runID
	}})
	for i, err := range errs {
		if err != nil {
			out[i] = RedriveResult{Change: msgs[i], Err: err}
		}
	}
	return out
}
