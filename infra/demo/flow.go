package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
	"github.com/certain-marketo/certain-marketo/lib/testkit/inprocess"
)

// changeCount is how many registrations the demo moves from Invited to
// Pre-Registered.
const changeCount = 3

// Step is one line of the demo's table.
type Step struct {
	Name         string // what the step is
	Function     string // the Lambda that ran it ("" for the Certain UI)
	JobID        string
	RunID        string
	Outcome      string
	Counts       map[string]int
	Detail       string // extra words after the counts
	MarketoCalls int
	CertainCalls int
	Took         time.Duration
}

// Result is what the demo did.
type Result struct {
	Steps []Step
	// Changed are the registrations moved Invited -> Pre-Registered.
	Changed []string
	// Requests are the Request Campaign calls trigger-campaign made.
	Requests []marketotest.CampaignRequest
	// WantLeads are the Marketo ids of the changed registrations' profiles
	// after trigger-campaign (which links any profile it had to look up).
	WantLeads []int
	// FirstSync and Resync are the two sync-leads runs.
	FirstSync, Resync Step
	// Plan is the dry run of import-leads before its first run (Import).
	Plan   *jobs.Plan
	Import Step
}

// Observer is told when a step starts and ends (the printer).
type Observer interface {
	Begin(name string)
	End(s Step)
}

type demo struct {
	env *inprocess.Env
	obs Observer
	res Result
}

// Run drives the demo on env: the detector's baseline, every scheduled job,
// a status change in Certain, the detector tick that sees it,
// trigger-campaign handling the changes, and sync-leads again to show that
// nothing unchanged is re-sent. It returns an error when a step did not do
// what the data set guarantees.
func Run(ctx context.Context, env *inprocess.Env, o Observer) (Result, error) {
	d := &demo{env: env, obs: o}
	steps := []func(context.Context) error{
		func(ctx context.Context) error { return d.detector(ctx, "detect changes (baseline)", true) },
		func(ctx context.Context) error {
			return d.plan(ctx, "plan import leads (dry run)", inprocess.FnImportLeads, demodata.JobImportLeads)
		},
		func(ctx context.Context) error {
			return d.scheduled(ctx, "import leads as registrations", inprocess.FnImportLeads, config.TypeImportLeads)
		},
		func(ctx context.Context) error {
			return d.scheduled(ctx, "import leads as profiles", inprocess.FnImportLeads, config.TypeImportProfiles)
		},
		func(ctx context.Context) error {
			return d.scheduled(ctx, "create or update leads", inprocess.FnSyncLeads, config.TypeSyncLeads)
		},
		func(ctx context.Context) error {
			return d.scheduled(ctx, "upload engagement metrics", inprocess.FnEngagementMetrics, config.TypeEngagementMetrics)
		},
		func(ctx context.Context) error {
			return d.scheduled(ctx, "upload interest metrics", inprocess.FnInterestMetrics, config.TypeInterestMetrics)
		},
		d.changeStatuses,
		func(ctx context.Context) error { return d.detector(ctx, "detect changes", false) },
		d.trigger,
		d.resync,
	}
	for _, s := range steps {
		if err := s(ctx); err != nil {
			return d.res, err
		}
	}
	return d.res, nil
}

func (d *demo) add(s Step) {
	d.res.Steps = append(d.res.Steps, s)
	if d.obs != nil {
		d.obs.End(s)
	}
}

func (d *demo) begin(name string) {
	if d.obs != nil {
		d.obs.Begin(name)
	}
}

func (d *demo) certainCalls() int { return len(d.env.Certain.Calls()) }

func tick(jobType string) []byte {
	return fmt.Appendf(nil, `{"jobType":%q,"scheduledTime":%q}`, jobType, time.Now().UTC().Format(time.RFC3339))
}

// invocationTimeout is what a Lambda's deadline would be; the executor
// keeps its safety margin before it.
const invocationTimeout = 5 * time.Minute

func (d *demo) invoke(ctx context.Context, fn string, payload []byte, out any) error {
	ictx, cancel := context.WithTimeout(ctx, invocationTimeout)
	defer cancel()
	raw, err := d.env.Invoke(ictx, fn, payload)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: decode response: %w", fn, err)
	}
	return nil
}

// deliverWait bounds how long a step waits for its work queue's delayed
// messages (continuations come back seconds after their run).
const deliverWait = time.Minute

// scheduled sends a schedule tick to fn, delivers the run messages it
// queued to fn as the work queue's event source mapping would, and records
// a step per run.
func (d *demo) scheduled(ctx context.Context, name, fn, jobType string) error {
	d.begin(name)
	start := time.Now()
	var resp app.Response
	if err := d.invoke(ctx, fn, tick(jobType), &resp); err != nil {
		return err
	}
	if resp.Dispatch == nil || len(resp.Dispatch.Queued) == 0 {
		return fmt.Errorf("%s: the %s tick queued no job (skipped: %v)", fn, jobType, resp.Dispatch)
	}
	seen := map[string]bool{}
	for _, id := range resp.Dispatch.Queued {
		runs, err := d.env.Store.ListRuns(ctx, id, 100)
		if err != nil {
			return fmt.Errorf("%s: list runs: %w", fn, err)
		}
		for _, r := range runs {
			seen[r.ID] = true
		}
	}
	if _, err := d.env.Deliver(ctx, fn, deliverWait); err != nil {
		return err
	}
	var ran []store.Run
	for _, id := range resp.Dispatch.Queued {
		runs, err := d.env.Store.ListRuns(ctx, id, 100)
		if err != nil {
			return fmt.Errorf("%s: list runs: %w", fn, err)
		}
		for _, r := range slices.Backward(runs) {
			if !seen[r.ID] {
				ran = append(ran, r)
			}
		}
	}
	if len(ran) == 0 {
		return fmt.Errorf("%s: the %s jobs queued ran no run", fn, jobType)
	}
	took := time.Since(start)
	for _, r := range ran {
		sum := jobs.RunSummary{RunID: r.ID, JobID: r.JobID, Outcome: r.Outcome, Counts: r.Counts,
			MarketoCalls: r.MarketoCalls, CertainCalls: r.CertainCalls, Error: r.Error}
		s := fromRun(name, fn, sum, took/time.Duration(len(ran)))
		s.Detail = d.failures(ctx, sum.RunID)
		d.add(s)
		if err := healthy(s, sum.Error); err != nil {
			return err
		}
		if jobType == config.TypeSyncLeads {
			d.res.FirstSync = s
		}
		if jobType == config.TypeImportLeads {
			d.res.Import = s
			if err := d.asPlanned(s); err != nil {
				return err
			}
		}
	}
	return nil
}

func fromRun(name, fn string, sum jobs.RunSummary, took time.Duration) Step {
	return Step{Name: name, Function: fn, JobID: sum.JobID, RunID: sum.RunID, Outcome: sum.Outcome, Counts: sum.Counts,
		MarketoCalls: sum.MarketoCalls, CertainCalls: sum.CertainCalls, Took: took}
}

// healthy accepts a finished run, with or without per-record failures.
func healthy(s Step, runErr string) error {
	switch s.Outcome {
	case store.RunSucceeded, store.RunPartial:
		return nil
	}
	return fmt.Errorf("job %s (%s) ended %s: %s", s.JobID, s.Function, s.Outcome, runErr)
}

func (d *demo) detector(ctx context.Context, name string, baseline bool) error {
	d.begin(name)
	start, c0, m0 := time.Now(), d.certainCalls(), d.env.Marketo.CountedCalls()
	var res jobs.ScopeDispatch
	if err := d.invoke(ctx, inprocess.FnRegistrationChanges, tick(app.DetectorJobType), &res); err != nil {
		return err
	}
	if _, err := d.env.Deliver(ctx, inprocess.FnRegistrationChanges, deliverWait); err != nil {
		return err
	}
	scopes := d.env.TakeScopeResults()
	s := Step{Name: name, Function: inprocess.FnRegistrationChanges, Outcome: store.RunSucceeded, Counts: map[string]int{},
		CertainCalls: d.certainCalls() - c0, MarketoCalls: d.env.Marketo.CountedCalls() - m0, Took: time.Since(start)}
	for _, sc := range scopes {
		if sc.Error != "" {
			return fmt.Errorf("registration-changes: %s", sc.Error)
		}
		s.Counts["read"] += sc.Read
		s.Counts["changes"] += sc.Changes
		s.Counts["sent"] += sc.Sent
		if sc.Baseline != baseline {
			return fmt.Errorf("registration-changes: %s/%s baseline=%v, want %v", sc.Account, sc.Event, sc.Baseline, baseline)
		}
	}
	if baseline {
		s.Detail = "statuses recorded; no message for the baseline"
	} else {
		s.Detail = fmt.Sprintf("%d messages on the queue", d.env.Queue.Len())
	}
	d.add(s)
	if res.Queued == 0 || len(scopes) != res.Queued {
		return fmt.Errorf("registration-changes queued %d scopes and polled %d: want every enabled trigger-campaign job's event polled", res.Queued, len(scopes))
	}
	if !baseline && s.Counts["sent"] < len(d.res.Changed) {
		return fmt.Errorf("registration-changes sent %d changes, want at least the %d status changes", s.Counts["sent"], len(d.res.Changed))
	}
	return nil
}

// changeStatuses does what a person in the Certain UI would: moves a few
// Invited registrations of the main event to Pre-Registered.
func (d *demo) changeStatuses(context.Context) error {
	name := "status change in Certain"
	d.begin(name)
	start := time.Now()
	data := d.env.Data
	ev := data.Events[0].Code
	for _, r := range data.Registrations {
		if r.Event == ev && r.Status == demodata.TriggerFrom && r.Active && r.Complete && len(d.res.Changed) < changeCount {
			d.env.Certain.SetRegistrationStatus(data.Account, ev, r.Code, demodata.TriggerTo)
			d.res.Changed = append(d.res.Changed, r.Code)
		}
	}
	if err := d.env.Certain.Err(); err != nil {
		return fmt.Errorf("change statuses: %w", err)
	}
	if len(d.res.Changed) == 0 {
		return fmt.Errorf("the data set has no active, complete %q registration in %s; use a larger -registrations", demodata.TriggerFrom, ev)
	}
	d.add(Step{Name: name, Outcome: store.RunSucceeded, Counts: map[string]int{"changed": len(d.res.Changed)},
		Detail: fmt.Sprintf("%s -> %s: %s", demodata.TriggerFrom, demodata.TriggerTo, strings.Join(d.res.Changed, ", ")), Took: time.Since(start)})
	return nil
}

func (d *demo) trigger(ctx context.Context) error {
	name := "trigger campaign"
	d.begin(name)
	start := time.Now()
	reqs0 := len(d.env.Marketo.CampaignRequests())
	seen := map[string]bool{}
	before, err := d.env.Store.ListRuns(ctx, demodata.JobTrigger, 100)
	if err != nil {
		return fmt.Errorf("trigger: list runs: %w", err)
	}
	for _, r := range before {
		seen[r.ID] = true
	}
	del, err := d.env.DeliverChanges(ctx, 10)
	if err != nil {
		return err
	}
	runs, err := d.env.Store.ListRuns(ctx, demodata.JobTrigger, 100)
	if err != nil {
		return fmt.Errorf("trigger: list runs: %w", err)
	}
	s := Step{Name: name, Function: inprocess.FnTriggerCampaign, JobID: demodata.JobTrigger, Outcome: store.RunSucceeded,
		Counts: map[string]int{}, Took: time.Since(start)}
	handled := 0
	for _, r := range runs {
		if seen[r.ID] {
			continue
		}
		for k, v := range r.Counts {
			s.Counts[k] += v
			handled += v
		}
		s.MarketoCalls += r.MarketoCalls
		s.CertainCalls += r.CertainCalls
		if r.Outcome == store.RunPartial || r.Outcome == store.RunFailed {
			s.Outcome = r.Outcome
		}
	}
	d.res.Requests = d.env.Marketo.CampaignRequests()[reqs0:]
	s.Detail = fmt.Sprintf("%d messages in %d SQS batches (%d matched no job, %d to retry)", del.Messages, del.Batches, del.Messages-handled, del.Failed)
	d.add(s)
	if del.Failed > 0 {
		return fmt.Errorf("trigger-campaign reported %d of %d messages as failed", del.Failed, del.Messages)
	}
	want, err := d.leadsOf(d.res.Changed)
	if err != nil {
		return err
	}
	d.res.WantLeads = want
	var got []int
	for _, r := range d.res.Requests {
		if r.CampaignID == demodata.CampaignRegistered {
			got = append(got, r.LeadIDs...)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		return fmt.Errorf("campaign %d was requested for leads %v, want %v (the changed registrations' leads)", demodata.CampaignRegistered, got, want)
	}
	return nil
}

// failures summarises a run's failed records by code: "failed: 1007 x8".
func (d *demo) failures(ctx context.Context, runID string) string {
	outs, err := d.env.Store.ListOutcomes(ctx, runID, store.OutcomeFailed)
	if err != nil || len(outs) == 0 {
		return ""
	}
	by := map[string]int{}
	for _, o := range outs {
		c := o.Code
		if c == "" {
			c = "other"
		}
		by[c]++
	}
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(by)) {
		parts = append(parts, fmt.Sprintf("%s x%d", c, by[c]))
	}
	if n := len(outs); n < failedCount(d.env, runID) {
		parts = append(parts, fmt.Sprintf("%d more not kept", failedCount(d.env, runID)-n))
	}
	return "failed: " + strings.Join(parts, ", ")
}

// failedCount is the run's failed count (its kept outcomes are bounded).
func failedCount(env *inprocess.Env, runID string) int {
	r, err := env.Store.GetRun(context.Background(), runID)
	if err != nil {
		return 0
	}
	return r.Counts[store.OutcomeFailed]
}

// leadsOf returns the sorted Marketo lead ids held by the registrations'
// profiles (External Profile ID).
func (d *demo) leadsOf(codes []string) ([]int, error) {
	data := d.env.Data
	extField := d.env.Certain.Fields().ExternalID
	var out []int
	for _, r := range d.env.Certain.Registrations(data.Account, data.Events[0].Code) {
		code, _ := r["registrationCode"].(string)
		if !slices.Contains(codes, code) {
			continue
		}
		p, _ := r["profile"].(map[string]any)
		id, err := strconv.Atoi(fmt.Sprint(p[extField]))
		if err != nil {
			return nil, fmt.Errorf("registration %s: profile has no Marketo id in %q after trigger-campaign (%v)", code, extField, p[extField])
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return out, nil
}

// resync runs sync-leads again by direct invocation (a schedule tick would
// find it not due): nothing changed, so nothing is sent.
func (d *demo) resync(ctx context.Context) error {
	name := "create or update leads again"
	d.begin(name)
	start := time.Now()
	var resp app.Response
	if err := d.invoke(ctx, inprocess.FnSyncLeads, fmt.Appendf(nil, `{"jobId":%q}`, demodata.JobSyncLeads), &resp); err != nil {
		return err
	}
	if resp.Queued == nil {
		return errors.New("sync-leads: direct run was not queued")
	}
	if _, err := d.env.Deliver(ctx, inprocess.FnSyncLeads, deliverWait); err != nil {
		return err
	}
	r, err := d.env.Store.GetRun(ctx, resp.Queued.RunID)
	if err != nil {
		return fmt.Errorf("sync-leads: the queued direct run %s: %w", resp.Queued.RunID, err)
	}
	sum := jobs.RunSummary{RunID: r.ID, JobID: r.JobID, Outcome: r.Outcome, Counts: r.Counts,
		MarketoCalls: r.MarketoCalls, CertainCalls: r.CertainCalls, Error: r.Error}
	resp.Run = &sum
	s := fromRun(name, inprocess.FnSyncLeads, *resp.Run, time.Since(start))
	s.Detail = "nothing changed, nothing re-sent"
	if f := d.failures(ctx, s.RunID); f != "" {
		s.Detail += "; " + f + " (failed leads are retried)"
	}
	d.add(s)
	d.res.Resync = s
	if err := healthy(s, resp.Run.Error); err != nil {
		return err
	}
	if n := s.Counts[store.OutcomeCreated] + s.Counts[store.OutcomeUpdated]; n > 0 {
		return fmt.Errorf("sync-leads re-sent %d leads that had not changed", n)
	}
	return nil
}

// plan asks fn for a dry run of the job: what its run would do, with
// nothing written. It checks that the simulators saw no write.
func (d *demo) plan(ctx context.Context, name, fn, jobID string) error {
	d.begin(name)
	start, m0, c0 := time.Now(), len(d.env.Marketo.Calls()), len(d.env.Certain.Calls())
	var resp app.Response
	if err := d.invoke(ctx, fn, fmt.Appendf(nil, `{"jobId":%q,"dryRun":true,"limit":3}`, jobID), &resp); err != nil {
		return err
	}
	p := resp.Plan
	if p == nil {
		return fmt.Errorf("%s: the dry run of %s answered no plan", fn, jobID)
	}
	for _, c := range d.env.Marketo.Calls()[m0:] {
		if c.Method == "POST" && !strings.Contains(c.URL, "_method=GET") && !strings.HasPrefix(c.Path, "/identity") {
			return fmt.Errorf("the dry run of %s wrote to Marketo: %s", jobID, c.Path)
		}
	}
	for _, c := range d.env.Certain.Calls()[c0:] {
		if c.Method != "GET" {
			return fmt.Errorf("the dry run of %s wrote to Certain: %s %s", jobID, c.Method, c.Path)
		}
	}
	w := p.Writes.Calls
	d.res.Plan = p
	d.add(Step{Name: name, Function: fn, JobID: jobID, Outcome: "dry run", Counts: outcomesOnly(p.Counts), Took: time.Since(start),
		MarketoCalls: p.MarketoCalls, CertainCalls: p.CertainCalls,
		Detail: fmt.Sprintf("would end %s with %d profile and %d registration writes in Certain; nothing written",
			p.Outcome, w.ProfileCreates+w.ProfileUpdates, w.RegistrationCreates)})
	return nil
}

// asPlanned checks that a run did what the plan before it said.
func (d *demo) asPlanned(s Step) error {
	p := d.res.Plan
	if p == nil || p.JobID != s.JobID {
		return nil
	}
	for _, k := range []string{store.OutcomeCreated, store.OutcomeUpdated, store.OutcomeSkipped, store.OutcomeFailed, store.OutcomeUnchanged} {
		if p.Counts[k] != s.Counts[k] {
			return fmt.Errorf("job %s did not do what its plan said: %s planned %d, done %d", s.JobID, k, p.Counts[k], s.Counts[k])
		}
	}
	return nil
}
