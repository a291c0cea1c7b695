package jobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// TestStaleIDFigures measures what checking stored Marketo ids costs at a
// realistic size: 10,000 registrations linked to their leads, of which 2%
// (one in 50) are merged away in Marketo before each job runs. Each job's
// Marketo calls must be exactly what its batching allows: one Get Leads by
// filterType=id per 300 ids checked, the look-ups and writes the healing
// needs, nothing per record.
func TestStaleIDFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 registrations")
	}
	env := newTriggerEnvWith(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads), jobstest.WithFunc(config.TypeEngagementMetrics, jobs.EngagementMetrics))
	ctx := context.Background()
	const n, every = 10000, 50
	codes := make([]string, n)
	leads := make([]int, n)
	for i := range n {
		email := fmt.Sprintf("a%05d@example.org", i)
		leads[i] = env.Marketo.AddLead(marketo.Lead{"email": email})
		_, codes[i] = seedReg(env.Env, map[string]any{"email": email, "firstName": "A", "lastName": fmt.Sprint(i),
			"externalKey": fmt.Sprint(leads[i]), "sourceOfProfile": "Marketo"}, "Pre-Registered")
	}
	// merge merges the leads of every 50th registration from offset off
	// into a new lead with the same e-mail.
	merge := func(off int) int {
		m := 0
		for i := off; i < n; i += every {
			w := env.Marketo.AddLead(marketo.Lead{"email": fmt.Sprintf("a%05d@example.org", i)})
			env.Marketo.MergeLeads(w, leads[i])
			leads[i] = w
			m++
		}
		return m
	}
	env.PutJob(t, syncJob("sync-fig", "Pre-Registered"))
	first := env.RunJob(t, ctx, "sync-fig")
	if first.Counts[store.OutcomeUpdated] != n {
		t.Fatalf("first sync %v", first.Counts)
	}

	// sync-leads: every unchanged registration's id is checked, 300 per
	// call; the merged ones are sent (one Sync Leads call, after the lead
	// describe).
	env.Clock.Advance(time.Hour)
	merged := merge(0)
	second := env.RunJob(t, ctx, "sync-fig")
	wantSync := (n+299)/300 + 1 + (merged+299)/300
	t.Logf("FIGURES sync-leads, %d unchanged registrations, %d merged away: Marketo %d calls (was 0 before stale ids were checked), want %d = %d id checks + describe + %d Sync Leads",
		n, merged, second.MarketoCalls, wantSync, (n+299)/300, (merged+299)/300)
	if second.Counts[jobs.CountStaleIdsHealed] != merged || second.MarketoCalls != wantSync {
		t.Errorf("second sync: %v, %d Marketo calls; want %d healed, %d calls", second.Counts, second.MarketoCalls, merged, wantSync)
	}

	// trigger-campaign: 1,000 changes in SQS batches of 100; each batch
	// checks its stored ids (one call), looks the merged ones up by e-mail
	// (one call) and requests the campaign (one call).
	merged = 0
	for i := 25; i < 1000; i += every {
		w := env.Marketo.AddLead(marketo.Lead{"email": fmt.Sprintf("a%05d@example.org", i)})
		env.Marketo.MergeLeads(w, leads[i])
		leads[i] = w
		merged++
	}
	env.PutJob(t, triggerJob("trig-fig", func(p *config.Params) { p.Tokens = p.Tokens[:1] }))
	before := env.MarketoClient.Stats().Calls
	for b := 0; b < 1000; b += 100 {
		var msgs []jobs.ChangeMessage
		for _, code := range codes[b : b+100] {
			msgs = append(msgs, change(env.Env, code, "Invited", "Pre-Registered"))
		}
		noErrors(t, env.trigger.Handle(ctx, msgs))
	}
	calls := env.MarketoClient.Stats().Calls - before
	requested, healed := 0, 0
	runs, err := env.Store.ListRuns(ctx, "trig-fig", 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		requested += r.Counts[store.OutcomeRequested]
		healed += r.Counts[jobs.CountStaleIdsHealed]
	}
	t.Logf("FIGURES trigger-campaign, 1,000 changes in 10 batches, %d merged away: Marketo %d calls, want 30 = 10 id checks + 10 e-mail look-ups + 10 requests (10 requests before stale ids were checked)", merged, calls)
	if requested != 1000 || healed != merged || calls != 30 {
		t.Errorf("trigger: %d requested, %d healed, %d Marketo calls; want 1000, %d, 30", requested, healed, calls, merged)
	}

	// engagement-metrics: each batch of 300 records is sent once; a batch
	// holding merged leads' records (all of them here) adds the id check, the
	// look-up and the re-send of the refused records.
	engagementObject(env.Marketo, jobs.MetricSessionsRegistered, jobs.MetricSessionsAttended)
	merged = merge(10)
	env.PutJob(t, config.Job{ID: "eng-fig", Account: jobstest.Account, Event: syncEvent, Type: config.TypeEngagementMetrics, Name: "eng", Enabled: true,
		Schedule: config.Schedule{Interval: config.Duration(time.Hour)}, Params: config.Params{Modules: []string{config.ModuleAgenda}}})
	eng := env.RunJob(t, ctx, "eng-fig")
	batches := (n + 299) / 300
	wantEng := 1 + 4*batches
	t.Logf("FIGURES engagement-metrics, %d registrations, %d merged away: Marketo %d calls, want %d = describe + %d batches x (sync, id check, look-up, re-send); with no merged lead: describe + %d syncs",
		n, merged, eng.MarketoCalls, wantEng, batches, batches)
	if eng.Counts[jobs.CountStaleIdsHealed] != merged || eng.Counts[store.OutcomeCreated] != n || eng.MarketoCalls != wantEng {
		t.Errorf("engagement: %s %q %v, %d Marketo calls; want %d healed, %d created, %d calls", eng.Outcome, eng.Error, eng.Counts, eng.MarketoCalls, merged, n, wantEng)
	}
}
