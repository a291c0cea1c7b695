package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/fieldtype"
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
	// overwriteForeign is the connection's overwriteForeignExternalIds:
	// whether a lead found for a profile whose External Profile ID belongs
	// to another system replaces that id (rule C) or leaves it.
	overwriteForeign bool
	// idCache is what Marketo said this run about stored lead ids
	// (leads_ids.go).
	idCache *leadIDCache
	// stale holds, by registration code, the dead Marketo id a profile
	// stores: such a profile is handled as one without an id (rule A).
	stale    *staleIDs
	overflow fieldtype.Overflow // the connection's stringOverflow
	schema   leadSchema         // the lead describe, once read (convert.go)
	// described: schema was read by this leadOps (not handed in); kept:
	// trigger-campaign has remembered it.
	described, kept bool
	describing      callLock // held while reading the describe: batches running at once wait for it
	// run is the job run whose describe this leadOps shares; nil outside
	// a job run (trigger-campaign).
	run *RunContext
	// trust remembers the ids Marketo confirmed, across runs and jobs
	// (leads_ids.go); nil: not kept.
	trust *leadTrust
}

// staleIDs is, by registration code, the dead Marketo id a profile
// stores; safe for the batches of a run running at once.
type staleIDs struct {
	mu  sync.Mutex
	ids map[string]int
}

func newStaleIDs() *staleIDs { return &staleIDs{ids: map[string]int{}} }

// get returns the dead id of a registration's profile, 0 when none.
func (s *staleIDs) get(code string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[code]
}

// set records the dead id a registration's profile stores.
func (s *staleIDs) set(code string, id int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[code] = id
}

// newLeadOps is the lead handling of a job run, counting into its record.
// Every leadOps of the run shares the run's answers about stored ids.
func newLeadOps(rc *RunContext) *leadOps {
	ops := leadOpsFor(rc.Clients, rc.Conn, rc.Job.Account, rc.Logger)
	if rc.Run != nil {
		ops.add = rc.Run.Add
	}
	ops.idCache = rc.leadIDCache()
	ops.run = rc
	ops.trust = newLeadTrust(rc.Store, rc.Job.Account, time.Duration(rc.Conn.LeadIDTrust), rc.Now)
	rc.schemaMu.Lock()
	ops.schema = rc.leadSchema
	rc.schemaMu.Unlock()
	return ops
}

// keepSchema hands the describe ops read back to the run, for its next
// leadOps.
func (rc *RunContext) keepSchema(ops *leadOps) {
	rc.schemaMu.Lock()
	if rc.leadSchema == nil {
		rc.leadSchema = ops.schema
	}
	rc.schemaMu.Unlock()
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
		inFlight: conn.MaxInFlight, log: log, overwriteForeign: conn.OverwriteForeignExternalIDs, overflow: conn.Overflow(),
		idCache: newLeadIDCache(), stale: newStaleIDs(),
	}
}

// ruleFor is classifyLead, except that a profile whose stored Marketo id
// was found dead is handled as one without an id (rule A).
func (o *leadOps) ruleFor(r certain.Registration) (leadRule, string) {
	if o.stale.get(r.Code) > 0 {
		return ruleUpsert, ""
	}
	return classifyLead(o.fields, r.Profile)
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
// an unknown or read-only field, or one whose type no value of its Certain
// field can fit, is a configuration error.
func (o *leadOps) checkMapping(ctx context.Context) error {
	schema, err := o.describe(ctx)
	if err != nil {
		return err
	}
	byName := map[string]bool{}
	ro := map[string]bool{}
	lower := map[string]string{}
	for _, f := range schema {
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
	bad = append(bad, o.checkTypes(schema)...)
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
	// Note says what the write-back did that the run record should tell:
	// a stale id replaced, another system's id kept.
	Note string
	// Healed: the write-back replaced a dead stored id; Kept: it left
	// another system's External Profile ID in place.
	Healed, Kept bool
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
// merged (a later registration's non-blank values over an earlier one's,
// as if each had been sent on its own, in the order read) and both take
// the result. Upserts are sent before update-only records, in separate calls.
//
// An update-only profile Marketo has no lead for (1004) that stores a
// Marketo id may hold a dead id: those ids are checked (one call for the
// batch), and a profile whose id is dead is sent again as one without an id
// (rule A: created when no lead has its email).
func (o *leadOps) syncLeads(ctx context.Context, regs []*certain.Registration) ([]leadResult, error) {
	res := make([]leadResult, len(regs))
	if _, err := o.describe(ctx); err != nil {
		return res, err
	}
	var byRule [3][]int
	for i, r := range regs {
		res[i].Outcome = store.RecordOutcome{Key: r.Code, Email: r.Profile.Email}
		rule, why := o.ruleFor(*r)
		if rule == ruleSkip {
			res[i].Outcome.Outcome, res[i].Outcome.Reason = store.OutcomeSkipped, why
			continue
		}
		if leadEmail(BuildLeadPayload(o.mapping, *r), *r) == "" {
			res[i].Outcome.Outcome, res[i].Outcome.Reason = store.OutcomeSkipped, "profile has no email address"
			continue
		}
		byRule[rule] = append(byRule[rule], i)
	}
	for _, rule := range []leadRule{ruleUpsert, ruleUpdateOnly} {
		if err := o.syncGroup(ctx, regs, res, byRule[rule], rule); err != nil {
			return res, err
		}
	}
	again, err := o.staleAfterNotFound(ctx, regs, res, byRule[ruleUpdateOnly])
	if err != nil || len(again) == 0 {
		return res, err
	}
	return res, o.syncGroup(ctx, regs, res, again, ruleUpsert)
}

// staleAfterNotFound checks the stored ids of the update-only registrations
// idx that Marketo found no lead for (1004) and returns those whose id is
// dead, reset and marked stale so that they are sent again under rule A.
func (o *leadOps) staleAfterNotFound(ctx context.Context, regs []*certain.Registration, res []leadResult, idx []int) ([]int, error) {
	var cand, ids []int
	for _, i := range idx {
		if id, ok := knownLeadID(o.fields, regs[i].Profile); ok && res[i].Outcome.Code == "1004" {
			cand = append(cand, i)
			ids = append(ids, id)
		}
	}
	if len(cand) == 0 {
		return nil, nil
	}
	dead, err := o.deadLeadIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	var again []int
	for j, i := range cand {
		if dead[ids[j]] {
			o.stale.set(regs[i].Code, ids[j])
			res[i] = leadResult{Outcome: store.RecordOutcome{Key: regs[i].Code, Email: regs[i].Profile.Email}}
			again = append(again, i)
		}
	}
	return again, nil
}

// syncGroup sends the registrations idx of regs under one rule: one input
// per email, then rule C for every registration that got a lead.
func (o *leadOps) syncGroup(ctx context.Context, regs []*certain.Registration, res []leadResult, idx []int, rule leadRule) error {
	if len(idx) == 0 {
		return nil
	}
	var gs []*syncGroup
	byKey := map[string]*syncGroup{}
	for _, i := range idx {
		r := regs[i]
		payload := BuildLeadPayload(o.mapping, *r)
		email := leadEmail(payload, *r)
		payload["email"] = email
		res[i].Outcome.Email = email
		payload, bad := o.typed(payload)
		if bad != nil {
			res[i].Outcome.Outcome, res[i].Outcome.Code, res[i].Outcome.Reason = store.OutcomeFailed, CodeType, bad.reason()
			continue
		}
		k := emailKey(email)
		g := byKey[k]
		if g == nil {
			g = &syncGroup{lead: marketo.Lead{}}
			byKey[k] = g
			gs = append(gs, g)
		}
		// The same values as sending the members one after another in
		// the order they were read: whichever of them a batch holds, and
		// whichever were sent before a crash and again after it, the lead
		// ends with each field's last non-blank value (synclead.go, send).
		maps.Copy(g.lead, payload)
		g.members = append(g.members, i)
	}
	if len(gs) == 0 {
		return nil // every value refused by the conversion
	}
	req := marketo.SyncLeadsRequest{Action: rule.String(), LookupField: "email", Input: make([]marketo.Lead, len(gs))}
	for i, g := range gs {
		req.Input[i] = g.lead
	}
	out, err := o.mk.SyncLeads(ctx, req)
	if err != nil {
		return fmt.Errorf("sync %d leads (%s): %w", len(gs), rule, err)
	}
	if len(out) != len(gs) {
		return fmt.Errorf("sync %d leads (%s): Marketo returned %d results", len(gs), rule, len(out))
	}
	// Outcomes are per registration; these count Marketo leads, so the
	// run record also says what Marketo did when registrations share an
	// email (one lead, several registrations).
	o.count("leadsCreated", countStatus(out, marketo.StatusCreated))
	o.count("leadsUpdated", countStatus(out, marketo.StatusUpdated))
	var wb, ids []int
	for gi, g := range gs {
		r := out[gi]
		for _, i := range g.members {
			o.applySyncResult(&res[i], rule, r)
			if res[i].ID > 0 {
				ids = append(ids, res[i].ID)
				wb = append(wb, i)
			}
		}
	}
	o.confirmed(ctx, ids...)
	if err := o.writeBacks(ctx, regs, res, wb); err != nil {
		return err
	}
	for _, i := range wb {
		if res[i].Note != "" {
			res[i].Outcome.Reason = strings.TrimSpace(res[i].Outcome.Reason + " " + res[i].Note)
		}
	}
	return nil
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
		code, msg = r.Reasons[0].Code, marketo.SafeMessage(r.Reasons[0])
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
// A written-back id that replaces a stale one, and another system's id
// kept, are counted and noted in res[i].Note.
//
// In a run that takes turns (RunContext.writeBackTurns: the metrics jobs,
// whose batches do their Marketo calls before and after their write-backs),
// the batches hand their write-backs out one batch at a time, in the order
// they asked (writeBackTurn): batches in the background share one
// Certain budget, and if they all shared it at once they would all finish
// their write-backs together, then all spend their Marketo calls (upload,
// next batch's look-ups) together while Certain idles. Taken in turns, a
// batch's write-backs end while the next ones are still queued, so its
// Marketo calls overlap theirs. The turn is held only while the calls are
// being handed out, so the next batch's calls fill the slots the last
// answers of this one free.
func (o *leadOps) writeBacks(ctx context.Context, regs []*certain.Registration, res []leadResult, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	endTurn, err := o.writeBackTurn(ctx)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(o.inFlight, 1))
	for _, i := range idx {
		old := o.stale.get(regs[i].Code)
		g.Go(func() error {
			wb, err := o.writeBack(gctx, regs[i], res[i].ID)
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
			res[i].Note = o.writeBackNote(wb, old, res[i].ID)
			res[i].Healed, res[i].Kept = old > 0 && wb.changed, wb.kept
			return nil
		})
	}
	endTurn()
	return g.Wait()
}

// writeBackTurn waits for the run's turn to hand write-backs out (see
// writeBacks) and returns what ends it; a leadOps without a run, or of a
// run that takes no turns, has none.
func (o *leadOps) writeBackTurn(ctx context.Context) (func(), error) {
	if o.run == nil || !o.run.writeBackTurns {
		return func() {}, nil
	}
	l := &o.run.writingBack
	if err := l.lock(ctx); err != nil {
		return nil, fmt.Errorf("waiting for the turn to write lead ids back to Certain: %w", err)
	}
	return l.unlock, nil
}

// writeBackNote counts what a write-back did and says it for the run
// record; old is the dead id the profile stored, 0 when none was found.
func (o *leadOps) writeBackNote(wb writeBackResult, old, id int) string {
	if wb.changed {
		o.count("profilesWrittenBack", 1)
	}
	switch {
	case wb.kept:
		o.count(CountForeignIdsKept, 1)
		return fmt.Sprintf("External Profile ID %q belongs to source %q and was kept (overwriteForeignExternalIds is off); Marketo lead %d used.", wb.foreignID, wb.foreignSource, id)
	case old > 0 && wb.changed:
		o.count(CountStaleIdsHealed, 1)
		return staleNote(old, id, "used") + "."
	case wb.replaced != "":
		return fmt.Sprintf("External Profile ID %s replaced by %d, the Marketo lead with this email.", wb.replaced, id)
	}
	return ""
}

// writeBackResult is what rule C did to one profile.
type writeBackResult struct {
	changed  bool   // the profile was updated
	replaced string // the External Profile ID the lead id replaced ("" when blank or the same)
	// kept: the External Profile ID belongs to another system and
	// overwriteForeignExternalIds is off, so nothing was written.
	kept                     bool
	foreignID, foreignSource string
}

// writeBack sets External Profile ID = id and Source of Profile = exactly
// the configured Marketo value on the registration's profile when they
// differ, and mirrors the change in reg so later rules see it. Another
// system's External Profile ID is replaced only with overwriteForeign.
func (o *leadOps) writeBack(ctx context.Context, reg *certain.Registration, id int) (writeBackResult, error) {
	if foreignID(o.fields, reg.Profile) && !o.overwriteForeign {
		return writeBackResult{kept: true, foreignID: strings.TrimSpace(reg.Profile.ExternalID), foreignSource: strings.TrimSpace(reg.Profile.Source)}, nil
	}
	want := strconv.Itoa(id)
	var wb writeBackResult
	changed := map[string]any{}
	if old := strings.TrimSpace(reg.Profile.ExternalID); old != want {
		changed[o.fields.ExternalID] = want
		wb.replaced = old
	}
	if !sourceIsExactlyMarketo(o.fields, reg.Profile) {
		changed[o.fields.Source] = o.fields.SourceValueMarketo
	}
	if len(changed) == 0 {
		return wb, nil
	}
	if reg.Profile.PIN == "" {
		return wb, fmt.Errorf("registration %s: profile has no pin to write the Marketo id to", reg.Code)
	}
	if err := o.ct.UpdateProfile(ctx, o.acct, reg.Profile.PIN, changed); err != nil {
		return wb, fmt.Errorf("update profile %s: %w", reg.Profile.PIN, err)
	}
	// The registration's profile mirrors the write, in a copy of what it
	// changes: its maps may be shared with the caller's. The fields the
	// write does not touch are shared.
	fields := make(map[string]any, len(reg.Profile.Fields)+len(changed))
	maps.Copy(fields, reg.Profile.Fields)
	for k := range changed {
		top := certain.TopKey(k)
		if v, ok := fields[top]; ok {
			fields[top] = deepCopy(v)
		}
	}
	for k, v := range changed {
		if err := certain.SetPath(fields, k, v); err != nil {
			fields[k] = v
		}
	}
	reg.Profile.Fields = fields
	reg.Profile.ExternalID = want
	reg.Profile.Source = o.fields.SourceValueMarketo
	wb.changed = true
	return wb, nil
}

// deepCopy copies decoded JSON (objects and lists; other values are
// immutable).
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
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
