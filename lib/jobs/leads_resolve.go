package jobs

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// Lead resolution (docs/jobs.md §8): the Marketo lead id of each
// registration, for the jobs that address leads by id (trigger-campaign's
// Request Campaign, the metrics jobs' custom object link).

// resolveMode says which profiles may be looked up by e-mail and created.
type resolveMode int

const (
	// resolveByRules: rules A and B decide (the metrics jobs): another
	// system's External Profile ID is skipped, and an update-only profile
	// (Source Marketo or blank, id set) gets no lead created.
	resolveByRules resolveMode = iota
	// resolveFindOrCreate: every profile not linked to a live Marketo lead
	// (External Profile ID set and Source of Profile = Marketo) has its lead
	// found by e-mail or created (trigger-campaign: "if the fields are not
	// populated, the job finds or creates the matching lead").
	resolveFindOrCreate
)

// leadResolution is what resolving the leads of registrations found.
type leadResolution struct {
	IDs  map[string]int        // registration code -> Marketo lead id
	Outs []store.RecordOutcome // the registrations left without a lead: skipped or failed, with reason and code
	// Notes says, by registration code, what resolving did that the run
	// record should tell: a stale id healed, another system's id kept.
	Notes map[string]string
	// Stale holds, by registration code, the dead Marketo id the profile
	// stored (healed or not).
	Stale map[string]int
	// Healed: the stale id was replaced on the profile by the lead found or
	// created; Kept: another system's External Profile ID was left in place;
	// Trusted: the stored id was used unchecked, Marketo having confirmed it
	// within leadIdTrust.
	Healed, Kept, Trusted map[string]bool
}

// ResolveLeadIDs finds the Marketo lead id of each registration under
// rules A and B (the metrics jobs). A stored id (External Profile ID with
// Source of Profile = Marketo) is used as it is, unless this run found it
// dead (leads_ids.go): then the profile is handled as one without an id
// (rule A) and the healing is counted and noted. Other leads are
// looked up by email (300 emails per call) and, where rules A/B allow it,
// created (createOnly, one input per email). Ids found or created are
// written back to Certain (rule C, only when different). Registrations
// without an id get an outcome (skipped or failed, with reason and code)
// instead. err is returned only for run-stopping errors (quota,
// credentials, configuration, context) and failed Marketo calls.
func ResolveLeadIDs(ctx context.Context, rc *RunContext, regs []certain.Registration) (leadResolution, error) {
	ptrs := make([]*certain.Registration, len(regs))
	for i := range regs {
		r := regs[i]
		ptrs[i] = &r
	}
	ops := newLeadOps(rc)
	defer rc.keepSchema(ops)
	return ops.resolve(ctx, ptrs, resolveByRules)
}

// resolve finds the lead of each registration of regs (see
// ResolveLeadIDs; mode says which profiles may be looked up and created).
func (o *leadOps) resolve(ctx context.Context, regs []*certain.Registration, mode resolveMode) (leadResolution, error) {
	res := leadResolution{IDs: map[string]int{}, Notes: map[string]string{}, Stale: map[string]int{}, Healed: map[string]bool{}, Kept: map[string]bool{}, Trusted: map[string]bool{}}
	plan := o.plan(regs, mode, &res)
	found, err := o.confirmStored(ctx, regs, plan, &res)
	if err != nil {
		return res, err
	}
	if err := o.exactSources(ctx, regs, &res); err != nil {
		return res, err
	}
	if len(plan.todo) == 0 {
		return res, nil
	}
	lm := o.match(regs, plan.todo, found)
	if err := o.createMissing(ctx, lm); err != nil {
		return res, err
	}
	if err := o.writeBackIDs(ctx, regs, lm, &res); err != nil {
		return res, err
	}
	for _, p := range plan.todo {
		if f, ok := lm.fail[p.i]; ok {
			if old, stale := res.Stale[f.Key]; stale {
				f.Reason = fmt.Sprintf("stored Marketo id %d no longer exists (merged or deleted); %s", old, f.Reason)
			}
			res.Outs = append(res.Outs, f)
		}
	}
	return res, nil
}

// exactSources applies rule C to the registrations that keep their stored
// id but whose Source of Profile is Marketo only up to case or spaces: it
// is written as exactly the configured value. A failed write is counted
// and logged; the id is still used.
func (o *leadOps) exactSources(ctx context.Context, regs []*certain.Registration, res *leadResolution) error {
	wb := make([]leadResult, len(regs))
	var idx []int
	for i, r := range regs {
		id, ok := res.IDs[r.Code]
		if stored, linked := knownLeadID(o.fields, r.Profile); ok && linked && stored == id && !sourceIsExactlyMarketo(o.fields, r.Profile) {
			wb[i] = leadResult{ID: id, Outcome: store.RecordOutcome{Key: r.Code, Outcome: store.OutcomeUpdated}}
			idx = append(idx, i)
		}
	}
	if err := o.writeBacks(ctx, regs, wb, idx); err != nil {
		return err
	}
	for _, i := range idx {
		if !wb[i].Synced {
			o.count("profileWriteBackFailed", 1)
			o.log.WarnContext(ctx, "Certain write-back of Source of Profile failed", "registration", regs[i].Code, "reason", wb[i].Outcome.Reason)
		}
	}
	return nil
}

// leadLookup is a registration whose lead is looked up by email.
type leadLookup struct {
	i     int // index in regs
	rule  leadRule
	email string
}

// storedLead is a registration whose profile stores a Marketo id that this
// run has not confirmed yet.
type storedLead struct {
	i     int
	id    int
	email string
}

// resolvePlan sorts the registrations of a resolve.
type resolvePlan struct {
	stored []storedLead // ids to confirm
	todo   []leadLookup // leads to look up by email
}

// plan sorts regs: confirmed stored ids go to res.IDs, registrations the
// rules skip to res.Outs; the rest are stored ids to confirm or leads to
// look up.
func (o *leadOps) plan(regs []*certain.Registration, mode resolveMode, res *leadResolution) *resolvePlan {
	p := &resolvePlan{}
	for i, r := range regs {
		email := leadEmail(BuildLeadPayload(o.mapping, *r), *r)
		if id, ok := knownLeadID(o.fields, r.Profile); ok {
			switch exists, known := o.idCache.get(id); {
			case !known && mode == resolveByRules:
				// The metrics jobs use a stored id as it is: Marketo checks
				// the link of every record they write, and refuses one to a
				// lead that no longer exists (1004), which sends it back
				// here as a dead id (metricsRun.healLeads). Unchanged
				// records address no lead and cost no check.
				res.IDs[r.Code] = id
				continue
			case !known:
				p.stored = append(p.stored, storedLead{i, id, email})
				continue
			case exists:
				res.IDs[r.Code] = id
				continue
			}
			if !o.markStale(r, id, email, res) {
				continue
			}
			p.todo = append(p.todo, leadLookup{i, ruleUpsert, email})
			continue
		}
		rule, why := ruleUpsert, ""
		if mode == resolveByRules {
			rule, why = classifyLead(o.fields, r.Profile)
		}
		switch {
		case rule == ruleSkip:
			res.Outs = append(res.Outs, store.RecordOutcome{Key: r.Code, Email: r.Profile.Email, Outcome: store.OutcomeSkipped, Reason: why})
		case email == "" && mode == resolveFindOrCreate:
			res.Outs = append(res.Outs, store.RecordOutcome{Key: r.Code, Outcome: store.OutcomeFailed, Code: "no-email",
				Reason: "the profile has no email address and no Marketo lead id: add its email in Certain"})
		case email == "":
			res.Outs = append(res.Outs, store.RecordOutcome{Key: r.Code, Outcome: store.OutcomeSkipped, Reason: "profile has no email address and no Marketo lead id"})
		default:
			p.todo = append(p.todo, leadLookup{i, rule, email})
		}
	}
	return p
}

// markStale records that r's profile stores the dead id: the profile is
// handled as one without an id. It reports whether the lead can be looked
// up (the profile has an email); if not, the outcome is recorded.
func (o *leadOps) markStale(r *certain.Registration, id int, email string, res *leadResolution) bool {
	o.stale.set(r.Code, id)
	res.Stale[r.Code] = id
	if email != "" {
		return true
	}
	res.Outs = append(res.Outs, store.RecordOutcome{Key: r.Code, Outcome: store.OutcomeFailed, Code: "stale-id",
		Reason: fmt.Sprintf("stored Marketo id %d no longer exists (merged or deleted) and the profile has no email address to find its lead by: add the email, or the current lead id, in Certain", id)})
	return false
}

// confirmStored checks the stored ids of plan and looks up the emails of
// plan.todo; it returns the leads found per email. When the batch looks
// emails up anyway, a stored id that comes back for its profile's email is
// confirmed by that call; the others are checked by id (leads_ids.go). A
// dead id moves its registration to plan.todo.
func (o *leadOps) confirmStored(ctx context.Context, regs []*certain.Registration, plan *resolvePlan, res *leadResolution) (map[string][]int, error) {
	asked := map[string]bool{}
	var emails []string
	ask := func(email string) {
		if k := emailKey(email); email != "" && !asked[k] {
			asked[k] = true
			emails = append(emails, email)
		}
	}
	for _, p := range plan.todo {
		ask(p.email)
	}
	if len(emails) > 0 {
		for _, s := range plan.stored {
			ask(s.email)
		}
	}
	found, err := o.lookup(ctx, emails)
	if err != nil {
		return nil, err
	}
	var check []storedLead
	var ids []int
	for _, s := range plan.stored {
		if slices.Contains(found[emailKey(s.email)], s.id) {
			res.IDs[regs[s.i].Code] = s.id
			continue
		}
		check = append(check, s)
		ids = append(ids, s.id)
	}
	if len(check) == 0 {
		return found, nil
	}
	check, ids = o.trustedLeads(ctx, regs, check, ids, res)
	if len(check) == 0 {
		return found, nil
	}
	dead, err := o.deadLeadIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	emails = emails[:0]
	for _, s := range check {
		if !dead[s.id] {
			res.IDs[regs[s.i].Code] = s.id
			continue
		}
		if o.markStale(regs[s.i], s.id, s.email, res) {
			plan.todo = append(plan.todo, leadLookup{s.i, ruleUpsert, s.email})
			ask(s.email)
		}
	}
	more, err := o.lookup(ctx, emails)
	for k, v := range more {
		found[k] = v
	}
	return found, err
}

// trustedLeads takes out of check (and ids) the stored ids Marketo
// confirmed within the connection's leadIdTrust (leads_ids.go): they are
// used without a check. When the confirmations cannot be read, none is
// trusted.
func (o *leadOps) trustedLeads(ctx context.Context, regs []*certain.Registration, check []storedLead, ids []int, res *leadResolution) ([]storedLead, []int) {
	ok, err := o.trust.trusted(ctx, ids)
	if err != nil {
		// Only an optimisation: check them all with Marketo instead.
		o.log.WarnContext(ctx, "could not read confirmed Marketo lead ids; checking them with Marketo", "error", err)
		return check, ids
	}
	var restC []storedLead
	var restI []int
	for _, s := range check {
		if ok[s.id] {
			res.IDs[regs[s.i].Code] = s.id
			res.Trusted[regs[s.i].Code] = true
			o.idCache.set(true, s.id)
			continue
		}
		restC, restI = append(restC, s), append(restI, s.id)
	}
	return restC, restI
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
	var ids []int
	for j, c := range created {
		i := lm.createIdx[j]
		if c.ID > 0 {
			lm.idOf[i] = c.ID
			lm.withID = append(lm.withID, i)
			ids = append(ids, c.ID)
		} else {
			lm.fail[i] = c.Outcome
		}
	}
	o.confirmed(ctx, ids...)
	return nil
}

// writeBackIDs applies rule C to the registrations with a lead id and adds
// their ids (and what the write-back did) to res.
func (o *leadOps) writeBackIDs(ctx context.Context, regs []*certain.Registration, lm *leadMatches, res *leadResolution) error {
	wb := make([]leadResult, len(regs))
	for _, i := range lm.withID {
		wb[i] = leadResult{ID: lm.idOf[i], Outcome: store.RecordOutcome{Key: regs[i].Code, Email: regs[i].Profile.Email, Outcome: store.OutcomeUpdated}}
	}
	if err := o.writeBacks(ctx, regs, wb, lm.withID); err != nil {
		return err
	}
	for _, i := range lm.withID {
		code := regs[i].Code
		// The lead id is good even when the write-back failed; the failure is
		// counted and logged, and the next resolve retries it.
		if !wb[i].Synced {
			o.count("profileWriteBackFailed", 1)
			o.log.WarnContext(ctx, "Certain write-back of the Marketo lead id failed", "registration", code, "leadId", lm.idOf[i], "reason", wb[i].Outcome.Reason)
			if old, stale := res.Stale[code]; stale {
				res.Notes[code] = fmt.Sprintf("stored Marketo id %d no longer exists (merged or deleted); lead %d used, but writing it back failed.", old, lm.idOf[i])
			}
		} else if wb[i].Note != "" {
			res.Notes[code] = wb[i].Note
		}
		res.Healed[code], res.Kept[code] = wb[i].Healed, wb[i].Kept
		res.IDs[code] = lm.idOf[i]
	}
	return nil
}

// lookup finds leads by email; the client sends 300 emails per call. No
// emails, no call.
func (o *leadOps) lookup(ctx context.Context, emails []string) (map[string][]int, error) {
	found := map[string][]int{}
	if len(emails) == 0 {
		return found, nil
	}
	leads, err := o.mk.GetLeadsByFilter(ctx, "email", emails, []string{"id", "email"})
	if err != nil {
		return nil, fmt.Errorf("look up %d leads by email: %w", len(emails), err)
	}
	var ids []int
	for _, l := range leads {
		if id := l.ID(); id > 0 {
			k := emailKey(l.Email())
			found[k] = append(found[k], id)
			ids = append(ids, id)
		}
	}
	o.confirmed(ctx, ids...)
	return found, nil
}

// create creates leads the lookup did not find, with createOnly so that a
// lead created meanwhile by someone else is refused (1005) rather than
// duplicated; those are looked up again.
func (o *leadOps) create(ctx context.Context, regs []*certain.Registration) ([]leadResult, error) {
	res := make([]leadResult, len(regs))
	if _, err := o.describe(ctx); err != nil {
		return res, err
	}
	var input []marketo.Lead
	groupOf := map[string]int{}
	member := make([]int, len(regs))
	for i, r := range regs {
		p := BuildLeadPayload(o.mapping, *r)
		email := leadEmail(p, *r)
		p["email"] = email
		p, left := o.typedForCreate(p)
		if len(left) > 0 {
			o.count("leadFieldsLeftOut", len(left))
			o.log.WarnContext(ctx, "lead created without fields whose values do not fit their Marketo type (sync-leads reports them per record)",
				"registration", r.Code, "fields", joinLeft(left))
		}
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
				res[i].Outcome.Reason = "Marketo said a lead with this email exists but " + strconv.Itoa(len(m)) + " match it"
			}
		}
	}
	return res, nil
}
