package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

// Invocation is the payload of a scheduled function: a schedule tick
// ({"jobType":"sync-leads","scheduledTime":"2026-04-01T08:00:00Z"}, the
// EventBridge Scheduler Input) or a direct run of one job
// ({"jobId":"summit-sync","force":true}).
type Invocation struct {
	JobType       string `json:"jobType,omitempty"`
	ScheduledTime string `json:"scheduledTime,omitempty"`
	JobID         string `json:"jobId,omitempty"`
	Force         bool   `json:"force,omitempty"`
}

// Response is what a job function answers to an invocation: the deployed
// handler (JobHandler) answers a tick with what it queued (Dispatch) and a
// direct run with its queued message (Queued); the in-process one
// (ScheduledHandler) with the runs themselves (Tick, Run).
type Response struct {
	Dispatch *jobs.DispatchResult `json:"dispatch,omitempty"`
	Queued   *jobs.RunMessage     `json:"queued,omitempty"`
	Tick     *jobs.TickResult     `json:"tick,omitempty"`
	Run      *jobs.RunSummary     `json:"run,omitempty"`
}

// DecodeInvocation parses and checks a scheduled function's payload. Unknown
// fields are errors: a typo in a schedule's Input must not silently run
// something else.
func DecodeInvocation(raw []byte, served []string) (Invocation, error) {
	var inv Invocation
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&inv); err != nil {
		return inv, fmt.Errorf("invalid invocation payload: %w (want {\"jobType\":…,\"scheduledTime\":…} or {\"jobId\":…})", err)
	}
	if dec.More() {
		return inv, fmt.Errorf("invalid invocation payload: trailing data after the JSON object")
	}
	switch {
	case inv.JobID != "" && inv.JobType != "":
		return inv, fmt.Errorf("invalid invocation payload: give jobId or jobType, not both")
	case inv.JobID != "":
		if strings.TrimSpace(inv.JobID) != inv.JobID {
			return inv, fmt.Errorf("invalid invocation payload: jobId %q has surrounding spaces", inv.JobID)
		}
	case inv.JobType != "":
		if !slices.Contains(served, inv.JobType) {
			return inv, fmt.Errorf("invalid invocation payload: jobType %q is not served by this function (serves %s)", inv.JobType, strings.Join(served, ", "))
		}
		if inv.ScheduledTime != "" {
			if _, err := time.Parse(time.RFC3339, inv.ScheduledTime); err != nil {
				return inv, fmt.Errorf("invalid invocation payload: scheduledTime %q is not RFC 3339: %w", inv.ScheduledTime, err)
			}
		}
	default:
		return inv, fmt.Errorf("invalid invocation payload: neither jobType nor jobId given")
	}
	return inv, nil
}

// ScheduledHandler returns the in-process handler of a scheduled function
// serving the given job types through ex: a tick runs every due job itself,
// one after another, and a direct run runs at once. The deployed functions
// fan out through their work queue instead (JobHandler); this form serves
// tests that drive one invocation without a queue.
func ScheduledHandler(ex *jobs.Executor, served ...string) func(ctx context.Context, raw json.RawMessage) (Response, error) {
	return func(ctx context.Context, raw json.RawMessage) (Response, error) {
		inv, err := DecodeInvocation(raw, served)
		if err != nil {
			return Response{}, err
		}
		if inv.JobID != "" {
			sum, err := ex.RunNow(ctx, inv.JobID, inv.Force)
			if err != nil {
				return Response{}, err
			}
			return Response{Run: &sum}, nil
		}
		res, err := ex.Tick(ctx, inv.JobType)
		if err != nil {
			return Response{}, err
		}
		return Response{Tick: &res}, nil
	}
}
