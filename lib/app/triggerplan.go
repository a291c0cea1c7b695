package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

// Planner plans one job (*jobs.Trigger, *jobs.Executor).
type Planner interface {
	Plan(ctx context.Context, jobID string, o jobs.PlanOptions) (jobs.Plan, error)
}

// hasRecords reports whether a payload is an SQS event (a "Records"
// member), which no invocation payload has.
func hasRecords(raw json.RawMessage) bool {
	var probe struct {
		Records json.RawMessage `json:"Records"`
	}
	return json.Unmarshal(raw, &probe) == nil && probe.Records != nil
}

// TriggerHandler is the trigger-campaign Lambda handler: an SQS event of
// registration changes goes to SQSChangeHandler; a direct invocation
// {"jobId":…,"dryRun":true} (with "registrations" and "limit" if wanted) is
// a plan of that trigger-campaign job, answered with jobs.Plan. A direct
// invocation that is not a dry run is refused: the job runs on the changes
// the queue delivers.
func TriggerHandler(h ChangeHandler, pl Planner, log *slog.Logger, pp ...*Postponer) func(ctx context.Context, raw json.RawMessage) (any, error) {
	sqsHandler := SQSChangeHandler(h, log, pp...)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		if hasRecords(raw) {
			var ev events.SQSEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("invalid SQS event: %w", err)
			}
			return sqsHandler(ctx, ev)
		}
		inv, err := DecodeInvocation(raw, nil)
		if err != nil {
			return nil, err
		}
		if !inv.DryRun || inv.JobID == "" {
			return nil, fmt.Errorf("invalid invocation payload: trigger-campaign runs on the registration changes its queue delivers; it answers only a plan ({\"jobId\":…,\"dryRun\":true})")
		}
		p, err := pl.Plan(ctx, inv.JobID, inv.PlanOptions())
		if err != nil {
			return nil, err
		}
		return Response{Plan: &p}, nil
	}
}
