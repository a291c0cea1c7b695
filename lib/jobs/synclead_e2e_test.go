package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

const syncEvent = "HS26"

func syncJob(id string, statuses ...string) config.Job {
	return config.Job{ID: id, Account: jobstest.Account, Event: syncEvent, Type: config.TypeSyncLeads, Name: "sync",
		Enabled: true, Schedule: config.Schedule{Interval: config.Duration(time.Hour)}, Params: config.Params{Statuses: statuses}}
}

// seedReg adds a profile and its registration and returns the codes.
func seedReg(env *jobstest.Env, profile map[string]any, status string) (pin, code string) {
	pin = env.Certain.AddProfile(jobstest.Account, profile)
	code = env.Certain.AddRegistration(jobstest.Account, syncEvent, pin, map[string]any{"registrationStatusLabel": status})
	return pin, code
}

func profileByPIN(t *testing.T, env *jobstest.Env, pin string) map[string]any {
	t.Helper()
	for _, p := range env.Certain.Profiles(jobstest.Account) {
		if p["pin"] == pin {
			return p
		}
	}
	t.Fatalf("no profile %s", pin)
	return nil
}

func outcomesByKey(t *testing.T, env *jobstest.Env, runID string) map[string]store.RecordOutcome {
	t.Helper()
	m := map[string]store.RecordOutcome{}
	for _, o := range env.Outcomes(t, runID) {
		m[o.Key] = o
	}
	return m
}

func TestSyncLeadsEndToEnd(t *testing.T) {
	for _, dyn := range []bool{false, true} {
		name := map[bool]string{false: "memstore", true: "dynamodb"}[dyn]
		t.Run(name, func(t *testing.T) {
			opts := []jobstest.Option{jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads)}
			if dyn {
				opts = append(opts, jobstest.WithDynamo())
			}
			env := jobstest.New(t, opts...)
			ctx := context.Background()
			env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": syncEvent, "eventName": "Harbour Summit"})
			existing := env.Marketo.AddLead(marketo.Lead{"email": "yu.chen@example.com", "company": "Contoso", "firstName": "Old"})
			pinNew, codeNew := seedReg(env, map[string]any{"email": "lena.ortiz@example.net", "firstName": "Lena", "organization": "Northwind"}, "Pre-Registered")
			pinOld, codeOld := seedReg(env, map[string]any{"email": "yu.chen@example.com", "firstName": "Yu", "organization": ""}, "Attended")
			_, codeInvited := seedReg(env, map[string]any{"email": "inv@example.org", "firstName": "In"}, "Invited")
			_, codeOther := seedReg(env, map[string]any{"email": "sf@example.org", "externalKey": "00Q1", "sourceOfProfile": "Salesforce"}, "Attended")
			env.PutJob(t, syncJob("sync-1", "Pre-Registered", "attended"))

			run := env.RunJob(t, ctx, "sync-1")
			if run.Outcome != store.RunSucceeded {
				t.Fatalf("run %+v", run)
			}
			outs := outcomesByKey(t, env, run.ID)
			if outs[codeNew].Outcome != store.OutcomeCreated || outs[codeOld].Outcome != store.OutcomeUpdated || outs[codeOther].Outcome != store.OutcomeSkipped {
				t.Fatalf("outcomes %+v", outs)
			}
			if _, ok := outs[codeInvited]; ok {
				t.Fatal("registration with an unselected status was synced")
			}
			leads := env.Marketo.LeadsByEmail("lena.ortiz@example.net")
			if len(leads) != 1 || leads[0]["company"] != "Northwind" {
				t.Fatalf("created lead %v", leads)
			}
			if l := env.Marketo.LeadsByEmail("yu.chen@example.com"); len(l) != 1 || l[0]["company"] != "Contoso" || l[0]["firstName"] != "Yu" {
				t.Fatalf("blank organization must keep Marketo's company: %v", l)
			}
			if p := profileByPIN(t, env, pinNew); p["externalKey"] != fmt.Sprint(leads[0].ID()) || p["sourceOfProfile"] != "Marketo" {
				t.Fatalf("write-back on created lead: %v", p)
			}
			if p := profileByPIN(t, env, pinOld); p["externalKey"] != fmt.Sprint(existing) {
				t.Fatalf("write-back on updated lead: %v", p)
			}
			if run.MarketoCalls != 2 { // describe + one createOrUpdate (the Salesforce profile is skipped)
				t.Errorf("first run made %d Marketo calls, want 2", run.MarketoCalls)
			}

			// Nothing changed: nothing sent, and no Marketo call: the first
			// run counts as the verification of the two stored ids, and the
			// next is due a day later (verifyIdsEvery).
			env.Clock.Advance(2 * time.Hour)
			run2 := env.RunJob(t, ctx, "sync-1")
			if run2.MarketoCalls != 0 || run2.Counts[store.OutcomeUnchanged] != 2 || run2.Counts[store.OutcomeCreated]+run2.Counts[store.OutcomeUpdated] != 0 {
				t.Fatalf("unchanged run: %d Marketo calls, counts %v", run2.MarketoCalls, run2.Counts)
			}
			// A day later the two stored ids are due: one call checks both.
			env.Clock.Advance(24 * time.Hour)
			from := len(env.Marketo.Calls())
			if run := env.RunJob(t, ctx, "sync-1"); run.MarketoCalls != 1 || idChecks(env, from) != 1 || run.Counts[jobs.CountIdsChecked] != 2 || run.Counts[store.OutcomeUnchanged] != 2 {
				t.Fatalf("unchanged run a day later: %d Marketo calls (%d id checks), counts %v", run.MarketoCalls, idChecks(env, from), run.Counts)
			}

			// One profile changes: only it is sent; force resends everything.
			if err := env.CertainClient.UpdateProfile(ctx, jobstest.Account, pinOld, map[string]any{"position": "CTO"}); err != nil {
				t.Fatal(err)
			}
			run3 := env.RunJob(t, ctx, "sync-1")
			if run3.Counts[store.OutcomeUpdated] != 1 || run3.Counts[store.OutcomeUnchanged] != 1 {
				t.Fatalf("delta run counts %v", run3.Counts)
			}
			if l := env.Marketo.LeadsByEmail("yu.chen@example.com"); l[0]["title"] != "CTO" {
				t.Fatalf("changed field not sent: %v", l)
			}
			sum, err := env.Executor.RunNow(ctx, "sync-1", true)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Counts[store.OutcomeUpdated] != 2 {
				t.Fatalf("forced run counts %v", sum.Counts)
			}
			if n := len(env.Marketo.Leads()); n != 2 {
				t.Fatalf("%d leads in Marketo, want 2 (no duplicates)", n)
			}
		})
	}
}

func TestSyncLeadsUnknownMarketoFieldIsConfigError(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads), jobstest.WithConnection(func(c *config.Connection) {
		c.FieldMapping = append(c.FieldMapping, config.FieldMap{Certain: "badgeName", Marketo: "badgeNickname"})
	}))
	ctx := context.Background()
	seedReg(env, map[string]any{"email": "a@example.org", "badgeName": "A"}, "Attended")
	env.PutJob(t, syncJob("sync-cfg", "Attended"))
	run := env.RunJob(t, ctx, "sync-cfg")
	if run.Outcome != store.RunFailed || !strings.Contains(run.Error, "badgeNickname") || !strings.Contains(run.Error, jobs.ErrConfig.Error()) {
		t.Fatalf("run %+v", run)
	}
	if n := env.Marketo.CountPath("/rest/v1/leads.json"); n != 0 || len(env.Marketo.Leads()) != 0 {
		t.Fatalf("%d lead writes before the configuration check failed", n)
	}
}

// TestSyncLeadsResumes: a run interrupted at its deadline, and one stopped by
// the daily quota, are finished by the next invocations: every registration
// ends as exactly one lead, and none is sent twice.
func TestSyncLeadsResumes(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	ctx := context.Background()
	const n = 1100
	for i := range n {
		seedReg(env, map[string]any{"email": fmt.Sprintf("p%04d@example.org", i), "firstName": fmt.Sprint("P", i)}, "Attended")
	}
	env.PutJob(t, syncJob("sync-big", "Attended"))

	env.InterruptAfter(3) // stop at the 4th page
	run := env.RunJob(t, ctx, "sync-big")
	if run.Outcome != store.RunCheckpointed {
		t.Fatalf("interrupted run %+v", run)
	}
	env.InterruptWhen(nil)
	first := run.Counts[store.OutcomeCreated]

	env.Marketo.ExhaustQuota()
	run = env.RunJob(t, ctx, "sync-big")
	if run.Outcome != store.RunQuota {
		t.Fatalf("quota run %+v", run)
	}
	env.Clock.Advance(24 * time.Hour) // past the reset
	run = env.RunJob(t, ctx, "sync-big")
	if run.Outcome != store.RunSucceeded {
		t.Fatalf("final run %+v", run)
	}
	total := first + run.Counts[store.OutcomeCreated]
	if total != n || len(env.Marketo.Leads()) != n {
		t.Fatalf("created %d (+%d unchanged), %d leads in Marketo, want %d", total, run.Counts[store.OutcomeUnchanged], len(env.Marketo.Leads()), n)
	}
	if run.Counts[store.OutcomeUpdated] != 0 {
		t.Fatalf("%d registrations sent twice", run.Counts[store.OutcomeUpdated])
	}
}

// TestSyncLeadsFigures measures the calls of a first sync of 10,000
// registrations and of a second run with nothing changed.
func TestSyncLeadsFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 registrations")
	}
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	ctx := context.Background()
	const n = 10000
	for i := range n {
		seedReg(env, map[string]any{"email": fmt.Sprintf("a%05d@example.org", i), "firstName": "A", "lastName": fmt.Sprint(i), "organization": "Org"}, "Pre-Registered")
	}
	env.PutJob(t, syncJob("sync-10k", "Pre-Registered"))
	first := env.RunJob(t, ctx, "sync-10k")
	env.Clock.Advance(2 * time.Hour)
	second := env.RunJob(t, ctx, "sync-10k")
	t.Logf("FIGURES first sync of %d: Marketo %d calls, Certain %d calls (%d pages + %d profile write-backs); unchanged second run: Marketo %d, Certain %d",
		n, first.MarketoCalls, first.CertainCalls, env.Certain.CountCalls("GET", "Registration"), env.Certain.CountCalls("POST", "Profile"), second.MarketoCalls, second.CertainCalls)
	if first.Counts[store.OutcomeCreated] != n || second.Counts[store.OutcomeUnchanged] != n {
		t.Fatalf("first %v, second %v", first.Counts, second.Counts)
	}
	// The second run writes nothing and, inside verifyIdsEvery (24h), checks
	// nothing: the first run's sends confirmed the ids. A run 24 hours after
	// the first verifies the n stored ids, 300 per call across Certain's
	// pages of 200.
	if first.MarketoCalls != 1+(n+299)/300 || second.MarketoCalls != 0 {
		t.Fatalf("Marketo calls %d then %d, want %d then 0", first.MarketoCalls, second.MarketoCalls, 1+(n+299)/300)
	}
	env.Clock.Advance(22 * time.Hour)
	third := env.RunJob(t, ctx, "sync-10k")
	t.Logf("FIGURES unchanged run 24h after the first (verifies the stored ids): Marketo %d calls", third.MarketoCalls)
	if third.MarketoCalls != (n+299)/300 || third.Counts[jobs.CountIdsChecked] != n || third.Counts[store.OutcomeUnchanged] != n {
		t.Fatalf("verifying run: %d Marketo calls, %v; want %d, %d ids checked", third.MarketoCalls, third.Counts, (n+299)/300, n)
	}
	if pages := (n + 199) / 200; first.CertainCalls > pages+1+n || second.CertainCalls > pages+1 {
		t.Fatalf("Certain calls %d then %d", first.CertainCalls, second.CertainCalls)
	}
}

// TestSyncLeadsSharedEmail: two Certain profiles with one email (different
// case) in the same batch make one lead, without a 1036, and both profiles
// get its id; a Marketo email held by two leads is a 1007 failure.
func TestSyncLeadsSharedEmail(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	ctx := context.Background()
	pinA, _ := seedReg(env, map[string]any{"email": "pat@example.org", "firstName": "Pat"}, "Attended")
	pinB, _ := seedReg(env, map[string]any{"email": "PAT@example.org", "organization": "Fabrikam"}, "Attended")
	env.Marketo.AddLead(marketo.Lead{"email": "twin@example.org"})
	env.Marketo.AddLead(marketo.Lead{"email": "twin@example.org"})
	_, codeTwin := seedReg(env, map[string]any{"email": "twin@example.org"}, "Attended")
	env.PutJob(t, syncJob("sync-shared", "Attended"))
	run := env.RunJob(t, ctx, "sync-shared")
	leads := env.Marketo.LeadsByEmail("pat@example.org")
	if len(leads) != 1 || leads[0]["firstName"] != "Pat" || leads[0]["company"] != "Fabrikam" {
		t.Fatalf("leads %v", leads)
	}
	id := fmt.Sprint(leads[0].ID())
	if profileByPIN(t, env, pinA)["externalKey"] != id || profileByPIN(t, env, pinB)["externalKey"] != id {
		t.Fatal("both profiles must carry the one lead's id")
	}
	if o := outcomesByKey(t, env, run.ID)[codeTwin]; o.Outcome != store.OutcomeFailed || o.Code != "1007" || !strings.Contains(o.Reason, "share this email") {
		t.Fatalf("duplicate Marketo email outcome %+v", o)
	}
	if run.Outcome != store.RunPartial {
		t.Fatalf("run outcome %s, want partial (a failure the operator must see)", run.Outcome)
	}
	// Two registrations are "created", and the run record also says Marketo
	// made one lead for them.
	if run.Counts[store.OutcomeCreated] != 2 || run.Counts["leadsCreated"] != 1 {
		t.Fatalf("counts %v: want 2 registrations created and leadsCreated 1", run.Counts)
	}
}
