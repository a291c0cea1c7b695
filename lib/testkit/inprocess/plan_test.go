package inprocess

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
)

// writeCounter counts every call of a writing store method.
type writeCounter struct {
	store.Store
	mu    sync.Mutex
	calls []string
}

func (w *writeCounter) note(m string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, m)
}

func (w *writeCounter) writes() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.calls)
}

func (w *writeCounter) ClaimJob(ctx context.Context, jobID, runID string, v int64, lease, now time.Time) (bool, error) {
	w.note("ClaimJob")
	return w.Store.ClaimJob(ctx, jobID, runID, v, lease, now)
}

func (w *writeCounter) ReleaseJob(ctx context.Context, jobID, runID string, next time.Time, outcome string) error {
	w.note("ReleaseJob")
	return w.Store.ReleaseJob(ctx, jobID, runID, next, outcome)
}

func (w *writeCounter) PutRun(ctx context.Context, r store.Run) error {
	w.note("PutRun")
	return w.Store.PutRun(ctx, r)
}

func (w *writeCounter) AddOutcomes(ctx context.Context, runID string, outs []store.RecordOutcome) (int, error) {
	w.note("AddOutcomes")
	return w.Store.AddOutcomes(ctx, runID, outs)
}

func (w *writeCounter) PutCheckpoint(ctx context.Context, jobID string, cp store.Checkpoint, v int64) (int64, error) {
	w.note("PutCheckpoint")
	return w.Store.PutCheckpoint(ctx, jobID, cp, v)
}

func (w *writeCounter) DeleteCheckpoint(ctx context.Context, jobID string, v int64) error {
	w.note("DeleteCheckpoint")
	return w.Store.DeleteCheckpoint(ctx, jobID, v)
}

func (w *writeCounter) BeginIdem(ctx context.Context, key string, lock time.Time, ret time.Duration, now time.Time) (store.IdemResult, error) {
	w.note("BeginIdem")
	return w.Store.BeginIdem(ctx, key, lock, ret, now)
}

func (w *writeCounter) CompleteIdem(ctx context.Context, key string, res []byte, ret time.Duration, now time.Time) error {
	w.note("CompleteIdem")
	return w.Store.CompleteIdem(ctx, key, res, ret, now)
}

func (w *writeCounter) AbortIdem(ctx context.Context, key string) error {
	w.note("AbortIdem")
	return w.Store.AbortIdem(ctx, key)
}

func (w *writeCounter) PutWatermark(ctx context.Context, scope string, t time.Time) error {
	w.note("PutWatermark")
	return w.Store.PutWatermark(ctx, scope, t)
}

func (w *writeCounter) PutLastStatuses(ctx context.Context, scope string, st map[string]string) error {
	w.note("PutLastStatuses")
	return w.Store.PutLastStatuses(ctx, scope, st)
}

func (w *writeCounter) PutHashes(ctx context.Context, scope string, h map[string]string) error {
	w.note("PutHashes")
	return w.Store.PutHashes(ctx, scope, h)
}

func (w *writeCounter) DeleteHashes(ctx context.Context, scope string, keys []string) error {
	w.note("DeleteHashes")
	return w.Store.DeleteHashes(ctx, scope, keys)
}

// marketoWrites are the calls of log that write: every POST but a read
// sent as POST ?_method=GET and the identity call.
func marketoWrites(log []marketotest.CallLog) map[string]int {
	out := map[string]int{}
	for _, c := range log {
		if c.Method != "POST" || strings.Contains(c.URL, "_method=GET") || strings.HasPrefix(c.Path, "/identity") {
			continue
		}
		switch {
		case c.Path == "/rest/v1/leads.json":
			out["syncLeads"]++
		case strings.HasPrefix(c.Path, "/rest/v1/campaigns/"):
			out["requestCampaign"]++
		case strings.HasPrefix(c.Path, "/rest/v1/customobjects/"):
			out["syncCustomObjects"]++
		default:
			out[c.Path]++
		}
	}
	return out
}

// recordPairs lists "key outcome" of each record, sorted.
func recordPairs[T any](outs []T, pair func(T) string) []string {
	var ps []string
	for _, o := range outs {
		ps = append(ps, pair(o))
	}
	slices.Sort(ps)
	return ps
}

// outcomeKinds are the per-record outcome counts a plan and a run compare.
var outcomeKinds = []string{store.OutcomeCreated, store.OutcomeUpdated, store.OutcomeSkipped, store.OutcomeFailed,
	store.OutcomeUnchanged, store.OutcomeRequested}

// TestPlanWritesNothingAndTheRunDoesWhatItSaid plans every job of the demo
// through its function's dry-run payload, then runs it for real: the plan
// makes no Marketo write (Sync Leads, Sync Custom Objects, Request
// Campaign), no Certain write (any call but GET) and no store write, and
// the real run that follows records the same outcome for every record and
// makes exactly the write calls the plan listed.
func TestPlanWritesNothingAndTheRunDoesWhatItSaid(t *testing.T) {
	ctx := context.Background()
	counter := &writeCounter{}
	env, err := Start(ctx, Options{WrapStore: func(s store.Store) store.Store { counter.Store = s; return counter }})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	for _, c := range []struct{ fn, job string }{
		{FnImportLeads, demodata.JobImportLeads},
		{FnImportLeads, demodata.JobImportProfiles},
		{FnSyncLeads, demodata.JobSyncLeads},
		{FnEngagementMetrics, demodata.JobEngagement},
		{FnInterestMetrics, demodata.JobInterest},
		{FnTriggerCampaign, demodata.JobTrigger},
	} {
		t.Run(c.job, func(t *testing.T) {
			p := planChecked(t, env, counter, c.fn, fmt.Sprintf(`{"jobId":%q,"dryRun":true,"limit":-1}`, c.job))
			if c.fn == FnTriggerCampaign {
				// Every registration now in the job's status is planned; the
				// real run replays five of them (each is a Request Campaign
				// of its own, paced by the budget), planned by name.
				if p.Totals.Changes < 5 || len(p.Changes) != p.Totals.Changes {
					t.Fatalf("trigger plan changes: %d listed of %d", len(p.Changes), p.Totals.Changes)
				}
				var codes []string
				for _, ch := range p.Changes[:5] {
					codes = append(codes, ch.RegistrationCode)
				}
				regs, _ := json.Marshal(codes)
				p = planChecked(t, env, counter, c.fn, fmt.Sprintf(`{"jobId":%q,"dryRun":true,"limit":-1,"registrations":%s}`, c.job, regs))
				if p.Totals.Changes != 5 {
					t.Fatalf("plan of 5 registrations has %d changes", p.Totals.Changes)
				}
			}
			t.Logf("plan of %s: %s; counts %v; writes %+v; took %s", c.job, p.Outcome, p.Counts, p.Writes.Calls, p.Took)
			m1, c1 := len(env.Marketo.Calls()), len(env.Certain.Calls())
			got, runOuts := runForReal(t, ctx, env, c.fn, c.job, p)
			for _, k := range outcomeKinds {
				if p.Counts[k] != got[k] {
					t.Errorf("%s: plan %d, run %d (plan counts %v, run counts %v)", k, p.Counts[k], got[k], p.Counts, got)
				}
			}
			planned := recordPairs(p.Records, func(r jobs.PlanRecord) string { return r.Key + " " + r.Outcome })
			ran := recordPairs(runOuts, func(o store.RecordOutcome) string { return o.Key + " " + o.Outcome })
			if !slices.Equal(planned, ran) {
				t.Errorf("records: plan %v\nrun %v", planned, ran)
			}
			want := map[string]int{"syncLeads": p.Writes.Calls.SyncLeads, "requestCampaign": p.Writes.Calls.RequestCampaign,
				"syncCustomObjects": p.Writes.Calls.SyncCustomObjects}
			gotW := marketoWrites(env.Marketo.Calls()[m1:])
			for k, n := range want {
				if gotW[k] != n {
					t.Errorf("Marketo %s calls: plan %d, run %d", k, n, gotW[k])
				}
			}
			posts := 0
			for _, call := range env.Certain.Calls()[c1:] {
				if call.Method != "GET" {
					posts++
				}
			}
			if posts != p.Writes.Calls.Certain() {
				t.Errorf("Certain writes: plan %d (%+v), run %d", p.Writes.Calls.Certain(), p.Writes.Calls, posts)
			}
		})
	}
}

// planChecked plans through fn's dry-run payload and checks that the plan
// wrote nothing anywhere, read something and found something to write.
func planChecked(t *testing.T, env *Env, counter *writeCounter, fn, payload string) *jobs.Plan {
	t.Helper()
	m0, c0, w0 := len(env.Marketo.Calls()), len(env.Certain.Calls()), len(counter.writes())
	var resp app.Response
	invokeJSON(t, env, fn, payload, &resp)
	p := resp.Plan
	if p == nil || !p.DryRun || !p.Complete || p.Error != "" {
		t.Fatalf("plan = %+v", p)
	}
	if w := marketoWrites(env.Marketo.Calls()[m0:]); len(w) > 0 {
		t.Errorf("the plan wrote to Marketo: %v", w)
	}
	for _, call := range env.Certain.Calls()[c0:] {
		if call.Method != "GET" {
			t.Errorf("the plan wrote to Certain: %s %s", call.Method, call.Path)
		}
	}
	if w := counter.writes()[w0:]; len(w) > 0 {
		t.Errorf("the plan wrote to the store: %v", w)
	}
	if len(env.Marketo.Calls()) == m0 && len(env.Certain.Calls()) == c0 {
		t.Error("the plan read nothing")
	}
	if p.Writes.Calls.Marketo()+p.Writes.Calls.Certain() == 0 {
		t.Fatalf("the plan found nothing to write: %+v", p.Counts)
	}
	return p
}

func invokeJSON(t *testing.T, env *Env, fn, payload string, out any) {
	t.Helper()
	ictx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	raw, err := env.Invoke(ictx, fn, []byte(payload))
	if err != nil {
		t.Fatalf("%s %s: %v", fn, payload, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s: decode %s: %v", fn, raw, err)
	}
}

// runForReal runs the job as the plan did: a direct run, or, for
// trigger-campaign, the plan's changes delivered through the queue. It
// returns the run's counts and kept outcomes.
func runForReal(t *testing.T, ctx context.Context, env *Env, fn, job string, p *jobs.Plan) (map[string]int, []store.RecordOutcome) {
	t.Helper()
	if fn != FnTriggerCampaign {
		// The direct run is queued (its run id answered) and run from the
		// function's work queue.
		var resp app.Response
		invokeJSON(t, env, fn, fmt.Sprintf(`{"jobId":%q}`, job), &resp)
		if resp.Queued == nil || resp.Queued.RunID == "" {
			t.Fatalf("no queued run in %+v", resp)
		}
		if _, err := env.Deliver(ctx, fn, time.Minute); err != nil {
			t.Fatal(err)
		}
		run, err := env.Store.GetRun(ctx, resp.Queued.RunID)
		if err != nil {
			t.Fatalf("the queued run %s: %v", resp.Queued.RunID, err)
		}
		outs, err := env.Store.ListOutcomes(ctx, run.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		return run.Counts, outs
	}
	if len(p.Changes) == 0 {
		t.Fatal("the trigger plan lists no change")
	}
	before, err := env.Store.ListRuns(ctx, job, 100)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Queue.SendChanges(ctx, p.Changes); err != nil {
		t.Fatal(err)
	}
	if _, err := env.DeliverChanges(ctx, 100); err != nil {
		t.Fatal(err)
	}
	after, err := env.Store.ListRuns(ctx, job, 100)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	var outs []store.RecordOutcome
	for _, r := range after[:len(after)-len(before)] {
		for k, v := range r.Counts {
			counts[k] += v
		}
		o, err := env.Store.ListOutcomes(ctx, r.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, o...)
	}
	return counts, outs
}
