package jobs_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/dryrun"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// TestPlanOfACheckpointedRunContinuesItAndLeavesItInPlace: a job stopped at
// its deadline is planned as its next run would go: from the checkpoint,
// which the plan leaves as it found it (same version and data), as it
// leaves the job's schedule state; the continuation then does what the
// plan said, and a forced plan starts from the beginning.
func TestPlanOfACheckpointedRunContinuesItAndLeavesItInPlace(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads), jobstest.WithConnection(func(c *config.Connection) { c.PageSize = 5 }))
	ctx := context.Background()
	env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": syncEvent, "eventName": "Harbour Summit"})
	env.Marketo.AddLead(marketo.Lead{"email": "p0@example.org", "firstName": "Old"})
	for i := range 12 {
		seedReg(env, map[string]any{"email": fmt.Sprintf("p%d@example.org", i), "firstName": fmt.Sprintf("P%d", i)}, "Attended")
	}
	env.PutJob(t, syncJob("sync-cp", "Attended"))
	env.InterruptAfter(1) // stop after the first page
	first := env.RunJob(t, ctx, "sync-cp")
	env.InterruptWhen(nil)
	if first.Outcome != store.RunCheckpointed {
		t.Fatalf("first run %s %v", first.Outcome, first.Counts)
	}
	cp, err := env.Store.GetCheckpoint(ctx, "sync-cp")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := env.Store.GetJobState(ctx, "sync-cp")
	leads := len(env.Marketo.Leads())

	p, err := env.Executor.Plan(ctx, "sync-cp", jobs.PlanOptions{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Continues || !p.Complete || p.Outcome != store.RunSucceeded {
		t.Fatalf("plan %+v", p)
	}
	cp2, _ := env.Store.GetCheckpoint(ctx, "sync-cp")
	st2, _ := env.Store.GetJobState(ctx, "sync-cp")
	if cp2.Version != cp.Version || string(cp2.Data) != string(cp.Data) || st2 != st {
		t.Errorf("the plan moved the checkpoint (%+v -> %+v) or the state (%+v -> %+v)", cp, cp2, st, st2)
	}
	if len(env.Marketo.Leads()) != leads {
		t.Error("the plan created leads")
	}
	for _, r := range p.Records {
		if r.Outcome == store.OutcomeCreated && (r.Lead == nil || r.Lead.New == 0 || len(r.Changes) == 0) {
			t.Errorf("a planned create names no new lead or no fields: %+v", r)
		}
	}
	forced, err := env.Executor.Plan(ctx, "sync-cp", jobs.PlanOptions{Force: true, Limit: 0})
	if err != nil {
		t.Fatal(err)
	}
	if forced.Continues || forced.Counts["registrationsRead"] != 12 || len(forced.Records) != 0 || forced.Totals.Records == 0 {
		t.Errorf("forced plan %+v", forced)
	}

	second := env.RunJob(t, ctx, "sync-cp")
	if second.Trigger != "continuation" {
		t.Errorf("second run trigger %s", second.Trigger)
	}
	for _, k := range []string{store.OutcomeCreated, store.OutcomeUpdated, store.OutcomeUnchanged, store.OutcomeFailed} {
		if p.Counts[k] != second.Counts[k] {
			t.Errorf("%s: planned %d, the continuation did %d", k, p.Counts[k], second.Counts[k])
		}
	}
}

// TestPlanOfATriggerJobFindsChangesAlreadyRequested: a change the job has
// requested is planned as a duplicate (the idempotency record is read, not
// claimed), a disabled job is planned as if enabled, and the campaign
// request lists its leads and tokens.
func TestPlanOfATriggerJobFindsChangesAlreadyRequested(t *testing.T) {
	env := newTriggerEnv(t, false)
	ctx := context.Background()
	lead := env.Marketo.AddLead(marketo.Lead{"email": "lena.ortiz@example.net"})
	_, done := seedReg(env.Env, map[string]any{"email": "lena.ortiz@example.net", "organization": "Northwind",
		"externalKey": fmt.Sprint(lead), "sourceOfProfile": "Marketo"}, "Pre-Registered")
	_, fresh := seedReg(env.Env, map[string]any{"email": "new.person@example.net", "organization": "Contoso"}, "Pre-Registered")
	j := triggerJob("tc-plan", nil)
	env.PutJob(t, j)
	plan := func() jobs.Plan {
		t.Helper()
		p, err := env.trigger.Plan(ctx, "tc-plan", jobs.PlanOptions{Limit: -1, Registrations: []string{done, fresh}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := plan()
	if p.Totals.Changes != 2 || p.Counts[store.OutcomeRequested] != 2 {
		t.Fatalf("first plan %+v", p)
	}
	// Deliver the planned change of the linked registration for real.
	noErrors(t, env.trigger.Handle(ctx, []jobs.ChangeMessage{p.Changes[0]}))
	requests := len(env.Marketo.CampaignRequests())
	j.Enabled = false
	env.PutJob(t, j)
	p = plan()
	if p.Counts[jobs.RedriveDuplicate] != 1 || p.Counts[store.OutcomeRequested] != 1 || len(env.Marketo.CampaignRequests()) != requests {
		t.Fatalf("plan after the delivery: counts %v, %d campaign requests (had %d)", p.Counts, len(env.Marketo.CampaignRequests()), requests)
	}
	if len(p.Notes) == 0 || len(p.Writes.Campaigns) != 1 {
		t.Fatalf("plan notes %v, campaigns %+v", p.Notes, p.Writes.Campaigns)
	}
	c := p.Writes.Campaigns[0]
	if c.Campaign != campaignID || len(c.Leads) != 1 || c.Leads[0].New != 1 || len(c.Tokens) != 2 || c.Tokens[1].Value != "Contoso" {
		t.Errorf("campaign request %+v: want the new person's new lead with both tokens", c)
	}
	for _, r := range p.Records {
		if r.Key == fresh && dryrun.Readable(r.Reason) == r.Reason {
			t.Errorf("the fresh change's reason names no planned lead: %s", r.Reason)
		}
	}
}

// TestProgressFollowsARun: the executor's progress observer sees the run's
// registrations (of the event's total), outcomes and calls.
func TestProgressFollowsARun(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	ctx := context.Background()
	env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": syncEvent, "eventName": "Harbour Summit"})
	for i := range 7 {
		seedReg(env, map[string]any{"email": fmt.Sprintf("q%d@example.org", i)}, "Attended")
	}
	seedReg(env, map[string]any{"email": "inv@example.org"}, "Invited")
	env.PutJob(t, syncJob("sync-pr", "Attended"))
	p := &jobs.Progress{}
	env.Executor.Progress = p
	if s := p.Snapshot(); s.Running || s.Read != 0 {
		t.Fatalf("snapshot before any run %+v", s)
	}
	run := env.RunJob(t, ctx, "sync-pr")
	s := p.Snapshot()
	if s.JobID != "sync-pr" || s.Running || s.Read != 8 || s.Total != 8 || s.Done != 7 || s.Sent != run.Counts[store.OutcomeCreated] ||
		s.MarketoCalls != run.MarketoCalls || s.CertainCalls != run.CertainCalls || s.Left != 0 {
		t.Errorf("snapshot %+v after run %+v", s, run)
	}
}

// TestProgressFollowsATriggerPlan: a trigger-campaign plan has no run
// recorder; its progress counts the registrations it lists and each change
// as it settles.
func TestProgressFollowsATriggerPlan(t *testing.T) {
	env := newTriggerEnv(t, false)
	ctx := context.Background()
	for i := range 4 {
		seedReg(env.Env, map[string]any{"email": fmt.Sprintf("p%d@example.net", i), "organization": "Contoso"}, "Pre-Registered")
	}
	seedReg(env.Env, map[string]any{"email": "other@example.net"}, "Invited")
	env.PutJob(t, triggerJob("tc-progress", nil))
	p := &jobs.Progress{}
	env.trigger.Progress = p
	plan, err := env.trigger.Plan(ctx, "tc-progress", jobs.PlanOptions{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	s := p.Snapshot()
	if plan.Totals.Changes != 4 || s.JobID != "tc-progress" || s.Running || s.Read != 5 || s.Total != 5 ||
		s.Done != 4 || s.Sent != plan.Counts[store.OutcomeRequested] || s.Sent != 4 ||
		s.MarketoCalls != plan.MarketoCalls || s.CertainCalls != plan.CertainCalls || s.Left != 0 {
		t.Errorf("snapshot %+v after plan counts %v (Marketo %d, Certain %d)", s, plan.Counts, plan.MarketoCalls, plan.CertainCalls)
	}
}
