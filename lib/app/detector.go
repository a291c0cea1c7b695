package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/sync/errgroup"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

// DetectorJobType is the jobType a registration-changes schedule tick names.
const DetectorJobType = "registration-changes"

// DetectorPollsAtOnce bounds the scopes one detector invocation polls at
// the same time (its batch is at most this many messages).
const DetectorPollsAtOnce = 10

// DetectorInvocation is the registration-changes payload: the schedule's
// Input ({"jobType":"registration-changes","scheduledTime":"<aws.scheduler.scheduled-time>"}),
// or {} when invoked by hand.
type DetectorInvocation struct {
	JobType       string `json:"jobType,omitempty"`
	ScheduledTime string `json:"scheduledTime,omitempty"`
}

// ScopePoller is what the detector handler needs of *jobs.Detector.
type ScopePoller interface {
	DispatchScopes(ctx context.Context) (jobs.ScopeDispatch, error)
	PollScope(ctx context.Context, m jobs.ScopeMessage) (jobs.ScopeResult, error)
}

// DecodeDetectorInvocation checks a registration-changes tick payload.
func DecodeDetectorInvocation(raw []byte) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	var inv DetectorInvocation
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&inv); err != nil {
		return fmt.Errorf("invalid registration-changes payload: %w (want {\"jobType\":\"registration-changes\",\"scheduledTime\":…} or {})", err)
	}
	if inv.JobType != "" && inv.JobType != DetectorJobType {
		return fmt.Errorf("invalid registration-changes payload: jobType %q (this function serves %q)", inv.JobType, DetectorJobType)
	}
	if inv.ScheduledTime != "" {
		if _, err := time.Parse(time.RFC3339, inv.ScheduledTime); err != nil {
			return fmt.Errorf("invalid registration-changes payload: scheduledTime %q is not RFC 3339", inv.ScheduledTime)
		}
	}
	return nil
}

// DetectorHandler returns the registration-changes Lambda handler. A tick
// queues one scope message per watched account/event on the detector's work
// queue (its error, when some could not be queued, is the invocation's; the
// next tick queues them again). An SQS event of scope messages polls each
// scope, up to DetectorPollsAtOnce at a time; a scope whose poll fails is
// logged and counted, not redelivered: the next tick polls it again from
// its stored watermark. Only a malformed message is a batch item failure.
// Every tick and every batch writes its metrics line to tm (the tick's is
// the detector's heartbeat: DetectorTicksCompleted).
func DetectorHandler(d ScopePoller, tm Telemetry, log *slog.Logger) func(ctx context.Context, raw json.RawMessage) (any, error) {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		if isSQSEvent(raw) {
			var ev events.SQSEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("invalid SQS event: %w", err)
			}
			resp, results := pollScopes(ctx, d, log, ev)
			if err := tm.DetectorPolls(results); err != nil {
				log.ErrorContext(ctx, "cannot emit the detector's metrics", "error", err)
			}
			return resp, nil
		}
		if err := DecodeDetectorInvocation(raw); err != nil {
			return nil, err
		}
		res, err := d.DispatchScopes(ctx)
		if merr := tm.DetectorTick(res, err); merr != nil {
			log.ErrorContext(ctx, "cannot emit the detector's metrics", "error", merr)
		}
		if err != nil {
			return nil, err
		}
		return res, nil
	}
}

// pollScopes polls the batch's scopes concurrently.
func pollScopes(ctx context.Context, d ScopePoller, log *slog.Logger, ev events.SQSEvent) (events.SQSEventResponse, []jobs.ScopeResult) {
	var resp events.SQSEventResponse
	results := make([]jobs.ScopeResult, len(ev.Records))
	polled := make([]bool, len(ev.Records))
	var g errgroup.Group
	g.SetLimit(DetectorPollsAtOnce)
	for i, rec := range ev.Records {
		if rec.MessageId == "" {
			log.ErrorContext(ctx, "SQS record without messageId ignored", "eventSourceARN", rec.EventSourceARN)
			continue
		}
		m, err := jobs.DecodeScope([]byte(rec.Body))
		if err != nil {
			log.ErrorContext(ctx, "malformed scope message; reported as failed (DLQ after max receives)",
				"messageId", rec.MessageId, "receiveCount", receiveCount(rec), "reason", err.Error())
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
			continue
		}
		polled[i] = true
		g.Go(func() error {
			sr, err := d.PollScope(ctx, m)
			if err != nil {
				log.WarnContext(ctx, "scope not polled; the next tick polls it again", "account", m.Account, "event", m.Event, "error", err.Error())
			}
			results[i] = sr
			return nil
		})
	}
	_ = g.Wait() // the polls report through results
	var out []jobs.ScopeResult
	for i, ok := range polled {
		if ok {
			out = append(out, results[i])
		}
	}
	return resp, out
}
