package jobs

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/dryrun"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// A plan (a dry run) runs a job's rules as a real run would, now, on twins
// of its clients and store (lib/dryrun) that let every read through and
// record every write instead of making it. It claims nothing, keeps no run
// record and emits no metric or notice: the job's schedule, lease,
// checkpoint, delta hashes and idempotency records are exactly as they
// were, so a plan never makes a real run skip or repeat anything. Its reads
// are real calls: they take from the Marketo and Certain budgets and count
// against Marketo's daily quota (docs/operations.md §4).

// PlanOptions says what to plan.
type PlanOptions struct {
	// Force plans a forced run (delta hashes ignored, from the beginning).
	Force bool
	// Limit is how many records, and how many writes of each kind, the plan
	// lists (its counts are always complete); negative lists all.
	Limit int
	// Registrations, for a trigger-campaign job: plan a change of each of
	// these registrations to the job's to-status. None: every active
	// registration now in the to-status (see Trigger.Plan).
	Registrations []string
}

// Plan is what a dry run found a real run of the job would do now.
type Plan struct {
	JobID   string `json:"jobId"`
	JobType string `json:"jobType"`
	Account string `json:"account"`
	Event   string `json:"event,omitempty"`
	// DryRun is always true: nothing was written anywhere.
	DryRun bool `json:"dryRun"`
	Force  bool `json:"force,omitempty"`
	// Outcome is how a real run would end (succeeded, partial, failed,
	// quota), or checkpointed when the plan stopped at its deadline before
	// the end (Complete is then false: the counts cover what it reached).
	Outcome  string `json:"outcome"`
	Complete bool   `json:"complete"`
	Error    string `json:"error,omitempty"`
	// Continues: the job has a checkpoint, and the plan, like the next
	// real run, continues from it.
	Continues bool `json:"continues,omitempty"`
	// Counts are the run's counts as a real run would record them.
	Counts map[string]int `json:"counts"`
	// MarketoCalls and CertainCalls are what the plan itself spent: reads.
	MarketoCalls int `json:"marketoCalls"`
	CertainCalls int `json:"certainCalls"`
	// Records are the per-record outcomes a real run would record (not the
	// unchanged ones, which are only counted), with, for a lead, the fields
	// it would change; the first Limit of Totals.Records.
	Records []PlanRecord `json:"records"`
	// Writes are the writes a real run would make: the write calls and the
	// state-table writes in full, the lists cut to Limit (see Totals).
	Writes dryrun.Writes `json:"writes"`
	// Changes are, for a trigger-campaign job, the changes the plan acted
	// on (the first Limit), in the registration-change message format.
	Changes []ChangeMessage `json:"changes,omitempty"`
	Totals  PlanTotals      `json:"totals"`
	Notes   []string        `json:"notes,omitempty"`
	// Started and Took time the plan.
	Started time.Time     `json:"started"`
	Took    time.Duration `json:"tookNs"`
}

// PlanTotals are the lengths of a plan's lists before Limit cut them.
type PlanTotals struct {
	Records       int `json:"records"`
	Leads         int `json:"leads"`
	Campaigns     int `json:"campaigns"`
	CustomObjects int `json:"customObjects"`
	Profiles      int `json:"profiles"`
	Registrations int `json:"registrations"`
	Changes       int `json:"changes,omitempty"`
}

// PlanRecord is one record's planned outcome.
type PlanRecord struct {
	store.RecordOutcome
	// Lead and Changes: the Marketo lead a lead write would create or
	// update, and the fields it would change.
	Lead    *dryrun.LeadRef      `json:"lead,omitempty"`
	Changes []dryrun.FieldChange `json:"changes,omitempty"`
}

// Outcomes a trigger-campaign plan gives a change besides a run's.
const (
	PlanNotNow = "not-now" // a real delivery would be retried later (held elsewhere, a passing failure)
)

// planConnector connects through the real connector and hands out twins of
// the clients, one pair per account for the whole plan, so that what the
// plan wrote through one is seen through the other.
type planConnector struct {
	inner Connector
	log   *dryrun.Log

	mu     sync.Mutex
	byAcct map[string]Clients
}

func newPlanConnector(inner Connector, log *dryrun.Log) *planConnector {
	return &planConnector{inner: inner, log: log, byAcct: map[string]Clients{}}
}

func (c *planConnector) Connect(ctx context.Context, conn config.Connection) (Clients, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.byAcct[conn.Account]; ok {
		return cl, nil
	}
	cl, err := c.inner.Connect(ctx, conn)
	if err != nil {
		return Clients{}, err
	}
	tw := Clients{Marketo: dryrun.NewMarketo(cl.Marketo, c.log), Certain: dryrun.NewCertain(cl.Certain, c.log)}
	c.byAcct[conn.Account] = tw
	return tw, nil
}

// Plan runs jobID's rules now on twins (see PlanOptions) and returns what a
// real run would do. The job need not be enabled or due, and a run of it
// may be going on: the plan claims nothing. Errors are for what stops the
// plan before the job's rules start (unknown job, a type this executor
// does not run); the job's own errors are the plan's outcome.
func (e *Executor) Plan(ctx context.Context, jobID string, o PlanOptions) (Plan, error) {
	j, err := e.Store.GetJob(ctx, jobID)
	if err != nil {
		return Plan{}, fmt.Errorf("plan job %q: %w", jobID, err)
	}
	if _, ok := e.Funcs[j.Type]; !ok {
		return Plan{}, fmt.Errorf("plan job %q: this function does not run jobs of type %q", jobID, j.Type)
	}
	st, err := e.Store.GetJobState(ctx, j.ID)
	if err != nil {
		return Plan{}, fmt.Errorf("plan job %q: state: %w", jobID, err)
	}
	env := e.env()
	started := env.now()
	log := dryrun.NewLog()
	tw := dryrun.NewStore(e.Store, log)
	pe := *e
	pe.Store, pe.Connector, pe.Report = tw, newPlanConnector(e.Connector, log), Reporter{}
	pe.Logger = env.logger().With("dryRun", true)
	trigger := "direct"
	if o.Force {
		j.Params.ForceFull = true
		trigger = "direct-force"
	}
	run, _ := pe.execute(ctx, j, "plan-"+env.newID(), trigger)
	p := newPlan(j, o, started)
	p.Outcome, p.Error, p.Counts = run.Outcome, run.Error, run.Counts
	p.Complete = run.Outcome != store.RunCheckpointed
	p.Continues = run.Trigger == "continuation"
	p.MarketoCalls, p.CertainCalls = run.MarketoCalls, run.CertainCalls
	p.Notes = append(p.Notes, stateNotes(j, st, started)...)
	outs := tw.Outcomes(run.ID)
	recs := make([]PlanRecord, len(outs))
	for i, out := range outs {
		recs[i] = PlanRecord{RecordOutcome: out}
	}
	p.finish(recs, log.Writes(), o.Limit, env.now())
	return p, nil
}

func newPlan(j config.Job, o PlanOptions, started time.Time) Plan {
	return Plan{JobID: j.ID, JobType: j.Type, Account: j.Account, Event: j.Event, DryRun: true, Force: o.Force, Started: started}
}

// stateNotes says what of the job's schedule state a reader of the plan
// should know: disabled, running now, not due.
func stateNotes(j config.Job, st store.JobState, now time.Time) []string {
	var notes []string
	if !j.Enabled {
		notes = append(notes, "the job is disabled: the plan shows what it would do once enabled")
	}
	if st.LeaseUntil.After(now) {
		notes = append(notes, fmt.Sprintf("a run of the job is going on (run %s, lease until %s): the plan reads the state that run has left so far", st.LeaseOwner, st.LeaseUntil.UTC().Format(time.RFC3339)))
	} else if why := notDue(j, st, now); why != "" && j.Enabled {
		notes = append(notes, "not due now ("+why+"): the plan shows what a run started now would do")
	}
	return notes
}

// finish attaches the lead writes to the records they belong to, cuts the
// lists to limit and sets the totals.
func (p *Plan) finish(recs []PlanRecord, w dryrun.Writes, limit int, now time.Time) {
	byEmail := map[string]dryrun.LeadWrite{}
	for _, lw := range w.Leads {
		if lw.Result != "skipped" {
			byEmail[strings.ToLower(strings.TrimSpace(lw.Email))] = lw
		}
	}
	for i := range recs {
		r := &recs[i]
		if r.Outcome != store.OutcomeCreated && r.Outcome != store.OutcomeUpdated {
			continue
		}
		if lw, ok := byEmail[strings.ToLower(strings.TrimSpace(r.Email))]; ok && r.Lead == nil {
			ref := lw.Lead
			r.Lead, r.Changes = &ref, lw.Changes
		}
	}
	if p.Counts == nil {
		p.Counts = map[string]int{}
	}
	p.Totals = PlanTotals{Records: len(recs), Leads: len(w.Leads), Campaigns: len(w.Campaigns), CustomObjects: len(w.CustomObjects),
		Profiles: len(w.Profiles), Registrations: len(w.Registrations)}
	p.Records = cut(recs, limit)
	if p.Records == nil {
		p.Records = []PlanRecord{}
	}
	w.Leads, w.Campaigns, w.CustomObjects = cut(w.Leads, limit), cut(w.Campaigns, limit), cut(w.CustomObjects, limit)
	w.Profiles, w.Registrations = cut(w.Profiles, limit), cut(w.Registrations, limit)
	p.Writes = w
	p.Took = now.Sub(p.Started)
}

// cut returns the first limit elements of s (all when limit is negative).
func cut[T any](s []T, limit int) []T {
	if limit < 0 || len(s) <= limit {
		return s
	}
	return s[:limit]
}

// addCounts adds b to a.
func addCounts(a, b map[string]int) map[string]int {
	if a == nil {
		a = map[string]int{}
	}
	for _, k := range slices.Sorted(maps.Keys(b)) {
		a[k] += b[k]
	}
	return a
}
