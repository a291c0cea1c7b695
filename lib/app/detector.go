package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

// DetectorJobType is the jobType a registration-changes schedule tick names.
const DetectorJobType = "registration-changes"

// DetectorInvocation is the registration-changes payload: the schedule's
// Input ({"jobType":"registration-changes","scheduledTime":"<aws.scheduler.scheduled-time>"}),
// or {} when invoked by hand.
type DetectorInvocation struct {
	JobType       string `json:"jobType,omitempty"`
	ScheduledTime string `json:"scheduledTime,omitempty"`
}

// Ticker is what the detector handler needs of *jobs.Detector.
type Ticker interface {
	Tick(ctx context.Context) (jobs.DetectorResult, error)
}

// DetectorHandler returns the registration-changes Lambda handler. A
// failing account/event is reported as the invocation's error (after the
// others were polled), so the failure shows in the function's metrics; the
// next tick retries it from its stored watermark. Every tick writes the
// detector's metrics line to tm (its heartbeat: DetectorTicksCompleted).
func DetectorHandler(d Ticker, tm Telemetry) func(ctx context.Context, raw json.RawMessage) (jobs.DetectorResult, error) {
	return func(ctx context.Context, raw json.RawMessage) (jobs.DetectorResult, error) {
		if len(bytes.TrimSpace(raw)) > 0 && string(bytes.TrimSpace(raw)) != "null" {
			var inv DetectorInvocation
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&inv); err != nil {
				return jobs.DetectorResult{}, fmt.Errorf("invalid registration-changes payload: %w (want {\"jobType\":\"registration-changes\",\"scheduledTime\":…} or {})", err)
			}
			if inv.JobType != "" && inv.JobType != DetectorJobType {
				return jobs.DetectorResult{}, fmt.Errorf("invalid registration-changes payload: jobType %q (this function serves %q)", inv.JobType, DetectorJobType)
			}
			if inv.ScheduledTime != "" {
				if _, err := time.Parse(time.RFC3339, inv.ScheduledTime); err != nil {
					return jobs.DetectorResult{}, fmt.Errorf("invalid registration-changes payload: scheduledTime %q is not RFC 3339", inv.ScheduledTime)
				}
			}
		}
		res, err := d.Tick(ctx)
		if merr := tm.DetectorTick(res, err); merr != nil {
			slog.ErrorContext(ctx, "cannot emit the detector's metrics", "error", merr)
		}
		return res, err
	}
}
