package jobs_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// Registrations of rule A (createOrUpdate) and rule B (updateOnly) arrive
// interleaved; each Sync Leads call still carries 300 records of one action,
// so 300 of each cost two calls, not four part-filled ones.
func TestSyncLeadsFillsEachCallPerAction(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	for i := range 300 {
		seedReg(env, map[string]any{"email": fmt.Sprintf("new%03d@example.org", i), "firstName": "New"}, "Attended")
		email := fmt.Sprintf("known%03d@example.org", i)
		id := env.Marketo.AddLead(marketo.Lead{"email": email})
		seedReg(env, map[string]any{"email": email, "firstName": "Known", "externalKey": fmt.Sprint(id), "sourceOfProfile": "Marketo"}, "Attended")
	}
	env.PutJob(t, syncJob("sync-mixed", "Attended"))
	run := env.RunJob(t, context.Background(), "sync-mixed")
	if run.Counts[store.OutcomeCreated] != 300 || run.Counts[store.OutcomeUpdated] != 300 {
		t.Fatalf("counts %v, want 300 created and 300 updated", run.Counts)
	}
	syncs := env.Marketo.CountPath("/rest/v1/leads.json")
	if syncs != 2 || run.MarketoCalls != 3 {
		t.Fatalf("%d Sync Leads calls and %d Marketo calls in all; want 2 (one full call per action) and 3 (with the describe)", syncs, run.MarketoCalls)
	}
}

// A run cut short resumes in every paging mode: with page-number paging
// (page1) Certain refuses a mid-page offset, so the checkpoint is a page
// start; the resumed run sends each lead once (found in review: the job was
// stuck on "start index 300 is not a multiple of page size 200").
func TestSyncLeadsResumesWithPageNumberPaging(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads),
		jobstest.WithCertain(certaintest.WithPagingMode(certain.PagingPage1)),
		jobstest.WithConnection(func(c *config.Connection) { c.PagingMode = certain.PagingPage1 }))
	ctx := context.Background()
	for i := range 700 {
		seedReg(env, map[string]any{"email": fmt.Sprintf("p%04d@example.org", i), "firstName": fmt.Sprint("P", i)}, "Attended")
	}
	env.PutJob(t, syncJob("s1", "Attended"))
	env.InterruptAfter(2)
	run := env.RunJob(t, ctx, "s1")
	if run.Outcome != store.RunCheckpointed {
		t.Fatalf("first run %s %v, want checkpointed", run.Outcome, run.Error)
	}
	env.InterruptWhen(nil)
	run = env.RunJob(t, ctx, "s1")
	if run.Outcome != store.RunSucceeded {
		t.Fatalf("resumed run %s: %s", run.Outcome, run.Error)
	}
	if n := len(env.Marketo.Leads()); n != 700 {
		t.Fatalf("Marketo holds %d leads, want 700", n)
	}
	if syncs := syncLeadsCalls(env); syncs != 3 {
		t.Fatalf("%d Sync Leads calls, want 3 (300 + 300 + 100: nothing sent twice)", syncs)
	}
}

// A forced run ("resend everything") that stops at the deadline is finished
// by its continuation with the same force: every registration is sent once
// more, none skipped as unchanged (found in review: the continuation used to
// drop the force and the forced run to resume an older checkpoint).
func TestForcedRunStaysForcedAcrossInvocations(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	ctx := context.Background()
	for i := range 700 {
		seedReg(env, map[string]any{"email": fmt.Sprintf("f%04d@example.org", i), "firstName": fmt.Sprint("F", i)}, "Attended")
	}
	env.PutJob(t, syncJob("s1", "Attended"))
	if run := env.RunJob(t, ctx, "s1"); run.Outcome != store.RunSucceeded {
		t.Fatalf("first run %s", run.Outcome)
	}
	// An unfinished normal run leaves a checkpoint behind.
	env.InterruptAfter(1)
	if run := env.RunJob(t, ctx, "s1"); run.Outcome != store.RunCheckpointed {
		t.Fatalf("cut run %s, want checkpointed", run.Outcome)
	}
	before := env.Marketo.CountPath("/rest/v1/leads.json")
	env.InterruptAfter(2)
	sum, err := env.Executor.RunNow(ctx, "s1", true)
	if err != nil || sum.Outcome != store.RunCheckpointed {
		t.Fatalf("forced run %+v, %v; want checkpointed", sum, err)
	}
	env.InterruptWhen(nil)
	cont := env.RunJob(t, ctx, "s1")
	if cont.Outcome != store.RunSucceeded || cont.Counts[store.OutcomeUnchanged] != 0 {
		t.Fatalf("continuation %s %v: want succeeded, nothing skipped as unchanged", cont.Outcome, cont.Counts)
	}
	if got := env.Marketo.CountPath("/rest/v1/leads.json") - before; got != 3 {
		t.Fatalf("forced run and continuation made %d Sync Leads calls, want 3 (700 registrations, each once)", got)
	}
	// Finished: the next run is a normal delta run again.
	if run := env.RunJob(t, ctx, "s1"); run.Counts[store.OutcomeUnchanged] != 700 {
		t.Fatalf("run after the forced one: %v, want 700 unchanged", run.Counts)
	}
}
