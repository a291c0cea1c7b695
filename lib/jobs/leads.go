package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// Rules A, B and C of "Create or Update Leads" (docs/jobs.md §3), as
// the issue states them:
//
//   - External Profile ID blank, or Source of Profile = Import: create the
//     lead when no Marketo lead has the email, else update it (ruleUpsert).
//   - Source of Profile = Marketo, or blank with an External Profile ID set:
//     update only; no lead with the email is a skip, never a create
//     (ruleUpdateOnly).
//   - Any other source with an External Profile ID set: skipped (ruleSkip).
//   - After a create or update the Certain profile gets External Profile ID =
//     the Marketo id and Source of Profile = Marketo, written only when
//     different (rule C, writeBack).
type leadRule int

const (
	ruleSkip leadRule = iota
	ruleUpsert
	ruleUpdateOnly
)

func (r leadRule) String() string {
	switch r {
	case ruleUpsert:
		return "createOrUpdate"
	case ruleUpdateOnly:
		return "updateOnly"
	}
	return "skip"
}

// classifyLead applies rules A/B to a profile. reason explains a skip.
func classifyLead(f certain.FieldNames, p certain.Profile) (rule leadRule, reason string) {
	ext, src := strings.TrimSpace(p.ExternalID), strings.TrimSpace(p.Source)
	switch {
	case ext == "" || strings.EqualFold(src, f.SourceValueImport):
		return ruleUpsert, ""
	case src == "" || strings.EqualFold(src, f.SourceValueMarketo):
		return ruleUpdateOnly, ""
	}
	return ruleSkip, fmt.Sprintf("External Profile ID %q belongs to source %q, not %s: not synced (rule A/B)", ext, src, f.SourceValueMarketo)
}

// knownLeadID returns the Marketo lead id a profile already holds: its
// External Profile ID when Source of Profile is Marketo.
func knownLeadID(f certain.FieldNames, p certain.Profile) (int, bool) {
	if !strings.EqualFold(strings.TrimSpace(p.Source), f.SourceValueMarketo) {
		return 0, false
	}
	id, err := strconv.Atoi(strings.TrimSpace(p.ExternalID))
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}

// leadOps carries what the lead rules need of a run.
type leadOps struct {
	mk       Marketo
	ct       Certain
	acct     string
	fields   certain.FieldNames
	mapping  []config.FieldMap
	inFlight int
	log      *slog.Logger
	add      func(name string, n int) // run counters; may be nil
}

// newLeadOps is the lead handling of a job run, counting into its record.
func newLeadOps(rc *RunContext) *leadOps {
	ops := leadOpsFor(rc.Clients, rc.Conn, rc.Job.Account, rc.Logger)
	if rc.Run != nil {
		ops.add = rc.Run.Add
	}
	return ops
}

// leadOpsFor is the lead handling of one account's clients and connection
// (acct "" is the connection's account; log nil is slog.Default).
func leadOpsFor(cl Clients, conn config.Connection, acct string, log *slog.Logger) *leadOps {
	conn = conn.WithDefaults()
	if acct == "" {
		acct = conn.Account
	}
	if log == nil {
		log = slog.Default()
	}
	return &leadOps{
		mk: cl.Marketo, ct: cl.Certain, acct: acct,
		fields: cl.Certain.Fields().WithDefaults(), mapping: conn.FieldMapping,
		inFlight: conn.MaxInFlight, log: log,
	}
}

func (o *leadOps) count(name string, n int) {
	if o.add != nil && n != 0 {
		o.add(name, n)
	}
}

// precheck returns the outcome of a registration the rules skip without
// asking Marketo (another source's External Profile ID, no email).
func (o *leadOps) precheck(r certain.Registration) (store.RecordOutcome, bool) {
	out := store.RecordOutcome{Key: r.Code, Email: r.Profile.Email, Outcome: store.OutcomeSkipped}
	if rule, why := classifyLead(o.fields, r.Profile); rule == ruleSkip {
		out.Reason = why
		return out, true
	}
	if leadEmail(BuildLeadPayload(o.mapping, r), r) == "" {
		out.Reason = "profile has no email address"
		return out, true
	}
	return out, false
}

// leadHash fingerprints what a send depends on: the rule inputs (External
// Profile ID, Source of Profile), the email and the mapped payload. It is
// taken after rule C's write-back, so the next run, which reads the written
// values, finds it unchanged.
func (o *leadOps) leadHash(r certain.Registration) string {
	rule, _ := classifyLead(o.fields, r.Profile)
	p := BuildLeadPayload(o.mapping, r)
	return PayloadHash(struct {
		V       int
		Rule    string
		Email   string
		Ext     string
		Source  string
		Payload map[string]any
	}{1, rule.String(), emailKey(leadEmail(p, r)), strings.TrimSpace(r.Profile.ExternalID), strings.ToLower(strings.TrimSpace(r.Profile.Source)), p})
}

// checkMapping checks every mapped Marketo field against the lead describe:
// an unknown or read-only field is a configuration error.
func (o *leadOps) checkMapping(ctx context.Context) error {
	fields, err := o.mk.DescribeLeads(ctx)
	if err != nil {
		return fmt.Errorf("describe Marketo lead fields: %w", err)
	}
	byName := map[string]bool{}
	ro := map[string]bool{}
	lower := map[string]string{}
	for _, f := range fields {
		byName[f.Name] = true
		ro[f.Name] = f.ReadOnly
		lower[strings.ToLower(f.Name)] = f.Name
	}
	var bad []string
	for _, m := range o.mapping {
		switch {
		case !byName[m.Marketo] && lower[strings.ToLower(m.Marketo)] != "":
			bad = append(bad, fmt.Sprintf("Marketo field %q (from Certain %q) does not exist; did you mean %q?", m.Marketo, m.Certain, lower[strings.ToLower(m.Marketo)]))
		case !byName[m.Marketo]:
			bad = append(bad, fmt.Sprintf("Marketo field %q (from Certain %q) is not a lead field", m.Marketo, m.Certain))
		case ro[m.Marketo]:
			bad = append(bad, fmt.Sprintf("Marketo field %q (from Certain %q) is read-only", m.Marketo, m.Certain))
		}
	}
	if len(bad) > 0 {
		return Configf("account %s field mapping: %s", o.acct, strings.Join(bad, "; "))
	}
	return nil
}

// leadResult is what the rules did with one registration.
type leadResult struct {
	ID      int // Marketo lead id; 0 when none
	Outcome store.RecordOutcome
	// Synced: Marketo accepted the payload and rule C's write-back is done,
	// so the payload hash may be stored.
	Synced bool
}

// isStopping reports errors that must end the run rather than one record:
// the daily quota, a cancelled context, bad credentials.
func isStopping(err error) bool {
	return errors.Is(err, marketo.ErrDailyQuota) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, marketo.ErrBadCredentials) || errors.Is(err, ErrConfig)
}

// syncLeads applies rules A, B and C to regs (at most a few hundred; the
// client chunks by 300). Registrations are updated in place by the
// write-back. Per-record problems are results; err is run-stopping.
//
// Each Sync Leads call carries one input per email, so two registrations
// sharing an email never cause 1036 or a duplicate lead: their payloads are
// merged (first registration's non-blank values win) and both take the
// result. Upserts are sent before update-only records, in separate calls.
func (o *leadOps) syncLeads(ctx context.Context, regs []*certain.Registration) ([]leadResult, error) {
	res := make([]leadResult, len(regs))
	var groups [3][]*syncGroup
	byKey := [3]map[string]*syncGroup{{}, {}, {}}
	for i, r := range regs {
		res[i].Outcome = store.RecordOutcome{Key: r.Code, Email: r.Profile.Email}
		rule, why := classifyLead(o.fields, r.Profile)
		if rule == ruleSkip {
			res[i].Outcome.Outcome, res[i].Outcome.Reason = store.OutcomeSkipped, why
			continue
		}
		payload := BuildLeadPayload(o.mapping, *r)
		email := leadEmail(payload, *r)
		if email == "" {
			res[i].Outcome.Outcome, res[i].Outcome.Reason = store.OutcomeSkipped, "profile has no email address"
			continue
		}
		payload["email"] = email
		res[i].Outcome.Email = email
		k := emailKey(email)
		g := byKey[rule][k]
		if g == nil {
			g = &syncGroup{lead: marketo.Lead{}}
			byKey[rule][k] = g
			groups[rule] = append(groups[rule], g)
		}
		for f, v := range payload {
			if _, ok := g.lead[f]; !ok {
				g.lead[f] = v
			}
		}
		g.members = append(g.members, i)
	}
	for _, rule := range []leadRule{ruleUpsert, ruleUpdateOnly} {
		gs := groups[rule]
		if len(gs) == 0 {
			continue
		}
		req := marketo.SyncLeadsRequest{Action: rule.String(), LookupField: "email", Input: make([]marketo.Lead, len(gs))}
		for i, g := range gs {
			req.Input[i] = g.lead
		}
		out, err := o.mk.SyncLeads(ctx, req)
		if err != nil {
			return res, fmt.Errorf("sync %d leads (%s): %w", len(gs), rule, err)
		}
		if len(out) != len(gs) {
			return res, fmt.Errorf("sync %d leads (%s): Marketo returned %d results", len(gs), rule, len(out))
		}
		// Outcomes are per registration; these count Marketo leads, so the
		// run record also says what Marketo did when registrations share an
		// email (one lead, several registrations).
		o.count("leadsCreated", countStatus(out, marketo.StatusCreated))
		o.count("leadsUpdated", countStatus(out, marketo.StatusUpdated))
		var wb []int
		for gi, g := range gs {
			r := out[gi]
			for _, i := range g.members {
				o.applySyncResult(&res[i], rule, r)
				if res[i].ID > 0 {
					wb = append(wb, i)
				}
			}
		}
		if err := o.writeBacks(ctx, regs, res, wb); err != nil {
			return res, err
		}
	}
	return res, nil
}

type syncGroup struct {
	lead    marketo.Lead
	members []int
}

func (o *leadOps) applySyncResult(lr *leadResult, rule leadRule, r marketo.SyncResult) {
	out := &lr.Outcome
	switch r.Status {
	case marketo.StatusCreated, marketo.StatusUpdated:
		if r.ID <= 0 {
			out.Outcome, out.Code, out.Reason = store.OutcomeFailed, "no-id", "Marketo reported "+r.Status+" without a lead id"
			return
		}
		lr.ID = r.ID
		out.Outcome = store.OutcomeCreated
		if r.Status == marketo.StatusUpdated {
			out.Outcome = store.OutcomeUpdated
		}
		return
	}
	code, msg := "", "Marketo skipped the lead"
	if len(r.Reasons) > 0 {
		code, msg = r.Reasons[0].Code, r.Reasons[0].Message
	}
	switch {
	case code == "1004" && rule == ruleUpdateOnly:
		out.Outcome, out.Code = store.OutcomeSkipped, code
		out.Reason = "no Marketo lead has this email; the profile's External Profile ID is set, so the lead is only updated, never created (rule B)"
	case code == "1007":
		out.Outcome, out.Code = store.OutcomeFailed, code
		out.Reason = "several Marketo leads share this email; merge them in Marketo (" + msg + ")"
	default:
		out.Outcome, out.Code = store.OutcomeFailed, code
		out.Reason = fmt.Sprintf("Marketo %s: %s", r.Status, msg)
	}
}

// writeBacks applies rule C to regs[i] for every i in idx, at most inFlight
// at a time. A Certain failure fails that record (its lead exists in
// Marketo; the next run retries the write-back); run-stopping errors return.
func (o *leadOps) writeBacks(ctx context.Context, regs []*certain.Registration, res []leadResult, idx []int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(o.inFlight, 1))
	for _, i := range idx {
		g.Go(func() error {
			changed, err := o.writeBack(gctx, regs[i], res[i].ID)
			if err != nil {
				if gctx.Err() != nil || isStopping(err) {
					return err
				}
				out := &res[i].Outcome
				out.Reason = fmt.Sprintf("Marketo lead %d %s, but writing it back to the Certain profile failed: %v", res[i].ID, out.Outcome, err)
				out.Outcome, out.Code = store.OutcomeFailed, "certain-write"
				return nil
			}
			res[i].Synced = true
			if changed {
				o.count("profilesWrittenBack", 1)
			}
			return nil
		})
	}
	return g.Wait()
}

// writeBack sets External Profile ID = id and Source of Profile = Marketo on
// the registration's profile when they differ, and mirrors the change in
// reg so later rules see it.
func (o *leadOps) writeBack(ctx context.Context, reg *certain.Registration, id int) (bool, error) {
	want := strconv.Itoa(id)
	changed := map[string]any{}
	if strings.TrimSpace(reg.Profile.ExternalID) != want {
		changed[o.fields.ExternalID] = want
	}
	if !strings.EqualFold(strings.TrimSpace(reg.Profile.Source), o.fields.SourceValueMarketo) {
		changed[o.fields.Source] = o.fields.SourceValueMarketo
	}
	if len(changed) == 0 {
		return false, nil
	}
	if reg.Profile.PIN == "" {
		return false, fmt.Errorf("registration %s: profile has no pin to write the Marketo id to", reg.Code)
	}
	if err := o.ct.UpdateProfile(ctx, o.acct, reg.Profile.PIN, changed); err != nil {
		return false, fmt.Errorf("update profile %s: %w", reg.Profile.PIN, err)
	}
	fields := make(map[string]any, len(reg.Profile.Fields)+2)
	for k, v := range reg.Profile.Fields {
		fields[k] = v
	}
	for k, v := range changed {
		fields[k] = v
	}
	reg.Profile.Fields = fields
	reg.Profile.ExternalID = want
	reg.Profile.Source = o.fields.SourceValueMarketo
	return true, nil
}

// ResolveLeadIDs finds the Marketo lead id of each registration (by
// registration code). The profile's External Profile ID is used when Source
// of Profile is Marketo; otherwise the lead is looked up by email (300
// emails per call) and, where rules A/B allow it, created (createOnly, one
// input per email). Ids found or created are written back to Certain (rule
// C, only when different). Registrations without an id get an outcome
// (skipped or failed, with reason and code) instead. err is returned only for
// run-stopping errors (quota, credentials, configuration, context) and
// failed Marketo calls.
func ResolveLeadIDs(ctx context.Context, rc *RunContext, regs []certain.Registration) (map[string]int, []store.RecordOutcome, error) {
	ptrs := make([]*certain.Registration, len(regs))
	for i := range regs {
		r := regs[i]
		ptrs[i] = &r
	}
	return newLeadOps(rc).resolve(ctx, ptrs)
}

func (o *leadOps) resolve(ctx context.Context, regs []*certain.Registration) (map[string]int, []store.RecordOutcome, error) {
	ids, outs, todo, emails := o.needLookup(regs)
	if len(todo) == 0 {
		return ids, outs, nil
	}
	found, err := o.lookup(ctx, emails)
	if err != nil {
		return ids, outs, err
	}
	lm := o.match(regs, todo, found)
	if err := o.createMissing(ctx, lm); err != nil {
		return ids, outs, err
	}
	if err := o.writeBackIDs(ctx, regs, lm, ids); err != nil {
		return ids, outs, err
	}
	for _, p := range todo {
		if f, ok := lm.fail[p.i]; ok {
			outs = append(outs, f)
		}
	}
	return ids, outs, nil
}

// leadLookup is a registration whose lead is looked up by email.
type leadLookup struct {
	i     int // index in regs
	rule  leadRule
	email string
}

// needLookup sorts regs: ids holds the lead ids the profiles already carry,
// outs the outcomes of registrations the rules skip, todo those to look up
// by email, and emails the distinct emails to look up.
func (o *leadOps) needLookup(regs []*certain.Registration) (ids map[string]int, outs []store.RecordOutcome, todo []leadLookup, emails []string) {
	ids = map[string]int{}
	seenEmail := map[string]bool{}
	for i, r := range regs {
		if id, ok := knownLeadID(o.fields, r.Profile); ok {
			ids[r.Code] = id
			continue
		}
		rule, why := classifyLead(o.fields, r.Profile)
		if rule == ruleSkip {
			outs = append(outs, store.RecordOutcome{Key: r.Code, Email: r.Profile.Email, Outcome: store.OutcomeSkipped, Reason: why})
			continue
		}
		email := leadEmail(BuildLeadPayload(o.mapping, *r), *r)
		if email == "" {
			outs = append(outs, store.RecordOutcome{Key: r.Code, Outcome: store.OutcomeSkipped, Reason: "profile has no email address and no Marketo lead id"})
			continue
		}
		todo = append(todo, leadLookup{i, rule, email})
		if k := emailKey(email); !seenEmail[k] {
			seenEmail[k] = true
			emails = append(emails, email)
		}
	}
	return ids, outs, todo, emails
}

// leadMatches is what the look-up decided, by index in regs.
type leadMatches struct {
	idOf      []int                       // the lead id found or created
	withID    []int                       // the registrations that have one, to write back
	fail      map[int]store.RecordOutcome // the registrations left without one
	create    []*certain.Registration     // the registrations whose lead is to be created
	createIdx []int                       // their indexes
}

// match applies rules A/B to the look-up: one lead is the registration's;
// several are a failure (1007); none is a create, or a skip for an
// update-only profile (1004).
func (o *leadOps) match(regs []*certain.Registration, todo []leadLookup, found map[string][]int) *leadMatches {
	lm := &leadMatches{idOf: make([]int, len(regs)), fail: map[int]store.RecordOutcome{}}
	for _, p := range todo {
		r := regs[p.i]
		switch m := found[emailKey(p.email)]; {
		case len(m) == 1:
			lm.idOf[p.i] = m[0]
			lm.withID = append(lm.withID, p.i)
		case len(m) > 1:
			lm.fail[p.i] = store.RecordOutcome{Key: r.Code, Email: p.email, Outcome: store.OutcomeFailed, Code: "1007",
				Reason: fmt.Sprintf("%d Marketo leads share this email (ids %v); merge them in Marketo", len(m), m)}
		case p.rule == ruleUpdateOnly:
			lm.fail[p.i] = store.RecordOutcome{Key: r.Code, Email: p.email, Outcome: store.OutcomeSkipped, Code: "1004",
				Reason: "no Marketo lead has this email; the profile's External Profile ID is set, so no lead is created (rule B)"}
		default:
			lm.create = append(lm.create, r)
			lm.createIdx = append(lm.createIdx, p.i)
		}
	}
	return lm
}

// createMissing creates the leads match left to create.
func (o *leadOps) createMissing(ctx context.Context, lm *leadMatches) error {
	if len(lm.create) == 0 {
		return nil
	}
	created, err := o.create(ctx, lm.create)
	if err != nil {
		return err
	}
	for j, c := range created {
		i := lm.createIdx[j]
		if c.ID > 0 {
			lm.idOf[i] = c.ID
			lm.withID = append(lm.withID, i)
		} else {
			lm.fail[i] = c.Outcome
		}
	}
	return nil
}

// writeBackIDs applies rule C to the registrations with a lead id and adds
// their ids to ids.
func (o *leadOps) writeBackIDs(ctx context.Context, regs []*certain.Registration, lm *leadMatches, ids map[string]int) error {
	res := make([]leadResult, len(regs))
	for _, i := range lm.withID {
		res[i] = leadResult{ID: lm.idOf[i], Outcome: store.RecordOutcome{Key: regs[i].Code, Email: regs[i].Profile.Email, Outcome: store.OutcomeUpdated}}
	}
	if err := o.writeBacks(ctx, regs, res, lm.withID); err != nil {
		return err
	}
	for _, i := range lm.withID {
		// The lead id is good even when the write-back failed; the failure is
		// counted and logged, and the next resolve retries it.
		if !res[i].Synced {
			o.count("profileWriteBackFailed", 1)
			o.log.WarnContext(ctx, "Certain write-back of the Marketo lead id failed", "registration", regs[i].Code, "leadId", lm.idOf[i], "reason", res[i].Outcome.Reason)
		}
		ids[regs[i].Code] = lm.idOf[i]
	}
	return nil
}

// lookup finds leads by email; the client sends 300 emails per call.
func (o *leadOps) lookup(ctx context.Context, emails []string) (map[string][]int, error) {
	leads, err := o.mk.GetLeadsByFilter(ctx, "email", emails, []string{"id", "email"})
	if err != nil {
		return nil, fmt.Errorf("look up %d leads by email: %w", len(emails), err)
	}
	found := map[string][]int{}
	for _, l := range leads {
		if id := l.ID(); id > 0 {
			k := emailKey(l.Email())
			found[k] = append(found[k], id)
		}
	}
	return found, nil
}

// create creates leads the lookup did not find, with createOnly so that a
// lead created meanwhile by someone else is refused (1005) rather than
// duplicated; those are looked up again.
func (o *leadOps) create(ctx context.Context, regs []*certain.Registration) ([]leadResult, error) {
	res := make([]leadResult, len(regs))
	var input []marketo.Lead
	groupOf := map[string]int{}
	member := make([]int, len(regs))
	for i, r := range regs {
		p := BuildLeadPayload(o.mapping, *r)
		email := leadEmail(p, *r)
		p["email"] = email
		res[i].Outcome = store.RecordOutcome{Key: r.Code, Email: email}
		k := emailKey(email)
		g, ok := groupOf[k]
		if !ok {
			g = len(input)
			groupOf[k] = g
			input = append(input, p)
		}
		member[i] = g
	}
	out, err := o.mk.SyncLeads(ctx, marketo.SyncLeadsRequest{Action: marketo.ActionCreateOnly, LookupField: "email", Input: input})
	if err != nil {
		return res, fmt.Errorf("create %d leads: %w", len(input), err)
	}
	if len(out) != len(input) {
		return res, fmt.Errorf("create %d leads: Marketo returned %d results", len(input), len(out))
	}
	var again []string
	for i := range regs {
		r := out[member[i]]
		if r.Status == marketo.StatusCreated && r.ID > 0 {
			res[i].ID = r.ID
			continue
		}
		if len(r.Reasons) > 0 && r.Reasons[0].Code == "1005" {
			again = append(again, res[i].Outcome.Email)
			continue
		}
		o.applySyncResult(&res[i], ruleUpsert, r)
	}
	o.count("leadsCreated", countStatus(out, marketo.StatusCreated))
	if len(again) > 0 {
		found, err := o.lookup(ctx, again)
		if err != nil {
			return res, err
		}
		for i := range res {
			if res[i].ID > 0 || res[i].Outcome.Outcome != "" {
				continue
			}
			switch m := found[emailKey(res[i].Outcome.Email)]; {
			case len(m) == 1:
				res[i].ID = m[0]
			default:
				res[i].Outcome.Outcome, res[i].Outcome.Code = store.OutcomeFailed, "1005"
				res[i].Outcome.Reason = fmt.Sprintf("Marketo said a lead with this email exists but %d match it", len(m))
			}
		}
	}
	return res, nil
}

func countStatus(out []marketo.SyncResult, status string) int {
	n := 0
	for _, r := range out {
		if r.Status == status {
			n++
		}
	}
	return n
}
