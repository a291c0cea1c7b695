package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// pair is one job firing for one message.
type pair struct {
	msg int
	job config.Job
	key string
}

// triggerGroup is the work of one account/event inside a batch.
type triggerGroup struct {
	t       *Trigger
	msgs    []ChangeMessage
	errs    []error
	log     *slog.Logger
	soft    softDeadline
	account string
	event   string
	recs    map[string]*Recorder // by job id
	done    map[string]bool      // pair key -> settled (completed or aborted)
	// latency holds, by job id, the time from each change (changedAt) to
	// its campaign request, for the run's metrics.
	latency map[string][]time.Duration
	scope   groupScope
}

// handleGroup does the work of one account/event of a batch: match the
// messages to jobs, claim each pair, and run the claimed ones with the
// account's clients, recording one run per job.
func (t *Trigger) handleGroup(ctx context.Context, soft softDeadline, msgs []ChangeMessage, idx []int, all []config.Job, errs []error, scope groupScope) {
	first := msgs[idx[0]]
	g := &triggerGroup{t: t, msgs: msgs, errs: errs, soft: soft, account: first.Account, event: first.Event,
		log:  t.env().logger().With("account", first.Account, "event", first.Event, "jobType", config.TypeTriggerCampaign),
		recs: map[string]*Recorder{}, done: map[string]bool{}, latency: map[string][]time.Duration{}, scope: scope}
	pairs := g.match(ctx, idx, all)
	if len(pairs) == 0 {
		return
	}
	active := g.claim(ctx, pairs)
	if len(active) == 0 {
		return
	}
	conn, err := t.Store.GetConnection(ctx, g.account)
	if err == nil {
		conn = conn.WithDefaults()
	}
	var cl Clients
	if err == nil {
		cl, err = t.Connector.Connect(ctx, conn)
	}
	if err != nil {
		g.abortAll(ctx, active, fmt.Errorf("connect account %q: %w", g.account, err))
		return
	}
	mBefore, cBefore := cl.Marketo.Stats().Calls, cl.Certain.Stats().Calls
	g.run(ctx, conn, cl, active)
	g.finish(ctx, cl.Marketo.Stats().Calls-mBefore, cl.Certain.Stats().Calls-cBefore)
}

// match pairs each message of the group with every job it fires; a message
// no job matches is logged and done.
func (g *triggerGroup) match(ctx context.Context, idx []int, all []config.Job) []pair {
	var pairs []pair
	for _, i := range idx {
		n := 0
		for _, j := range all {
			if Matches(j, g.msgs[i]) {
				pairs = append(pairs, pair{msg: i, job: j, key: ChangeKey(j.ID, g.msgs[i])})
				n++
			}
		}
		if n == 0 {
			g.log.InfoContext(ctx, "no enabled trigger-campaign job matches this change", "changeId", g.msgs[i].ChangeID,
				"registration", g.msgs[i].RegistrationCode, "previousStatus", g.msgs[i].PreviousStatus, "newStatus", g.msgs[i].NewStatus)
			g.tell(i, "", store.RecordOutcome{Key: g.msgs[i].RegistrationCode, Outcome: RedriveNoJob,
				Reason: "no enabled trigger-campaign job fires for this change (disabled, or its statuses or window do not match)"})
		}
	}
	return pairs
}

// claim takes the idempotency record of each pair and returns the pairs
// this delivery now owns. A duplicate is done; a pair another delivery holds,
// or whose claim failed, is failed for redelivery.
func (g *triggerGroup) claim(ctx context.Context, pairs []pair) []pair {
	t, env := g.t, g.t.env()
	lockUntil := env.now().Add(t.lockFor())
	if dl, ok := ctx.Deadline(); ok {
		lockUntil = dl.Add(time.Minute)
	}
	var active []pair
	for _, p := range pairs {
		r, err := t.Store.BeginIdem(ctx, p.key, lockUntil, t.retention(), env.now())
		switch {
		case err != nil:
			g.fail(p, fmt.Errorf("claim change %s: %w", p.key, err))
		case r.Status == store.IdemDuplicate:
			g.log.InfoContext(ctx, "change already triggered; duplicate delivery ignored", "jobId", p.job.ID, "changeId", g.msgs[p.msg].ChangeID, "key", p.key)
			g.tell(p.msg, "", store.RecordOutcome{Key: g.msgs[p.msg].RegistrationCode, Outcome: RedriveDuplicate,
				Reason: "this change was settled before (" + string(r.Result) + "): not triggered again"})
		case r.Status == store.IdemInProgress:
			g.fail(p, ErrChangeInProgress)
		default:
			active = append(active, p)
		}
	}
	return active
}

func (g *triggerGroup) rec(j config.Job) *Recorder {
	r, ok := g.recs[j.ID]
	if !ok {
		env := g.t.env()
		r = NewRecorder(g.t.Store, store.Run{ID: env.newID(), JobID: j.ID, JobType: j.Type, Account: j.Account, Event: j.Event,
			Trigger: g.scope.trigger, Started: env.now(), Outcome: store.RunRunning})
		g.recs[j.ID] = r
	}
	return r
}

// fail marks the pair's message for redelivery.
func (g *triggerGroup) fail(p pair, err error) {
	g.errs[p.msg] = errors.Join(g.errs[p.msg], fmt.Errorf("job %s: %w", p.job.ID, err))
}

// abort releases a pair's claim so a redelivery can run it, and fails its message.
func (g *triggerGroup) abort(ctx context.Context, p pair, cause error) {
	if g.done[p.key] {
		return
	}
	g.done[p.key] = true
	g.fail(p, cause)
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := g.t.Store.AbortIdem(actx, p.key); err != nil {
		g.log.ErrorContext(ctx, "cannot release the claim on a change; it is retried when the lock expires", "key", p.key, "error", err)
	}
	c := g.msgs[p.msg]
	out := store.RecordOutcome{Key: c.RegistrationCode, Outcome: store.OutcomeFailed, Code: errCode(cause),
		Reason: fmt.Sprintf("change %s not triggered, will be retried: %v", c.ChangeID, cause), Change: g.changeJSON(p)}
	g.rec(p.job).Record(out)
	g.tell(p.msg, g.rec(p.job).ID(), out)
}

// tell passes a message's settlement (and the run that recorded it) to the
// scope's hook.
func (g *triggerGroup) tell(msg int, runID string, out store.RecordOutcome) {
	if g.scope.settled != nil {
		g.scope.settled(msg, runID, out)
	}
}

// changeJSON is the pair's change message as cmctl retry-failures sends it
// again ("" if it cannot be encoded, which a validated message always can).
func (g *triggerGroup) changeJSON(p pair) string {
	b, err := g.msgs[p.msg].Encode()
	if err != nil {
		return ""
	}
	return string(b)
}

// giveUp settles a pair whose campaign cannot be requested until someone
// fixes the data (several leads share the e-mail, no e-mail, a lead Marketo
// refuses to create): its outcome says what to do and carries the change,
// and the message is done. The claim is released rather than completed, so
// cmctl retry-failures can run the change once more after the fix; a
// change that was triggered keeps its completed record and is never
// triggered again.
func (g *triggerGroup) giveUp(ctx context.Context, p pair, out store.RecordOutcome) {
	if g.done[p.key] {
		return
	}
	g.done[p.key] = true
	rec := g.rec(p.job)
	out.Change = g.changeJSON(p)
	out.Reason = fmt.Sprintf("%s; once fixed, re-drive it: cmctl retry-failures %s", out.Reason, rec.ID())
	rec.Record(out)
	g.tell(p.msg, rec.ID(), out)
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var err error
	for try := 0; try < 3; try++ {
		if err = g.t.Store.AbortIdem(actx, p.key); err == nil {
			return
		}
	}
	g.log.ErrorContext(ctx, "cannot release the claim on a change that was not triggered; a re-drive can run it once the lock expires", "key", p.key, "error", err)
}

func (g *triggerGroup) abortAll(ctx context.Context, ps []pair, cause error) {
	g.log.ErrorContext(ctx, "changes not triggered; reported for redelivery", "changes", len(ps), "error", cause)
	for _, p := range ps {
		g.abort(ctx, p, cause)
	}
}

// complete settles a pair for good and records its outcome.
func (g *triggerGroup) complete(ctx context.Context, p pair, out store.RecordOutcome) {
	if g.done[p.key] {
		return
	}
	g.done[p.key] = true
	g.rec(p.job).Record(out)
	g.tell(p.msg, g.rec(p.job).ID(), out)
	var err error
	// The record must land even when the invocation's context is ending, but
	// within the time Lambda still gives it.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for try := 0; try < 3; try++ {
		if err = g.t.Store.CompleteIdem(cctx, p.key, []byte(out.Outcome), g.t.retention(), g.t.env().now()); err == nil {
			return
		}
	}
	// The message still counts as done: failing it would trigger the campaign
	// again once the lock expires.
	g.log.ErrorContext(ctx, "cannot mark a change as done; a redelivery after the lock expires could trigger it again", "key", p.key, "error", err)
}

func errCode(err error) string {
	var me *marketo.Error
	if errors.As(err, &me) && me.Code != "" {
		return me.Code
	}
	if errors.Is(err, marketo.ErrDailyQuota) {
		return "607"
	}
	return ""
}

// run does the work of the claimed pairs and settles every one of them,
// completed or aborted: read the current registrations, sync their leads
// where a job asks for it, find the lead ids, and request the campaigns.
func (g *triggerGroup) run(ctx context.Context, conn config.Connection, cl Clients, active []pair) {
	regs, live := g.currentRegistrations(ctx, cl.Certain, conn.MaxInFlight, active)
	if len(live) == 0 {
		return
	}
	ops := leadOpsFor(cl, conn, g.account, g.log)
	ops.trust = newLeadTrust(g.t.Store, g.account, time.Duration(conn.LeadIDTrust), g.t.env().now)
	if e, fresh := g.t.cachedSchema(g.account); fresh {
		ops.schema = e.schema // values are converted by a describe at most MappingTTL old
	}
	// "Run Create/Update Marketo Leads every time this job runs".
	if err := g.preSync(ctx, ops, live, regs); err != nil {
		g.abortAll(ctx, live, err)
		return
	}
	res, err := g.leadIDs(ctx, ops, live, regs)
	g.t.keepSchema(g.account, ops, false)
	if err != nil {
		g.abortAll(ctx, live, fmt.Errorf("find Marketo leads: %w", err))
		return
	}
	for _, r := range g.campaignRequests(ctx, live, regs, res) {
		g.requestCampaign(ctx, cl.Marketo, r, regs, res)
	}
}

// currentRegistrations reads the registration of every pair, concurrently
// (bounded like every Certain call of the connection: a batch may carry 100
// changes). A pair whose read failed is aborted; one whose registration no
// longer exists is completed as skipped. It returns the registrations by
// code and the pairs still open.
func (g *triggerGroup) currentRegistrations(ctx context.Context, ct Certain, inFlight int, active []pair) (map[string]*certain.Registration, []pair) {
	fetched := g.readRegistrations(ctx, ct, inFlight, active)
	if err := g.checkEventOn404(ctx, ct, fetched); err != nil {
		g.abortAll(ctx, active, err)
		return nil, nil
	}
	regs := map[string]*certain.Registration{}
	readFailed := map[string]bool{}
	var live []pair
	for _, p := range active {
		code := g.msgs[p.msg].RegistrationCode
		if _, ok := regs[code]; !ok && !readFailed[code] {
			f := fetched[code]
			switch {
			case certain.IsNotFound(f.err):
				regs[code] = nil
			case f.err != nil:
				readFailed[code] = true
				for _, q := range active {
					if g.msgs[q.msg].RegistrationCode == code {
						g.abort(ctx, q, fmt.Errorf("read registration %s: %w", code, f.err))
					}
				}
				continue
			default:
				regs[code] = f.reg
			}
		}
		if g.done[p.key] {
			continue
		}
		if regs[code] == nil {
			g.complete(ctx, p, store.RecordOutcome{Key: code, Outcome: store.OutcomeSkipped, Reason: "registration no longer exists in Certain"})
			continue
		}
		live = append(live, p)
	}
	return regs, live
}

// leadIDs resolves the Marketo lead of each registration of the open pairs
// (by registration code): a live stored id (External Profile ID with Source
// of Profile = Marketo, confirmed by Marketo), else the lead found by e-mail
// or created (resolveFindOrCreate).
func (g *triggerGroup) leadIDs(ctx context.Context, ops *leadOps, live []pair, regs map[string]*certain.Registration) (leadResolution, error) {
	var codes []string
	var list []*certain.Registration
	for _, p := range live {
		if g.done[p.key] {
			continue
		}
		c := g.msgs[p.msg].RegistrationCode
		if !slices.Contains(codes, c) {
			codes = append(codes, c)
			list = append(list, regs[c])
		}
	}
	return ops.resolve(ctx, list, resolveFindOrCreate)
}

// campaignRequest is one campaign to request with one set of token values,
// for the leads of the pairs it settles.
type campaignRequest struct {
	campaign int
	tokens   []marketo.Token
	leads    []int
	pairs    []pair
}

// campaignRequests groups the open pairs by campaign and identical token
// values. A pair whose registration has no lead is settled with the reason:
// given up (for a re-drive once fixed) when it failed, completed when the
// rules skip it.
func (g *triggerGroup) campaignRequests(ctx context.Context, live []pair, regs map[string]*certain.Registration, res leadResolution) []*campaignRequest {
	noLead := map[string]store.RecordOutcome{}
	for _, o := range res.Outs {
		noLead[o.Key] = o
	}
	var reqs []*campaignRequest
	byKey := map[string]*campaignRequest{}
	for _, p := range live {
		if g.done[p.key] {
			continue
		}
		c := g.msgs[p.msg]
		id, ok := res.IDs[c.RegistrationCode]
		if !ok {
			o := noLead[c.RegistrationCode]
			if o.Outcome == "" {
				o = store.RecordOutcome{Key: c.RegistrationCode, Outcome: store.OutcomeFailed, Reason: "no Marketo lead id found"}
			}
			o.Reason = fmt.Sprintf("campaign %d not requested: %s", p.job.Params.CampaignID, o.Reason)
			if o.Outcome == store.OutcomeFailed {
				g.giveUp(ctx, p, o)
			} else {
				g.complete(ctx, p, o)
			}
			continue
		}
		tokens := tokenValues(p.job.Params.Tokens, *regs[c.RegistrationCode])
		k := strconv.Itoa(p.job.Params.CampaignID) + "\x00" + PayloadHash(tokens)
		r := byKey[k]
		if r == nil {
			r = &campaignRequest{campaign: p.job.Params.CampaignID, tokens: tokens}
			byKey[k] = r
			reqs = append(reqs, r)
		}
		if !slices.Contains(r.leads, id) {
			r.leads = append(r.leads, id)
		}
		r.pairs = append(r.pairs, p)
	}
	return reqs
}

// requestCampaign makes r's Request Campaign calls, 100 leads per call.
// Each call's changes are settled on their own, so a failing call never
// makes a retry request the leads of an earlier call again.
func (g *triggerGroup) requestCampaign(ctx context.Context, mk Marketo, r *campaignRequest, regs map[string]*certain.Registration, res leadResolution) {
	ids := res.IDs
	slices.Sort(r.leads)
	for chunk := range slices.Chunk(r.leads, maxCampaignLeads) {
		var ps []pair
		for _, p := range r.pairs {
			if slices.Contains(chunk, ids[g.msgs[p.msg].RegistrationCode]) {
				ps = append(ps, p)
			}
		}
		if g.soft.reached(ctx) {
			g.abortAll(ctx, ps, errors.New("invocation deadline near: campaign not requested, will be redelivered"))
			continue
		}
		if _, err := mk.RequestCampaign(ctx, r.campaign, chunk, r.tokens); err != nil {
			g.abortAll(ctx, ps, fmt.Errorf("request campaign %d for %d leads: %w", r.campaign, len(chunk), err))
			continue
		}
		requested := g.t.env().now()
		for _, p := range ps {
			c := g.msgs[p.msg]
			if g.scope.trigger != triggerRetry {
				// A re-drive's change is as old as its fix took: not a latency.
				g.latency[p.job.ID] = append(g.latency[p.job.ID], requested.Sub(c.ChangedAt))
			}
			reason := fmt.Sprintf("campaign %d requested for lead %d (%s -> %s, change %s)", r.campaign, ids[c.RegistrationCode], c.PreviousStatus, c.NewStatus, c.ChangeID)
			if note := res.Notes[c.RegistrationCode]; note != "" {
				reason += "; " + note
			}
			g.countResolution(p.job, c.RegistrationCode, res)
			g.complete(ctx, p, store.RecordOutcome{Key: c.RegistrationCode, Email: regs[c.RegistrationCode].Profile.Email, Outcome: store.OutcomeRequested, Reason: reason})
		}
	}
}

// countResolution adds to the job's run what resolving the registration's
// lead did: a stale id found and healed, another system's id kept, a
// stored id used unchecked (leadIdTrust).
func (g *triggerGroup) countResolution(j config.Job, code string, res leadResolution) {
	rec := g.rec(j)
	if _, ok := res.Stale[code]; ok {
		rec.Add(CountStaleIds, 1)
	}
	if res.Healed[code] {
		rec.Add(CountStaleIdsHealed, 1)
	}
	if res.Kept[code] {
		rec.Add(CountForeignIdsKept, 1)
	}
	if res.Trusted[code] {
		rec.Add(CountIdsTrusted, 1)
	}
}

// maxCampaignLeads is Marketo's cap on leads per Request Campaign call.
const maxCampaignLeads = 100

// preSync runs rules A/B/C for the registrations of pairs whose job has
// RunSyncLeads and whose current status is one of its sync statuses.
func (g *triggerGroup) preSync(ctx context.Context, ops *leadOps, live []pair, regs map[string]*certain.Registration) error {
	var list []*certain.Registration
	jobsOf := map[string][]config.Job{}
	for _, p := range live {
		if !p.job.Params.RunSyncLeads {
			continue
		}
		statuses := p.job.Params.SyncStatuses
		if len(statuses) == 0 {
			statuses = []string{p.job.Params.ToStatus}
		}
		r := regs[g.msgs[p.msg].RegistrationCode]
		if !slices.ContainsFunc(statuses, func(s string) bool { return normStatus(s) == normStatus(r.Status) }) {
			continue
		}
		if _, ok := jobsOf[r.Code]; !ok {
			list = append(list, r)
		}
		jobsOf[r.Code] = append(jobsOf[r.Code], p.job)
	}
	if len(list) == 0 {
		return nil
	}
	if err := g.t.checkMapping(ctx, ops); err != nil {
		return err
	}
	res, err := ops.syncLeads(ctx, list)
	for i, r := range res {
		if r.Outcome.Outcome == "" {
			continue
		}
		for _, j := range jobsOf[list[i].Code] {
			o := r.Outcome
			o.Reason = strings.TrimSpace("lead sync before trigger: " + o.Outcome + " " + o.Reason)
			if o.Outcome == store.OutcomeCreated || o.Outcome == store.OutcomeUpdated {
				g.rec(j).Add("leads"+strings.ToUpper(o.Outcome[:1])+o.Outcome[1:], 1)
				continue
			}
			g.rec(j).Add("leadSyncProblems", 1)
			g.log.WarnContext(ctx, "lead sync before trigger did not create or update the lead", "jobId", j.ID, "registration", o.Key, "outcome", o.Outcome, "reason", o.Reason, "code", o.Code)
		}
	}
	if err != nil {
		return fmt.Errorf("lead sync before trigger: %w", err)
	}
	return nil
}

func (g *triggerGroup) finish(ctx context.Context, mCalls, cCalls int) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	for id, r := range g.recs {
		r.SetCalls(mCalls, cCalls)
		run, err := r.Finish(fctx, nil, g.t.env().now())
		if err != nil {
			g.log.ErrorContext(ctx, "cannot record the trigger run", "jobId", id, "error", err)
			continue
		}
		g.t.Report.finished(fctx, g.t.Store, g.log.With("jobId", id, "runId", run.ID), run, r, g.latency[id])
		g.log.InfoContext(ctx, "trigger run recorded", "jobId", id, "runId", run.ID, "outcome", run.Outcome, "counts", run.Counts,
			"marketoCalls", mCalls, "certainCalls", cCalls)
	}
}

type fetchedReg struct {
	reg *certain.Registration
	err error
}

// readRegistrations reads each distinct registration of the pairs once, at
// most inFlight at a time (default 4).
func (g *triggerGroup) readRegistrations(ctx context.Context, ct Certain, inFlight int, ps []pair) map[string]fetchedReg {
	if inFlight <= 0 {
		inFlight = 4
	}
	var codes []string
	seen := map[string]bool{}
	for _, p := range ps {
		if c := g.msgs[p.msg].RegistrationCode; !seen[c] {
			seen[c] = true
			codes = append(codes, c)
		}
	}
	out := make([]fetchedReg, len(codes))
	var wg sync.WaitGroup
	sem := make(chan struct{}, inFlight)
	for i, code := range codes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := ct.GetRegistration(ctx, g.account, g.event, code)
			if err != nil {
				out[i] = fetchedReg{err: err}
				return
			}
			out[i] = fetchedReg{reg: &r}
		}()
	}
	wg.Wait()
	m := make(map[string]fetchedReg, len(codes))
	for i, c := range codes {
		m[c] = out[i]
	}
	return m
}

// checkEventOn404 reads the event when a registration read answered 404,
// before that 404 may skip a change as "registration no longer exists":
// Certain answers 404 for an unknown event too, and a mistyped event would
// otherwise skip every change of the batch without an error. A missing
// event is a configuration error; the messages are redelivered and end in
// the DLQ, from where they can be redriven once it is fixed.
func (g *triggerGroup) checkEventOn404(ctx context.Context, ct Certain, fetched map[string]fetchedReg) error {
	for _, f := range fetched {
		if !certain.IsNotFound(f.err) {
			continue
		}
		_, err := ct.GetEvent(ctx, g.account, g.event)
		switch {
		case certain.IsNotFound(err):
			return Configf("event %q not found in Certain account %q (Certain answers 404 for an unknown event or account): %v", g.event, g.account, err)
		case err != nil:
			return fmt.Errorf("read event %s/%s: %w", g.account, g.event, err)
		}
		return nil
	}
	return nil
}
