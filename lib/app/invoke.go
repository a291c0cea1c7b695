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
//
// A direct run with "dryRun": true is a plan ({"jobId":"summit-sync",
// "dryRun":true}): the job's rules run on twins that write nothing, and the
// function answers with what a real run would do (jobs.Plan), listing at
// most "limit" records and writes of each kind (default DefaultPlanLimit;
// -1: all). For a trigger-campaign job, "registrations" names the
// registrations whose change to the job's status is planned.
type Invocation struct {
	JobType       string   `json:"jobType,omitempty"`
	ScheduledTime string   `json:"scheduledTime,omitempty"`
	JobID         string   `json:"jobId,omitempty"`
	Force         bool     `json:"force,omitempty"`
	DryRun        bool     `json:"dryRun,omitempty"`
	Limit         *int     `json:"limit,omitempty"`
	Registrations []string `json:"registrations,omitempty"`
}

// DefaultPlanLimit is how many records (and writes of each kind) a plan
// answered by a function lists when the payload gives no limit; MaxPlanLimit
// bounds what a payload may ask (a Lambda response holds 6 MB).
const (
	DefaultPlanLimit = 100
	MaxPlanLimit     = 5000
)

// PlanOptions returns the plan options of a dry-run invocation.
func (inv Invocation) PlanOptions() jobs.PlanOptions {
	o := jobs.PlanOptions{Force: inv.Force, Limit: DefaultPlanLimit, Registrations: inv.Registrations}
	if inv.Limit != nil {
		o.Limit = *inv.Limit
	}
	if o.Limit < 0 || o.Limit > MaxPlanLimit {
		o.Limit = MaxPlanLimit
	}
	return o
}

// Response is what a job function answers to an invocation: the deployed
// handler (JobHandler) answers a tick with what it queued (Dispatch) and a
// direct run with its queued message (Queued); the in-process one
// (ScheduledHandler) with the runs themselves (Tick, Run); both answer a
// dry run with its plan (Plan).
type Response struct {
	Dispatch *jobs.DispatchResult `json:"dispatch,omitempty"`
	Queued   *jobs.RunMessage     `json:"queued,omitempty"`
	Tick     *jobs.TickResult     `json:"tick,omitempty"`
	Run      *jobs.RunSummary     `json:"run,omitempty"`
	Plan     *jobs.Plan           `json:"plan,omitempty"`
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
	if err := checkPlanMembers(inv); err != nil {
		return inv, err
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

// checkPlanMembers refuses the plan members where they mean nothing: a
// limit or registrations without dryRun, a dry run of a tick.
func checkPlanMembers(inv Invocation) error {
	switch {
	case inv.DryRun && inv.JobID == "":
		return fmt.Errorf("invalid invocation payload: dryRun plans one job: give jobId")
	case !inv.DryRun && (inv.Limit != nil || len(inv.Registrations) > 0):
		return fmt.Errorf("invalid invocation payload: limit and registrations belong to a dry run (\"dryRun\":true)")
	case inv.Limit != nil && *inv.Limit < -1:
		return fmt.Errorf("invalid invocation payload: limit %d: want -1 (all, up to %d) or more", *inv.Limit, MaxPlanLimit)
	}
	for _, r := range inv.Registrations {
		if r == "" || strings.TrimSpace(r) != r {
			return fmt.Errorf("invalid invocation payload: registration code %q is empty or has surrounding spaces", r)
		}
	}
	return nil
}

// planRun answers a dry run (inv.DryRun) with its plan: the job's rules on
// twins that write nothing, in this invocation (a plan is read-only, so it
// needs no claim and does not go through the work queue).
func planRun(ctx context.Context, ex *jobs.Executor, inv Invocation) (Response, error) {
	if len(inv.Registrations) > 0 {
		return Response{}, fmt.Errorf("invalid invocation payload: registrations are planned by trigger-campaign, not by this function")
	}
	p, err := ex.Plan(ctx, inv.JobID, inv.PlanOptions())
	if err != nil {
		return Response{}, err
	}
	return Response{Plan: &p}, nil
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
		if inv.DryRun {
			return planRun(ctx, ex, inv)
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
