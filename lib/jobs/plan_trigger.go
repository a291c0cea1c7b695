package jobs

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/dryrun"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// Plan is the dry run of a trigger-campaign job. Such a job acts on
// registration changes, so its plan needs changes to act on: one change of
// each of o.Registrations to the job's to-status, or, when none is given,
// of every active registration of the event whose status is the to-status
// now — the people the campaign would reach had they just reached it. Each
// change is from the job's from-status (none when it has none), at the
// registration's dateModified, which is what the change detector would have
// sent, so a change that was triggered already is found a duplicate. The
// job is planned as if enabled. The changes then go through the job's
// rules on twins, as a delivery would: claims peeked, registrations read,
// leads found (a lead it would create gets a placeholder), the lead sync
// before the trigger when the job asks for it, and the campaign requests
// with their leads and tokens recorded, not made.
func (t *Trigger) Plan(ctx context.Context, jobID string, o PlanOptions) (Plan, error) {
	j, err := t.Store.GetJob(ctx, jobID)
	if err != nil {
		return Plan{}, fmt.Errorf("plan job %q: %w", jobID, err)
	}
	if j.Type != config.TypeTriggerCampaign {
		return Plan{}, fmt.Errorf("plan job %q: a %s job is planned by its own function, not trigger-campaign", jobID, j.Type)
	}
	env := t.env()
	started := env.now()
	log := dryrun.NewLog()
	tw := dryrun.NewStore(t.Store, log)
	shown := j
	shown.Enabled = true
	tw.ShowJob(shown)
	pc := newPlanConnector(t.Connector, log)
	conn, err := t.Store.GetConnection(ctx, j.Account)
	if err != nil {
		return Plan{}, fmt.Errorf("plan job %q: connection for account %q: %w", jobID, j.Account, err)
	}
	cl, err := pc.Connect(ctx, conn.WithDefaults())
	if err != nil {
		return Plan{}, fmt.Errorf("plan job %q: connect account %q: %w", jobID, j.Account, err)
	}
	m0, c0 := cl.Marketo.Stats().Calls, cl.Certain.Stats().Calls
	if t.Progress != nil {
		cl = t.Progress.beginChanges(j, conn.WithDefaults(), cl, env.now)
		defer t.Progress.end()
	}
	p := newPlan(j, o, started)
	p.Notes = append(p.Notes, stateNotes(j, store.JobState{}, started)...)
	msgs, notes, err := planChanges(ctx, cl.Certain, j, o.Registrations, started)
	p.Notes = append(p.Notes, notes...)
	if err != nil {
		p.Outcome, p.Error = store.RunFailed, err.Error()
		p.MarketoCalls, p.CertainCalls = cl.Marketo.Stats().Calls-m0, cl.Certain.Stats().Calls-c0
		p.finish(nil, log.Writes(), o.Limit, env.now())
		return p, nil
	}
	pt := &Trigger{Store: tw, Connector: pc, Now: t.Now, Logger: env.logger().With("dryRun", true), NewID: t.NewID,
		Lock: t.Lock, Retention: t.Retention, Margin: t.Margin, MappingTTL: t.MappingTTL}
	recs := make([]PlanRecord, len(msgs))
	if t.Progress != nil {
		t.Progress.planned(len(msgs))
	}
	errs := pt.handle(ctx, msgs, groupScope{trigger: "plan", job: j.ID, settled: func(msg int, _ string, out store.RecordOutcome) {
		recs[msg] = PlanRecord{RecordOutcome: out}
		if t.Progress != nil {
			t.Progress.settled(out.Outcome)
		}
	}})
	p.Counts = map[string]int{}
	for _, r := range tw.Runs() {
		p.Counts = addCounts(p.Counts, r.Counts)
	}
	for i, err := range errs {
		if err != nil {
			recs[i] = PlanRecord{RecordOutcome: store.RecordOutcome{Key: msgs[i].RegistrationCode, Outcome: PlanNotNow, Reason: err.Error()}}
		}
		if o := recs[i].Outcome; o == RedriveDuplicate || o == RedriveNoJob || o == PlanNotNow {
			p.Counts[o]++
		}
	}
	p.Counts["changes"] = len(msgs)
	p.Outcome, p.Complete = triggerPlanOutcome(p.Counts, errs)
	p.MarketoCalls, p.CertainCalls = cl.Marketo.Stats().Calls-m0, cl.Certain.Stats().Calls-c0
	p.finish(recs, log.Writes(), o.Limit, env.now())
	p.Changes, p.Totals.Changes = cut(msgs, o.Limit), len(msgs)
	return p, nil
}

// triggerPlanOutcome is how the deliveries of the planned changes would
// end: partial when a change failed, succeeded otherwise; incomplete when
// some would be delivered again.
func triggerPlanOutcome(counts map[string]int, errs []error) (string, bool) {
	complete := !slices.ContainsFunc(errs, func(err error) bool { return err != nil })
	if counts[store.OutcomeFailed] > 0 {
		return store.RunPartial, complete
	}
	return store.RunSucceeded, complete
}

// planChanges builds the changes a trigger-campaign plan acts on (see
// Trigger.Plan), and notes for the reader.
func planChanges(ctx context.Context, ct Certain, j config.Job, codes []string, now time.Time) ([]ChangeMessage, []string, error) {
	var regs []certain.Registration
	var notes []string
	if len(codes) > 0 {
		for _, code := range codes {
			r, err := ct.GetRegistration(ctx, j.Account, j.Event, code)
			if certain.IsNotFound(err) {
				return nil, notes, fmt.Errorf("registration %q: not found in event %s/%s", code, j.Account, j.Event)
			}
			if err != nil {
				return nil, notes, fmt.Errorf("read registration %q: %w", code, err)
			}
			if normStatus(r.Status) != normStatus(j.Params.ToStatus) {
				notes = append(notes, fmt.Sprintf("registration %s is %q now; planned as if it changed to %q", r.Code, r.Status, j.Params.ToStatus))
			}
			regs = append(regs, r)
		}
	} else {
		for page, err := range ct.RegistrationPages(ctx, j.Account, j.Event, certain.RegistrationQuery{ActiveOnly: true}) {
			if err != nil {
				return nil, notes, fmt.Errorf("read registrations of %s/%s: %w", j.Account, j.Event, err)
			}
			for _, r := range page.Items {
				if normStatus(r.Status) == normStatus(j.Params.ToStatus) {
					regs = append(regs, r)
				}
			}
		}
		notes = append(notes, fmt.Sprintf("a trigger-campaign job acts on status changes: planned as if each of the %d active registrations now %q had just changed to it", len(regs), j.Params.ToStatus))
	}
	msgs := make([]ChangeMessage, 0, len(regs))
	for _, r := range regs {
		at := r.DateModified
		if at.IsZero() {
			at = now
		}
		msgs = append(msgs, NewChange(j.Account, j.Event, r.Code, j.Params.FromStatus, j.Params.ToStatus, at))
	}
	return msgs, notes, nil
}
