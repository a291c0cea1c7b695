package jobs_test

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
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
// needs, nothing per record. sync-leads runs every 3 hours for two days on
// the manual clock with the default verifyIdsEvery (24h): the stored ids
// are verified by one run a day, ⌈n/300⌉ calls, instead of by every run.
// (Every 3 hours, not every 15 minutes, to keep the test short under
// -race: the runs between verifications make no Marketo call either way.)
func TestStaleIDFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 registrations")
	}
	env := newTriggerEnvWith(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads), jobstest.WithFunc(config.TypeEngagementMetrics, jobs.EngagementMetrics),
		jobstest.WithFunc(config.TypeInterestMetrics, jobs.InterestMetrics))
	ctx := context.Background()
	const n, every = 10000, 50
	codes, pins := make([]string, n), make([]string, n)
	leads := make([]int, n)
	for i := range n {
		email := fmt.Sprintf("a%05d@example.org", i)
		leads[i] = env.Marketo.AddLead(marketo.Lead{"email": email})
		pins[i] = env.Certain.AddProfile(jobstest.Account, map[string]any{"email": email, "firstName": "A", "lastName": fmt.Sprint(i),
			"externalKey": fmt.Sprint(leads[i]), "sourceOfProfile": "Marketo"})
		codes[i] = env.Certain.AddRegistration(jobstest.Account, syncEvent, pins[i], map[string]any{"registrationStatusLabel": "Pre-Registered", "isConfirmed": true})
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
	const tick, runsADay = 3 * time.Hour, 8
	env.PutJob(t, syncJobEvery("sync-fig", tick, "Pre-Registered"))
	first := env.RunJob(t, ctx, "sync-fig")
	if first.Counts[store.OutcomeUpdated] != n {
		t.Fatalf("first sync %v", first.Counts)
	}
	optimum := (n + 299) / 300 // every id verified, 300 per call
	t.Logf("FIGURES sync-leads, %d registrations, first run: Marketo %d calls (describe + %d Sync Leads)", n, first.MarketoCalls, first.MarketoCalls-1)

	// The first run sent every registration, which confirmed every id, and
	// counts as the day's verification: the runs of the next 24 hours make
	// no Marketo call.
	restore := replayRegistrations(env.Env)
	env.Clock.Advance(15 * time.Minute)
	second := env.RunJob(t, ctx, "sync-fig")
	t.Logf("FIGURES sync-leads, unchanged run inside verifyIdsEvery: Marketo %d calls", second.MarketoCalls)
	if second.MarketoCalls != 0 || second.Counts[store.OutcomeUnchanged] != n || second.Counts[jobs.CountIdsChecked] != 0 {
		t.Errorf("unchanged second run: %d Marketo calls, %v; want none, %d unchanged", second.MarketoCalls, second.Counts, n)
	}

	// 2% of the leads are merged away: the first run 24 hours after the
	// last verification checks every id (34 calls) and heals the merged
	// ones (describe + one Sync Leads); the other runs of the day make no
	// call.
	merged := merge(0)
	d1 := syncDay(t, env.Env, "sync-fig", runsADay, tick)
	t.Logf("FIGURES sync-leads, the next day (%d runs, %s apart), %d of %d leads merged away at its start: Marketo %d calls = %d id checks (%d ids) + %d for the healing, all in run %d of the day",
		runsADay, config.Duration(tick), merged, n, d1.calls, d1.checkCalls, d1.idsChecked, d1.calls-d1.checkCalls, d1.lastHealRun)
	if d1.healed != merged || d1.idsChecked != n || d1.checkCalls != optimum || d1.calls != optimum+2 || d1.runsWithCalls != 1 || d1.lastHealRun != runsADay {
		t.Errorf("day with merged leads: %+v; want all %d healed by the last run (the first 24h after the first run), %d ids checked in %d calls, + describe + Sync Leads, in one run", d1, merged, n, optimum)
	}
	for i := 0; i < n; i += every {
		if p := profileByPIN(t, env.Env, pins[i]); p["externalKey"] != fmt.Sprint(leads[i]) {
			t.Fatalf("registration %d: profile holds %v, want the merge winner %d", i, p["externalKey"], leads[i])
		}
	}

	// Steady state: a day with nothing changed makes only the id checks of
	// one run: the optimum.
	d2 := syncDay(t, env.Env, "sync-fig", runsADay, tick)
	t.Logf("FIGURES sync-leads, steady state, a day unchanged (%d runs): Marketo %d calls, all id checks (%d ids), in %d run; %d when every run verified every id (%d on a 15-minute schedule)",
		runsADay, d2.calls, d2.idsChecked, d2.runsWithCalls, runsADay*optimum, 96*optimum)
	if d2.idsChecked != n || d2.calls != d2.checkCalls || d2.calls != optimum || d2.runsWithCalls != 1 || d2.healed != 0 {
		t.Errorf("unchanged day: %+v; want %d ids checked in %d calls, only id checks, in one run", d2, n, optimum)
	}

	// The behaviour before the setting, kept as verifyIdsEvery "0s": every
	// unchanged run checks every id.
	zero := config.Duration(0)
	j := syncJobEvery("sync-fig", tick, "Pre-Registered")
	j.Params.VerifyIDsEvery = &zero
	env.PutJob(t, j)
	d0 := syncDay(t, env.Env, "sync-fig", 2, tick)
	t.Logf("FIGURES sync-leads, verifyIdsEvery 0s (every run, as before the setting): Marketo %d calls per unchanged run", d0.calls/2)
	if d0.calls != 2*optimum || d0.idsChecked != 2*n {
		t.Errorf("verifyIdsEvery 0s, two unchanged runs: %+v; want %d calls, %d ids checked", d0, 2*optimum, 2*n)
	}
	restore()

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

	// engagement-metrics: each batch of 300 records is sent once; the
	// records Marketo refuses for a merged lead (in every batch here) are
	// healed together: one id check, one look-up and one re-send per 300.
	// Before they were pooled, each batch added its own three calls (137).
	engagementObject(env.Marketo, jobs.MetricSessionsRegistered, jobs.MetricSessionsAttended)
	merged = merge(10)
	env.PutJob(t, config.Job{ID: "eng-fig", Account: jobstest.Account, Event: syncEvent, Type: config.TypeEngagementMetrics, Name: "eng", Enabled: true,
		Schedule: config.Schedule{Interval: config.Duration(time.Hour)}, Params: config.Params{Modules: []string{config.ModuleAgenda}}})
	eng := env.RunJob(t, ctx, "eng-fig")
	batches := (n + 299) / 300
	engOptimum := 1 + batches // describe + one sync per 300 records
	wantEng := engOptimum + 3*((merged+299)/300)
	t.Logf("FIGURES engagement-metrics, %d registrations, %d merged away: Marketo %d calls, want %d = describe + %d syncs + (id check, look-up, re-send) per 300 refused; %.3f x the %d with no merged lead",
		n, merged, eng.MarketoCalls, wantEng, batches, float64(eng.MarketoCalls)/float64(engOptimum), engOptimum)
	if eng.Counts[jobs.CountStaleIdsHealed] != merged || eng.Counts[store.OutcomeCreated] != n || eng.MarketoCalls != wantEng || eng.MarketoCalls*10 > engOptimum*11 {
		t.Errorf("engagement: %s %q %v, %d Marketo calls; want %d healed, %d created, %d calls (at most 1.1 x %d)", eng.Outcome, eng.Error, eng.Counts, eng.MarketoCalls, merged, n, wantEng, engOptimum)
	}

	// interest-metrics: two tags per registration, so 150 registrations
	// (300 records) per batch; the 2 x 200 records refused for a merged
	// lead are healed in pools of at least 300 records: per pool one id
	// check, one look-up and a re-send per 300 records.
	interestObject(env.Marketo)
	env.Certain.AddAgendaItem(jobstest.Account, syncEvent, map[string]any{"activityCode": "W1", "tag": []string{"Cloud", "AI"}, "points": 10})
	for _, code := range codes {
		env.Certain.AddAgendaLine(jobstest.Account, syncEvent, map[string]any{"registrationCode": code, "activityCode": "W1", "status": "REGISTERED"})
	}
	ij := interestJob("int-fig", []string{"registered"}, nil)
	ij.Account, ij.Event, ij.Name, ij.Enabled = jobstest.Account, syncEvent, "int", true
	env.PutJob(t, ij)
	merged = merge(20)
	in := env.RunJob(t, ctx, "int-fig")
	intOptimum := 1 + (2*n+299)/300
	t.Logf("FIGURES interest-metrics, %d registrations x 2 tags, %d merged away: Marketo %d calls; %.3f x the %d with no merged lead",
		n, merged, in.MarketoCalls, float64(in.MarketoCalls)/float64(intOptimum), intOptimum)
	if in.Counts[jobs.CountStaleIdsHealed] != merged || in.Counts[store.OutcomeCreated] != 2*n || in.MarketoCalls*10 > intOptimum*11 {
		t.Errorf("interest: %s %q %v, %d Marketo calls; want %d healed, %d created, at most 1.1 x %d calls", in.Outcome, in.Error, in.Counts, in.MarketoCalls, merged, 2*n, intOptimum)
	}
	for i := 20; i < n; i += every {
		recs := 0
		for _, r := range env.Marketo.CustomObjectRecords(jobs.DefaultInterestObject) {
			if fmt.Sprint(r["leadID"]) == fmt.Sprint(leads[i]) {
				recs++
			}
		}
		if recs != 2 {
			t.Fatalf("registration %d: %d interest records linked to the merge winner %d, want 2", i, recs, leads[i])
		}
	}
}

// syncJobEvery is a sync-leads job that runs every tick.
func syncJobEvery(id string, tick time.Duration, statuses ...string) config.Job {
	j := syncJob(id, statuses...)
	j.Schedule.Interval = config.Duration(tick)
	return j
}

// syncFigures sums a series of sync-leads runs.
type syncFigures struct {
	calls, checkCalls, idsChecked, maxRun, runsWithCalls int
	healed, runsHealing, lastHealRun                     int
}

// syncDay runs the job runs times, tick apart on the manual clock, and sums
// its Marketo calls.
func syncDay(t *testing.T, env *jobstest.Env, jobID string, runs int, tick time.Duration) syncFigures {
	t.Helper()
	var f syncFigures
	for i := 1; i <= runs; i++ {
		env.Clock.Advance(tick)
		from := len(env.Marketo.Calls())
		run := env.RunJob(t, context.Background(), jobID)
		if run.Outcome != store.RunSucceeded {
			t.Fatalf("run %d: %s %q %v", i, run.Outcome, run.Error, run.Counts)
		}
		f.calls += run.MarketoCalls
		f.checkCalls += idChecks(env, from)
		f.idsChecked += run.Counts[jobs.CountIdsChecked]
		f.maxRun = max(f.maxRun, run.MarketoCalls)
		if run.MarketoCalls > 0 {
			f.runsWithCalls++
		}
		if h := run.Counts[jobs.CountStaleIdsHealed]; h > 0 {
			f.healed += h
			f.runsHealing++
			f.lastHealRun = i
		}
	}
	return f
}

// replayRegistrations makes the env's job runs read the registrations once
// and replay them for as long as no run writes to Certain through the
// client (a write-back starts a fresh read): 200 runs over 10,000 unchanged
// registrations would otherwise spend minutes encoding and decoding the
// same JSON, and these figures are Marketo's. It returns the undo.
func replayRegistrations(env *jobstest.Env) (restore func()) {
	prev := env.Executor.Connector
	env.Executor.Connector = jobstest.StaticConnector{Clients: jobs.Clients{Marketo: env.Clients.Marketo, Certain: &replayCertain{Certain: env.Clients.Certain}}, Account: jobstest.Account}
	return func() { env.Executor.Connector = prev }
}

// replayCertain is a Certain client whose registration pages are read once
// per query and replayed until the next write.
type replayCertain struct {
	jobs.Certain
	mu    sync.Mutex
	pages map[string][]certain.Page[certain.Registration]
}

func (c *replayCertain) RegistrationPages(ctx context.Context, acct, event string, q certain.RegistrationQuery) iter.Seq2[certain.Page[certain.Registration], error] {
	key := fmt.Sprintf("%s/%s/%+v", acct, event, q)
	return func(yield func(certain.Page[certain.Registration], error) bool) {
		c.mu.Lock()
		pages, ok := c.pages[key]
		c.mu.Unlock()
		if !ok {
			for p, err := range c.Certain.RegistrationPages(ctx, acct, event, q) {
				if err != nil {
					yield(p, err)
					return
				}
				pages = append(pages, p)
			}
			c.mu.Lock()
			if c.pages == nil {
				c.pages = map[string][]certain.Page[certain.Registration]{}
			}
			c.pages[key] = pages
			c.mu.Unlock()
		}
		for _, p := range pages {
			// The job may change the registrations it is given.
			p.Items = append([]certain.Registration(nil), p.Items...)
			if !yield(p, nil) {
				return
			}
		}
	}
}

func (c *replayCertain) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pages = nil
}

func (c *replayCertain) UpdateProfile(ctx context.Context, acct, pin string, changed map[string]any) error {
	c.forget()
	return c.Certain.UpdateProfile(ctx, acct, pin, changed)
}

func (c *replayCertain) CreateProfile(ctx context.Context, acct string, fields map[string]any) (certain.Profile, error) {
	c.forget()
	return c.Certain.CreateProfile(ctx, acct, fields)
}

func (c *replayCertain) CreateRegistration(ctx context.Context, acct, event string, r certain.NewRegistration) (certain.Registration, error) {
	c.forget()
	return c.Certain.CreateRegistration(ctx, acct, event, r)
}
