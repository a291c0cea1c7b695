package jobs_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/memstore"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// profileOf returns the profile with the e-mail on s.
func profileOf(t *testing.T, s *certaintest.Server, email string) map[string]any {
	t.Helper()
	for _, p := range s.Profiles("ACME") {
		if p["email"] == email {
			return p
		}
	}
	t.Fatalf("no profile %s", email)
	return nil
}

// idCheckCalls counts Get Leads by filterType=id calls on the simulator.
func idCheckCalls(e *metricsEnv) int {
	n := 0
	for _, c := range e.mk.Calls() {
		if c.FilterType == "id" {
			n++
		}
	}
	return n
}

// An engagement record addressed to a stored id whose lead was merged away
// is refused by Marketo (1004, lead not found); the job checks the id, finds
// the lead by e-mail (the merge winner), writes it back to the profile,
// sends the record under it, and counts and names the healing. Unchanged
// records address no lead and cost no check.
func TestEngagementHealsStaleLeadID(t *testing.T) {
	e := newMetricsEnv(t, memstore.New())
	engagementObject(e.mk, jobs.MetricSessionsRegistered, jobs.MetricSessionsAttended)
	e.certain.AddEvent("ACME", map[string]any{"eventCode": "HS26", "eventName": "Harbour Summit 2026"})
	lost := attendee(e.certain, e.mk, "R-A", "a@example.org", "Pre-Registered", true, nil)
	live := attendee(e.certain, e.mk, "R-B", "b@example.org", "Pre-Registered", true, nil)
	e.certain.AddAgendaLine("ACME", "HS26", map[string]any{"registrationCode": "R-A", "activityCode": "S1", "status": "ATTENDED"})
	winner := e.mk.AddLead(marketo.Lead{"email": "a@example.org"})
	e.mk.MergeLeads(winner, lost)
	e.putJob(config.Job{ID: "eng", Type: config.TypeEngagementMetrics, Schedule: config.Schedule{Interval: config.Duration(time.Hour)},
		Params: config.Params{CustomObject: jobs.DefaultEngagementObject, Modules: []string{config.ModuleAgenda}}})

	run := e.run("eng", false)
	recs := e.records(jobs.DefaultEngagementObject, "metricKey")
	if r, ok := recs["HS26:"+strconv.Itoa(winner)]; !ok || fmt.Sprint(r["leadID"]) != strconv.Itoa(winner) || fmt.Sprint(r[jobs.MetricSessionsAttended]) != "1" {
		t.Fatalf("records %v: want HS26:%d linked to the merge winner with the metrics", recs, winner)
	}
	if _, ok := recs["HS26:"+strconv.Itoa(live)]; !ok || len(recs) != 2 {
		t.Errorf("records %v, want the live lead's too, and nothing else", recs)
	}
	if p := profileOf(t, e.certain, "a@example.org"); p["externalKey"] != strconv.Itoa(winner) {
		t.Errorf("profile holds %v, want the winner %d", p["externalKey"], winner)
	}
	if run.Outcome != store.RunSucceeded || run.Counts[store.OutcomeCreated] != 2 || run.Counts[jobs.CountStaleIdsHealed] != 1 {
		t.Errorf("run %s %v %q, want succeeded, 2 created, 1 stale id healed", run.Outcome, run.Counts, run.Error)
	}
	outs, err := e.store.ListOutcomes(t.Context(), run.ID, store.OutcomeCreated)
	if err != nil {
		t.Fatal(err)
	}
	named := false
	for _, o := range outs {
		named = named || (o.Key == "R-A" && strings.Contains(o.Reason, fmt.Sprintf("stored Marketo id %d no longer exists", lost)))
	}
	if !named {
		t.Errorf("outcomes %+v: R-A's does not name the stale id", outs)
	}
	checks := idCheckCalls(e)
	run = e.run("eng", false)
	if run.Counts[store.OutcomeUnchanged] != 2 || idCheckCalls(e) != checks || run.MarketoCalls != 1 {
		t.Errorf("unchanged run %v, %d Marketo calls, %d new id checks: want 2 unchanged, the describe only", run.Counts, run.MarketoCalls, idCheckCalls(e)-checks)
	}
}

// An interest 0 that clears a tag of a lead merged away is sent under the
// tag's old key, linked to the lead the registration resolves to now (the
// merge moved the record there), and the profile is healed; the next run
// moves the registration's tags to the new lead and clears the old ones.
func TestInterestHealsStaleLeadID(t *testing.T) {
	e := newMetricsEnv(t, memstore.New())
	interestObject(e.mk)
	lines := []line{{"R-A", "W1", "REGISTERED"}, {"R-A", "W4", "REGISTERED"}}
	ids := seedInterest(e.certain, e.mk, lines)
	e.putJob(interestJob("int", []string{"registered"}, nil))
	if run := e.run("int", false); run.Counts[store.OutcomeCreated] != 3 {
		t.Fatalf("first run %v %q, want 3 created (Security, Cloud, AI)", run.Counts, run.Error)
	}
	lost := ids["R-A"]
	winner := e.mk.AddLead(marketo.Lead{"email": "R-A@example.org"})
	e.mk.MergeLeads(winner, lost)
	// R-A cancels W4 (AI).
	next := certaintest.NewServer(t)
	seedInterest(next, nil, []line{{"R-A", "W1", "REGISTERED"}, {"R-A", "W4", "CANCELLED"}}, ids)
	e.setCertain(next)

	run := e.run("int", false)
	old := func(tag string) string { return "HS26:" + strconv.Itoa(lost) + ":" + tag }
	neu := func(tag string) string { return "HS26:" + strconv.Itoa(winner) + ":" + tag }
	recs := e.records(jobs.DefaultInterestObject, "interestKey")
	if r := recs[old("AI")]; fmt.Sprint(r["interestPoints"]) != "0" || fmt.Sprint(r["leadID"]) != strconv.Itoa(winner) {
		t.Fatalf("AI record after the merge: %v, want 0 linked to the winner %d", r, winner)
	}
	if p := profileOf(t, next, "R-A@example.org"); p["externalKey"] != strconv.Itoa(winner) {
		t.Errorf("profile holds %v, want the winner %d", p["externalKey"], winner)
	}
	if run.Counts[jobs.CountStaleIdsHealed] != 1 || run.Counts[store.OutcomeFailed] != 0 {
		t.Errorf("second run %v, want 1 stale id healed and no failure", run.Counts)
	}

	e.run("int", false)
	want := map[string]string{old("Security"): "0", old("Cloud"): "0", old("AI"): "0", neu("Security"): "15", neu("Cloud"): "15"}
	for k, v := range points(e) {
		if strings.Contains(k, ":"+strconv.Itoa(ids["R-B"])+":") {
			continue // R-B registered for nothing here
		}
		if want[k] != v {
			t.Errorf("record %s = %s, want %s", k, v, want[k])
		}
		delete(want, k)
	}
	if len(want) != 0 {
		t.Errorf("missing records %v", want)
	}
	run = e.run("int", false)
	if run.Counts[store.OutcomeCreated]+run.Counts[store.OutcomeUpdated]+run.Counts[store.OutcomeFailed] != 0 || run.MarketoCalls != 1 {
		t.Errorf("fourth run %v, %d Marketo calls: want nothing sent, the describe only", run.Counts, run.MarketoCalls)
	}
}

// Records refused for a merged lead wait in the run's pool to be healed
// with those of later batches. When the invocation stops at its deadline
// past them and their healing then fails (the daily quota, on the id
// check), the checkpoint stays before their batch: the continuation sends
// them again and heals them, and nothing is lost.
func TestEngagementPooledHealingSurvivesAStop(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeEngagementMetrics, jobs.EngagementMetrics))
	engagementObject(env.Marketo, jobs.MetricSessionsRegistered, jobs.MetricSessionsAttended)
	seedLinked(env, 900)
	winner := mergeAway(env.Marketo, "att00010@example.org")
	env.PutJob(t, engagementJob("eng", config.ModuleAgenda))
	ctx := context.Background()

	runStoppedAtQuota(t, ctx, env, "eng")
	second := env.RunJob(t, ctx, "eng")
	if second.Outcome != store.RunSucceeded || second.Counts[jobs.CountStaleIdsHealed] != 1 {
		t.Fatalf("continuation %s %q %v, want succeeded with 1 stale id healed", second.Outcome, second.Error, second.Counts)
	}
	recs := map[string]marketo.Record{}
	for _, r := range env.Marketo.CustomObjectRecords(jobs.DefaultEngagementObject) {
		recs[fmt.Sprint(r["leadID"])] = r
	}
	if r, ok := recs[strconv.Itoa(winner)]; !ok || fmt.Sprint(r[jobs.MetricSessionsAttended]) != "1" {
		t.Errorf("record of the merge winner %d: %v, want 1 attended", winner, r)
	}
	if len(recs) != 900 {
		t.Errorf("%d records, want 900", len(recs))
	}
}

// The same for interest-metrics, which also keeps a manifest per
// registration (the tags Marketo holds): the continuation heals the held
// records, and the run after it sends nothing (manifests and hashes agree
// with Marketo).
func TestInterestPooledHealingSurvivesAStop(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeInterestMetrics, jobs.InterestMetrics))
	interestObject(env.Marketo)
	seedLinked(env, 900) // tags Cloud and AI each: 150 registrations a batch
	winner := mergeAway(env.Marketo, "att00010@example.org")
	j := interestJob("int", []string{"attended"}, nil)
	j.Account, j.Event, j.Name, j.Enabled = jobstest.Account, "HS26", "int", true
	env.PutJob(t, j)
	ctx := context.Background()

	runStoppedAtQuota(t, ctx, env, "int")
	second := env.RunJob(t, ctx, "int")
	if second.Outcome != store.RunSucceeded || second.Counts[jobs.CountStaleIdsHealed] != 1 {
		t.Fatalf("continuation %s %q %v, want succeeded with 1 stale id healed", second.Outcome, second.Error, second.Counts)
	}
	byLead := map[string]int{}
	for _, r := range env.Marketo.CustomObjectRecords(jobs.DefaultInterestObject) {
		byLead[fmt.Sprint(r["leadID"])]++
	}
	if byLead[strconv.Itoa(winner)] != 2 || len(byLead) != 900 {
		t.Errorf("%d leads with records, the winner %d has %d; want 900, 2", len(byLead), winner, byLead[strconv.Itoa(winner)])
	}
	env.Clock.Advance(time.Hour)
	third := env.RunJob(t, ctx, "int")
	if third.Outcome != store.RunSucceeded || third.MarketoCalls != 1 || third.Counts[store.OutcomeUnchanged] != 1800 {
		t.Errorf("unchanged run %s %v, %d Marketo calls; want 1800 unchanged and the describe only", third.Outcome, third.Counts, third.MarketoCalls)
	}
}

// A Certain read error later in the run does not take the checkpoint back
// to the first batch whose refused record waits in the pool: the pool is
// healed before the checkpoint is saved, at the page that failed.
func TestEngagementPooledHealingBeforeAReadErrorsCheckpoint(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeEngagementMetrics, jobs.EngagementMetrics),
		jobstest.WithCertainClient(func(c *certain.Config) { c.ReadAhead = -1 })) // pages in turn: the fault hits the third
	engagementObject(env.Marketo, jobs.MetricSessionsRegistered, jobs.MetricSessionsAttended)
	seedLinked(env, 2000)
	winner := mergeAway(env.Marketo, "att00010@example.org")
	env.PutJob(t, engagementJob("eng", config.ModuleAgenda))
	ctx := context.Background()

	// Once two pages are read and the first batch (R-00000..R-00299) is in
	// Marketo with its refused record pooled, the third page is refused
	// (400: the run fails there).
	var once sync.Once
	env.InterruptWhen(func(string) bool {
		if registrationPages(env) >= 2 {
			once.Do(func() {
				for i := 0; i < 500 && len(env.Marketo.CustomObjectRecords(jobs.DefaultEngagementObject)) < 299; i++ {
					time.Sleep(10 * time.Millisecond)
				}
				env.Certain.FailNext("Registration/"+jobstest.Account+"/HS26", 1, 400, 0)
			})
		}
		return false
	})
	first := env.RunJob(t, ctx, "eng")
	env.InterruptWhen(nil)
	cp, err := env.Store.GetCheckpoint(ctx, "eng")
	if first.Outcome != store.RunFailed || err != nil || first.Counts[jobs.CountStaleIdsHealed] != 1 {
		t.Fatalf("first run %s %q %v, checkpoint %v; want failed at the refused page with the pooled record healed", first.Outcome, first.Error, first.Counts, err)
	}
	// 200: the second page's last 100 registrations were still buffered
	// (not yet a batch of 300); not 0, the pooled batch's offset.
	if !strings.Contains(string(cp.Data), `"next":200`) {
		t.Errorf("checkpoint %s, want 200, the first registration not sent (not the pooled batch's 0)", cp.Data)
	}
	second := env.RunJob(t, ctx, "eng")
	if second.Outcome != store.RunSucceeded {
		t.Fatalf("continuation %s %q %v", second.Outcome, second.Error, second.Counts)
	}
	leads := map[string]bool{}
	for _, r := range env.Marketo.CustomObjectRecords(jobs.DefaultEngagementObject) {
		leads[fmt.Sprint(r["leadID"])] = true
	}
	if len(leads) != 2000 || !leads[strconv.Itoa(winner)] {
		t.Errorf("%d leads with a record (the winner %d: %v), want 2000 with the winner", len(leads), winner, leads[strconv.Itoa(winner)])
	}
}

// mergeAway merges the one lead of email into a new lead with the same
// e-mail, as Marketo's merge does, and returns the winner.
func mergeAway(mk *marketotest.Server, email string) (winner int) {
	lost := mk.LeadsByEmail(email)[0].ID()
	winner = mk.AddLead(marketo.Lead{"email": email})
	mk.MergeLeads(winner, lost)
	return winner
}

// registrationPages counts the registration pages Certain was asked for.
func registrationPages(env *jobstest.Env) int {
	n := 0
	for _, c := range env.Certain.Calls() {
		if strings.Contains(c.Path, "/Registration/") {
			n++
		}
	}
	return n
}

// stopAfterFirstPage is a ShouldStop that stops a run once the first
// registration page is read: its batch is sent at the stop, and the
// checkpoint would be past it.
// runStoppedAtQuota runs job stopped after its first page
// (R-00000..R-00199), whose batch is sent at the stop with its refused
// record pooled, with the pool's id check refused for the daily quota: the
// run must end on the quota with its checkpoint at the first batch (offset
// 0), since that record is not healed.
func runStoppedAtQuota(t *testing.T, ctx context.Context, env *jobstest.Env, job string) {
	t.Helper()
	env.InterruptWhen(stopAfterFirstPage(env))
	env.Marketo.FailNext("/rest/v1/leads.json", 1, "607")
	first := env.RunJob(t, ctx, job)
	env.InterruptWhen(nil)
	cp, err := env.Store.GetCheckpoint(ctx, job)
	if first.Outcome != store.RunQuota || err != nil || !strings.Contains(string(cp.Data), `"next":0`) {
		t.Fatalf("first run %s %q %v, checkpoint %s %v; want quota with a checkpoint at 0", first.Outcome, first.Error, first.Counts, cp.Data, err)
	}
}

func stopAfterFirstPage(env *jobstest.Env) func(string) bool {
	return func(string) bool { return registrationPages(env) > 0 }
}
