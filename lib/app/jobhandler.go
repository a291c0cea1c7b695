package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

// isSQSEvent reports whether a payload is an SQS event (a "Records" member),
// which no invocation payload has.
func isSQSEvent(raw json.RawMessage) bool {
	var probe struct {
		Records json.RawMessage `json:"Records"`
	}
	return json.Unmarshal(raw, &probe) == nil && probe.Records != nil
}

// JobHandler returns the handler of a job function serving the given job
// types (docs/architecture.md §1):
//
//   - a schedule tick ({"jobType","scheduledTime"}) dispatches: it queues one
//     run message per due job on the function's work queue and runs nothing;
//   - a direct run ({"jobId","force"}) is queued the same way and answered
//     with its message (the run id to wait for);
//   - a dry run ({"jobId","dryRun":true}) is planned in this invocation and
//     answered with the plan (it writes nothing, so it is not queued);
//   - an SQS event of run messages (the work queue's event source mapping)
//     runs them, one job per message, and answers with the partial batch
//     response.
//
// The executor must send to q (ex.Queue), which is also where messages
// waiting for a time are queued again or hidden.
func JobHandler(ex *jobs.Executor, q *WorkQueue, log *slog.Logger, served ...string) func(ctx context.Context, raw json.RawMessage) (any, error) {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		if isSQSEvent(raw) {
			var ev events.SQSEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("invalid SQS event: %w", err)
			}
			return consumeRuns(ctx, ex, q, log, ev), nil
		}
		inv, err := DecodeInvocation(raw, served)
		if err != nil {
			return nil, err
		}
		if inv.DryRun {
			return planRun(ctx, ex, inv)
		}
		if inv.JobID != "" {
			m, err := ex.Enqueue(ctx, inv.JobID, inv.Force)
			if err != nil {
				return nil, err
			}
			return Response{Queued: &m}, nil
		}
		res, err := ex.Dispatch(ctx, inv.JobType)
		if err != nil {
			return nil, err
		}
		return Response{Dispatch: &res}, nil
	}
}

// receiveCount is the record's ApproximateReceiveCount (1 when absent).
func receiveCount(rec events.SQSMessage) int {
	n, err := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// consumeRuns runs the run messages of an SQS batch in order. It never
// fails the batch: a malformed message, or one whose consumption failed,
// is a batch item failure hidden for RetryBackoff (so a poison message
// reaches the DLQ within maxReceiveCount receives, and a passing fault is
// retried soon, not after the long visibility timeout); the messages left
// when the deadline nears are failures made visible again at once.
func consumeRuns(ctx context.Context, ex *jobs.Executor, q *WorkQueue, log *slog.Logger, ev events.SQSEvent) events.SQSEventResponse {
	var resp events.SQSEventResponse
	fail := func(rec events.SQSMessage, hide time.Duration) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		if err := q.Hide(ctx, rec.ReceiptHandle, hide); err != nil {
			log.WarnContext(ctx, "cannot set when the failed message comes back; it does after the queue's visibility timeout",
				"messageId", rec.MessageId, "error", err.Error())
		}
	}
	for i, rec := range ev.Records {
		if rec.MessageId == "" {
			log.ErrorContext(ctx, "SQS record without messageId ignored", "eventSourceARN", rec.EventSourceARN)
			continue
		}
		receives := receiveCount(rec)
		if i > 0 && ex.Stopping(ctx) {
			fail(rec, 0)
			continue
		}
		m, err := jobs.DecodeRun([]byte(rec.Body))
		if err != nil {
			log.ErrorContext(ctx, "malformed run message; reported as failed (DLQ after max receives)",
				"messageId", rec.MessageId, "receiveCount", receives, "reason", err.Error())
			fail(rec, RetryBackoff(receives))
			continue
		}
		c, err := ex.Consume(ctx, m)
		if err != nil {
			log.WarnContext(ctx, "run message not done; reported for redelivery", "messageId", rec.MessageId,
				"jobId", m.JobID, "kind", m.Kind, "receiveCount", receives, "reason", err.Error())
			fail(rec, RetryBackoff(receives))
			continue
		}
		if !c.RetryAt.IsZero() && !retryLater(ctx, q, log, rec, m, c.RetryAt) {
			fail(rec, c.RetryAt.Sub(q.now())+time.Second)
		}
		logConsumed(ctx, log, rec, m, c)
	}
	return resp
}

// retryLater queues a copy of m for `at` when that is within SQS's longest
// delay (the copy starts with a fresh receive count, and the message is
// done); otherwise, or when the copy cannot be sent, it reports false and
// the message is kept hidden until `at` (at most MaxPostpone at a time: a
// wait for the daily quota's reset costs a few receives).
func retryLater(ctx context.Context, q *WorkQueue, log *slog.Logger, rec events.SQSMessage, m jobs.RunMessage, at time.Time) bool {
	wait := at.Sub(q.now())
	if wait > jobs.MaxQueueDelay {
		return false
	}
	sent, err := q.SendRuns(ctx, []jobs.RunMessage{m}, wait)
	if err == nil && len(sent) == 1 && sent[0] {
		return true
	}
	log.WarnContext(ctx, "cannot queue the run message again; it is kept on the queue instead", "messageId", rec.MessageId, "error", fmt.Sprint(err))
	return false
}

func logConsumed(ctx context.Context, log *slog.Logger, rec events.SQSMessage, m jobs.RunMessage, c jobs.Consumed) {
	attrs := []any{"messageId", rec.MessageId, "jobId", m.JobID, "kind", m.Kind, "due", m.Due}
	switch {
	case c.Ran != nil:
		attrs = append(attrs, "runId", c.Ran.RunID, "outcome", c.Ran.Outcome)
		if !c.Continued.IsZero() {
			attrs = append(attrs, "continuation", c.Continued)
		}
	default:
		attrs = append(attrs, "skipped", c.Skipped)
		if !c.RetryAt.IsZero() {
			attrs = append(attrs, "retryAt", c.RetryAt)
		}
	}
	log.InfoContext(ctx, "run message consumed", attrs...)
}
