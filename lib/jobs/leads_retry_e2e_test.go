package jobs_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// marketoCalls counts the counted Marketo calls made since call index from:
// writes (Sync Leads, Sync Custom Objects, Request Campaign) and lead
// look-ups.
// marketoCalls counts the Marketo calls since call number from: all of them,
// the writes, and the lead look-ups by e-mail (Get Leads by filterType=id,
// which checks stored ids, is neither: see idChecks).
func marketoCalls(env *jobstest.Env, from int) (calls, writes, lookups int) {
	for _, c := range env.Marketo.Calls()[from:] {
		if !c.Counted {
			continue
		}
		calls++
		get := c.Method == "GET" || strings.Contains(c.URL, "_method=GET")
		switch {
		case get && c.Path == "/rest/v1/leads.json" && c.FilterType == "id":
		case get && c.Path == "/rest/v1/leads.json":
			lookups++
		case !get && (c.Path == "/rest/v1/leads.json" || strings.HasPrefix(c.Path, "/rest/v1/customobjects/") && !strings.HasSuffix(c.Path, "/describe.json") ||
			strings.HasPrefix(c.Path, "/rest/v1/campaigns/")):
			writes++
		}
	}
	return
}

// idChecks counts the Get Leads by filterType=id calls since call number
// from: the checks of stored Marketo ids.
func idChecks(env *jobstest.Env, from int) int {
	n := 0
	for _, c := range env.Marketo.Calls()[from:] {
		if c.Counted && c.Path == "/rest/v1/leads.json" && c.FilterType == "id" {
			n++
		}
	}
	return n
}

// syncLeadsCalls counts the Sync Leads calls (writes to /rest/v1/leads.json).
func syncLeadsCalls(env *jobstest.Env) int {
	n := 0
	for _, c := range env.Marketo.Calls() {
		if c.Path == "/rest/v1/leads.json" && c.Method == "POST" && !strings.Contains(c.URL, "_method=") {
			n++
		}
	}
	return n
}

// demoEnv seeds demodata's generator (duplicate e-mails differing in case,
// leads sharing an e-mail that provoke 1007, linked, imported and foreign
// profiles) as the benchmark does, with the three jobs it runs.
func demoEnv(t *testing.T, n int, retryAfter config.Duration) *jobstest.Env {
	t.Helper()
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads),
		jobstest.WithFunc(config.TypeEngagementMetrics, jobs.EngagementMetrics), jobstest.WithFunc(config.TypeInterestMetrics, jobs.InterestMetrics))
	d := demodata.Generate(demodata.Options{Seed: 2026, Registrations: n, Account: jobstest.Account, Events: []string{"HS26"}, Fields: env.Certain.Fields()})
	if err := d.SeedCertain(env.Certain); err != nil {
		t.Fatal(err)
	}
	if err := d.SeedMarketo(env.Marketo); err != nil {
		t.Fatal(err)
	}
	hourly := config.Schedule{Interval: config.Duration(time.Hour)}
	for _, j := range []config.Job{
		{ID: "sync", Type: config.TypeSyncLeads, Params: config.Params{Statuses: demodata.Statuses()}},
		{ID: "eng", Type: config.TypeEngagementMetrics, Params: config.Params{CustomObject: demodata.EngagementObject,
			Fields:  map[string]string{jobs.FieldKey: jobs.FieldDisabled, jobs.FieldProgramName: jobs.FieldDisabled, jobs.MetricAvgSessionRating: "averageSessionRating"},
			Modules: []string{config.ModuleAgenda, config.ModuleSSA, config.ModuleAppointmentMatching}}},
		{ID: "int", Type: config.TypeInterestMetrics, Params: config.Params{CustomObject: demodata.InterestObject,
			Fields: map[string]string{jobs.FieldKey: jobs.FieldDisabled}, Include: []string{"registered", "attended"}}},
	} {
		j.Account, j.Name, j.Enabled, j.Schedule, j.Event = jobstest.Account, j.ID, true, hourly, "HS26"
		j.Params.RetryFailuresAfter = retryAfter
		env.PutJob(t, j)
	}
	return env
}

// With retryFailuresAfter set, an unchanged second run of each job makes no
// Marketo write and no lead look-up by e-mail; the registrations Marketo
// refused with 1007 are still reported failed, with the code, in the second
// run. sync-leads makes no call at all: its first run counts as the
// verification of the stored ids, and the next is not due before
// verifyIdsEvery (24h) has passed (TestSyncLeadsEndToEnd,
// TestStaleIDFigures); the metrics jobs, which
// write nothing for unchanged records, address no lead and check none.
func TestUnchangedSecondRunMakesNoMarketoWrite(t *testing.T) {
	env := demoEnv(t, 1500, config.Duration(24*time.Hour))
	ctx := context.Background()
	for _, id := range []string{"sync", "eng", "int"} {
		first := env.RunJob(t, ctx, id)
		if first.Counts[store.OutcomeFailed] == 0 {
			t.Fatalf("%s first run %v: the data set should provoke 1007 failures", id, first.Counts)
		}
		env.Clock.Advance(2 * time.Hour)
		from := len(env.Marketo.Calls())
		second := env.RunJob(t, ctx, id)
		calls, writes, lookups := marketoCalls(env, from)
		checks, wantChecks := idChecks(env, from), 0
		wantCalls := 1 // describe of the custom object
		if id == "sync" {
			// Nothing to send: not even the lead describe, and no id is due.
			wantCalls = 0
		}
		if writes != 0 || lookups != 0 || checks != wantChecks || calls != wantCalls {
			t.Errorf("%s unchanged second run: %d Marketo calls (%d writes, %d look-ups, %d id checks), want %d, no write, no look-up, %d id checks; counts %v",
				id, calls, writes, lookups, checks, wantCalls, wantChecks, second.Counts)
		}
		if second.Counts[store.OutcomeFailed] != first.Counts[store.OutcomeFailed] || second.Counts["failuresNotRetried"] != first.Counts[store.OutcomeFailed] {
			t.Errorf("%s second run %v: want the %d failures of the first run reported again, not retried", id, second.Counts, first.Counts[store.OutcomeFailed])
		}
		if second.Counts[store.OutcomeCreated]+second.Counts[store.OutcomeUpdated] != 0 {
			t.Errorf("%s second run %v: nothing changed, nothing may be created or updated", id, second.Counts)
		}
		for _, o := range env.Outcomes(t, second.ID) {
			if o.Outcome == store.OutcomeFailed && (o.Code != "1007" || !strings.Contains(o.Reason, "not sent again")) {
				t.Errorf("%s second run: failed outcome %+v, want code 1007 with the not-retried note", id, o)
				break
			}
		}
	}
}

// A registration refused with 1007 is retried by the next run; with
// retryFailuresAfter (a day here) it is retried when its payload changes, or
// once the day has passed; until then it is reported
// without a Marketo call. A forced full run retries it too.
func TestSyncLeads1007RetryPolicy(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": "HS26", "eventName": "Harbour Summit 2026"})
	env.Marketo.AddLead(marketo.Lead{"email": "twin@example.org", "firstName": "A"})
	env.Marketo.AddLead(marketo.Lead{"email": "twin@example.org", "firstName": "B"})
	pin := env.Certain.AddProfile(jobstest.Account, map[string]any{"email": "twin@example.org", "firstName": "Tess"})
	env.Certain.AddRegistration(jobstest.Account, "HS26", pin, map[string]any{"registrationCode": "R-1", "registrationStatusLabel": "Pre-Registered", "isConfirmed": true})
	okPin := env.Certain.AddProfile(jobstest.Account, map[string]any{"email": "solo@example.org", "firstName": "Sol"})
	env.Certain.AddRegistration(jobstest.Account, "HS26", okPin, map[string]any{"registrationCode": "R-2", "registrationStatusLabel": "Pre-Registered", "isConfirmed": true})
	job := config.Job{ID: "sync", Account: jobstest.Account, Event: "HS26", Type: config.TypeSyncLeads, Name: "sync", Enabled: true,
		Schedule: config.Schedule{Interval: config.Duration(time.Hour)}, Params: config.Params{Statuses: []string{"Pre-Registered"}}}
	env.PutJob(t, job)
	ctx := context.Background()

	// By default a refused registration is retried by the next run.
	for i := range 2 {
		from := len(env.Marketo.Calls())
		run := env.RunJob(t, ctx, "sync")
		if _, writes, _ := marketoCalls(env, from); writes != 1 || run.Counts[store.OutcomeFailed] != 1 {
			t.Fatalf("default policy, run %d: %d Sync Leads calls, counts %v; want the 1007 registration sent (and failing) every run", i+1, writes, run.Counts)
		}
		env.Clock.Advance(time.Hour)
	}
	// With retryFailuresAfter, it is held while its data is unchanged. (New
	// data first, so that the steps below start from a first attempt.)
	job.Params.RetryFailuresAfter = config.Duration(24 * time.Hour)
	env.PutJob(t, job)
	if err := env.CertainClient.UpdateProfile(ctx, jobstest.Account, pin, map[string]any{"firstName": "Tes"}); err != nil {
		t.Fatal(err)
	}

	type step struct {
		name       string
		before     func()
		wantWrites int
		wantNote   bool // the failure is reported as not retried
	}
	steps := []step{
		{name: "first run", wantWrites: 1},
		{name: "an hour later", before: func() { env.Clock.Advance(time.Hour) }, wantNote: true},
		{name: "23 hours after the attempt", before: func() { env.Clock.Advance(22 * time.Hour) }, wantNote: true},
		{name: "25 hours after the attempt", before: func() { env.Clock.Advance(2 * time.Hour) }, wantWrites: 1},
		{name: "right after the retry", before: func() { env.Clock.Advance(time.Minute) }, wantNote: true},
		{name: "payload changed", before: func() {
			if err := env.CertainClient.UpdateProfile(ctx, jobstest.Account, pin, map[string]any{"firstName": "Tessa"}); err != nil {
				t.Fatal(err)
			}
		}, wantWrites: 1},
		{name: "forced full run", before: func() {
			job.Params.ForceFull = true
			env.PutJob(t, job)
		}, wantWrites: 2}, // R-1 (create-or-update) and R-2 (update only) resent
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		from := len(env.Marketo.Calls())
		run := env.RunJob(t, ctx, "sync")
		_, writes, _ := marketoCalls(env, from)
		var got store.RecordOutcome
		for _, o := range env.Outcomes(t, run.ID) {
			if o.Key == "R-1" {
				got = o
			}
		}
		if writes != s.wantWrites {
			t.Errorf("%s: %d Sync Leads calls, want %d (counts %v)", s.name, writes, s.wantWrites, run.Counts)
		}
		if got.Outcome != store.OutcomeFailed || got.Code != "1007" || !strings.Contains(got.Reason, "merge") {
			t.Errorf("%s: R-1 outcome %+v, want failed 1007 with the merge advice", s.name, got)
		}
		if note := strings.Contains(got.Reason, "not sent again"); note != s.wantNote {
			t.Errorf("%s: reason %q: not-retried note %v, want %v", s.name, got.Reason, note, s.wantNote)
		}
	}
}

// Two registrations of one lead (two profiles sharing an e-mail) in
// different upload batches used to overwrite each other's engagement record
// on every run. The first in registration order owns it; the other is
// skipped, and an unchanged second run writes nothing.
func TestEngagementRecordSharedByTwoRegistrationsIsNotFlipFlopped(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeEngagementMetrics, jobs.EngagementMetrics))
	engagementObject(env.Marketo, jobs.MetricSessionsRegistered, jobs.MetricSessionsAttended)
	seedLinked(env, 400) // R-00000..R-00399, one attended line each
	// R-00399's profile carries R-00000's lead (the same person, another
	// profile) and has one more attended line, so their metrics differ.
	lead0 := env.Marketo.LeadsByEmail("att00000@example.org")[0].ID()
	pin := env.Certain.AddProfile(jobstest.Account, map[string]any{"email": "ATT00000@example.org", "externalKey": strconv.Itoa(lead0), "sourceOfProfile": "Marketo"})
	env.Certain.AddRegistration(jobstest.Account, "HS26", pin, map[string]any{"registrationCode": "R-twin", "registrationStatusLabel": "Pre-Registered", "isConfirmed": true})
	env.Certain.AddAgendaLine(jobstest.Account, "HS26", map[string]any{"registrationCode": "R-twin", "activityCode": "W1", "status": "ATTENDED"})
	env.Certain.AddAgendaItem(jobstest.Account, "HS26", map[string]any{"activityCode": "W2", "tag": []string{"AI"}, "points": 1})
	env.Certain.AddAgendaLine(jobstest.Account, "HS26", map[string]any{"registrationCode": "R-twin", "activityCode": "W2", "status": "ATTENDED"})
	env.PutJob(t, engagementJob("eng", config.ModuleAgenda))
	ctx := context.Background()
	first := env.RunJob(t, ctx, "eng")
	if first.Counts[store.OutcomeCreated] != 400 || first.Counts[store.OutcomeUpdated] != 0 || first.Counts[store.OutcomeSkipped] != 1 {
		t.Errorf("first run %v: want 400 created, the twin skipped, nothing overwritten", first.Counts)
	}
	for _, r := range env.Marketo.CustomObjectRecords(jobs.DefaultEngagementObject) {
		if fmt.Sprint(r["leadID"]) == strconv.Itoa(lead0) && fmt.Sprint(r[jobs.MetricSessionsAttended]) != "1" {
			t.Errorf("lead %d record %v: want R-00000's metrics (1 attended), not the twin's", lead0, r)
		}
	}
	for range 2 {
		env.Clock.Advance(time.Hour)
		from := len(env.Marketo.Calls())
		run := env.RunJob(t, ctx, "eng")
		if _, writes, _ := marketoCalls(env, from); writes != 0 || run.Counts[store.OutcomeUnchanged] != 400 {
			t.Errorf("unchanged run: %d custom object writes, counts %v; want none and 400 unchanged", writes, run.Counts)
		}
	}
}

// The owner survives a checkpoint: when the run stops after R-00000's
// record and a new invocation continues it, the twin is still skipped.
func TestSharedEngagementRecordOwnerSurvivesCheckpoint(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeEngagementMetrics, jobs.EngagementMetrics))
	engagementObject(env.Marketo, jobs.MetricSessionsRegistered, jobs.MetricSessionsAttended)
	seedLinked(env, 399)
	lead0 := env.Marketo.LeadsByEmail("att00000@example.org")[0].ID()
	pin := env.Certain.AddProfile(jobstest.Account, map[string]any{"email": "ATT00000@example.org", "externalKey": strconv.Itoa(lead0), "sourceOfProfile": "Marketo"})
	env.Certain.AddRegistration(jobstest.Account, "HS26", pin, map[string]any{"registrationCode": "R-twin", "registrationStatusLabel": "Pre-Registered", "isConfirmed": true})
	env.Certain.AddAgendaLine(jobstest.Account, "HS26", map[string]any{"registrationCode": "R-twin", "activityCode": "W1", "status": "REGISTERED"})
	env.PutJob(t, engagementJob("eng", config.ModuleAgenda))
	ctx := context.Background()
	env.InterruptAfter(1) // one agenda page check, then stop after the first registration page
	first := env.RunJob(t, ctx, "eng")
	if first.Outcome != store.RunCheckpointed {
		t.Fatalf("first invocation %s %v, want checkpointed", first.Outcome, first.Counts)
	}
	env.InterruptWhen(nil)
	second := env.RunJob(t, ctx, "eng")
	if second.Counts[store.OutcomeSkipped] != 1 || second.Counts[store.OutcomeUpdated] != 0 {
		t.Errorf("continuation %s %v: want the twin skipped, nothing overwritten", second.Outcome, second.Counts)
	}
	for _, r := range env.Marketo.CustomObjectRecords(jobs.DefaultEngagementObject) {
		if fmt.Sprint(r["leadID"]) == strconv.Itoa(lead0) && fmt.Sprint(r[jobs.MetricSessionsAttended]) != "1" {
			t.Errorf("lead %d record %v: want R-00000's metrics", lead0, r)
		}
	}
}
