package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
)

// Values of Params.Include for interest-metrics.
const (
	IncludeRegistered = "registered"
	IncludeAttended   = "attended"
)

// InterestMetrics is the JobFunc of interest-metrics (docs/jobs.md §5):
// one custom object record per included registration and tag.
func InterestMetrics(ctx context.Context, rc *RunContext) error {
	return newMetricsRun(rc, ResolveLeadIDs).interest(ctx)
}

// interestManifest is what was last sent with points > 0 for one
// registration: lead id -> tags. It is kept in store.Hashes under "m:<regCode>"
// so a tag whose points fall to nothing is sent as 0.
type interestManifest map[int][]string

const manifestPrefix = "m:"

func parseManifest(s string) (interestManifest, error) {
	if s == "" {
		return nil, nil
	}
	var raw map[string][]string
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, err
	}
	out := interestManifest{}
	for k, v := range raw {
		id, err := strconv.Atoi(k)
		if err != nil {
			return nil, fmt.Errorf("lead id %q: %w", k, err)
		}
		out[id] = v
	}
	return out, nil
}

func (mf interestManifest) encode() string {
	raw := map[string][]string{}
	for id, tags := range mf {
		if len(tags) > 0 {
			t := slices.Clone(tags)
			slices.Sort(t)
			raw[strconv.Itoa(id)] = t
		}
	}
	if len(raw) == 0 {
		return ""
	}
	b, _ := json.Marshal(raw) // strings only
	return string(b)
}

func (mf interestManifest) size() int {
	n := 0
	for _, t := range mf {
		n += len(t)
	}
	return n
}

func interestSpec() coSpec {
	return coSpec{
		Defaults: map[string]string{FieldKey: "interestKey", FieldEvent: "eventCode", FieldProgramName: "programName",
			FieldInterest: "interest", FieldPoints: "interestPoints"},
		Required: []string{FieldLead, FieldProgramName, FieldInterest, FieldPoints},
		Optional: []string{FieldKey, FieldEvent},
	}
}

func (m *metricsRun) interest(ctx context.Context) error {
	rc, p := m.rc, m.rc.Job.Params
	if err := m.loadCheckpoint(); err != nil {
		return err
	}
	rules := newInterestRules(rc.Clients.Certain.Fields().WithDefaults(), p)
	if !rules.registered && !rules.attended {
		return Configf("params.include must name %q and/or %q", IncludeRegistered, IncludeAttended)
	}
	co, err := planCustomObject(ctx, rc.Clients.Marketo, rc.Job.WithDefaults().Params.CustomObject, p.Fields, interestSpec())
	if err != nil {
		return err
	}
	m.up = &coUploader{rc: rc, plan: co, scope: m.scope, force: p.ForceFull, resumed: m.cp.Next > 0}
	r := &interestRun{metricsRun: m, co: co, cats: includedCategories(p)}
	if r.eventName, err = m.eventName(ctx, co); err != nil {
		return err
	}
	if r.points, err = m.collectInterest(ctx, rules); err != nil {
		return err
	}
	return m.stream(ctx, certain.RegistrationQuery{}, r.accept, r.flush)
}

// interestRun is the upload half of an interest-metrics run, once the
// points are summed.
type interestRun struct {
	*metricsRun
	co        coPlan
	eventName string
	cats      []string
	points    interestTotals // dropped registration by registration as they are read
}

// accept keeps the registrations of a page that have tags to send: points
// now, or tags sent before (their manifest) to set to 0.
func (r *interestRun) accept(ctx context.Context, page []certain.Registration) ([]pendingReg, error) {
	keys := make([]string, len(page))
	for i, reg := range page {
		keys[i] = manifestPrefix + reg.Code
	}
	mans, err := r.rc.Store.GetHashes(ctx, r.scope, keys)
	if err != nil {
		return nil, fmt.Errorf("read interest manifests: %w", err)
	}
	var out []pendingReg
	for i, reg := range page {
		if e, ok := r.pending(ctx, reg, mans[keys[i]]); ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// pending is what one registration has to send, given its stored manifest;
// ok is false when it has nothing (or its status is unknown: recorded).
func (r *interestRun) pending(ctx context.Context, reg certain.Registration, manifest string) (e pendingReg, ok bool) {
	pts := r.points[reg.Code]
	delete(r.points, reg.Code)
	eligible, known := interestEligible(r.rc.Conn, r.cats, reg)
	if !known {
		r.recordUnknownStatus(reg)
		return pendingReg{}, false
	}
	old, err := parseManifest(manifest)
	if err != nil {
		r.rc.Logger.WarnContext(ctx, "unreadable interest manifest; treated as empty", "registration", reg.Code, "error", err)
	}
	e = pendingReg{Reg: reg, Old: old}
	if eligible {
		e.Tags, e.Points = pts.positive()
	} else {
		r.rc.Run.Add("excluded", 1)
	}
	if len(e.Tags) == 0 && old.size() == 0 {
		return pendingReg{}, false
	}
	e.NeedsLead = len(e.Tags) > 0
	e.weight = len(e.Tags) + old.size()
	return e, true
}

// flush resolves the batch's leads, uploads its records and moves the
// manifests to what Marketo now holds. A record Marketo refuses because
// its lead no longer exists (merged away or deleted) is pooled with those
// of other batches (metrics_heal.go) and sent again: under the
// registration's lead resolved now, or, for a 0 that clears a tag of that
// lead, linked to the registration's current lead under its old key. The
// manifests of the registrations with such a record are stored once that
// is done.
func (r *interestRun) flush(ctx context.Context, batch []pendingReg, turn *claimTurn) error {
	var regs []certain.Registration
	for _, b := range batch {
		if b.NeedsLead {
			regs = append(regs, b.Reg)
		}
	}
	ids, notes, err := r.leadIDs(ctx, regs)
	if err != nil {
		return err
	}
	recs, from := r.records(batch, ids, notes)
	ok, held, err := r.up.uploadHolding(ctx, recs, turn)
	if err != nil {
		return err
	}
	if len(held) == 0 {
		return r.storeManifests(ctx, batch, nextManifests(batch, ids, from, ok))
	}
	waits := map[int]bool{} // batch entries with a held record
	for _, h := range held {
		waits[from[h.i].entry] = true
	}
	next := nextManifests(batch, ids, from, ok)
	var done []pendingReg
	var doneNext []interestManifest
	for i, b := range batch {
		if !waits[i] {
			done, doneNext = append(done, b), append(doneNext, next[i])
		}
	}
	if err := r.storeManifests(ctx, done, doneNext); err != nil {
		return err
	}
	return r.holdForHealing(ctx, r.healItem(batch, waits, ids, recs, from, ok, held))
}

// interestOrigin is what an uploaded record stands for: a batch entry, the
// lead, the tag, and whether it sets the tag to 0.
type interestOrigin struct {
	entry int
	lead  int
	tag   string
	zero  bool
}

// records builds the batch's records: each tag with points, and a 0 for
// each tag sent before (for this lead or another) that has nothing now.
// from[i] is what recs[i] stands for.
func (r *interestRun) records(batch []pendingReg, ids map[string]int, notes map[string]string) (recs []coRecord, from []interestOrigin) {
	rec := func(i int, b pendingReg, lead int, tag string, pts float64) {
		recs = append(recs, r.record(b, lead, lead, tag, pts, notes[b.Reg.Code]))
		from = append(from, interestOrigin{entry: i, lead: lead, tag: tag, zero: pts == 0})
	}
	for i, b := range batch {
		lead, resolved := ids[b.Reg.Code]
		if b.NeedsLead && !resolved {
			continue // outcome recorded; the manifest stays as it was
		}
		for _, t := range b.Tags {
			rec(i, b, lead, t, b.Points[t])
		}
		for l, tags := range b.Old {
			for _, t := range tags {
				if l == lead && slices.Contains(b.Tags, t) {
					continue
				}
				rec(i, b, l, t, 0)
			}
		}
	}
	return recs, from
}

// record is the record of one tag of a registration, linked to lead, with
// the key of keyLead (the same lead, except when a 0 clears a record of a
// lead that no longer exists).
func (r *interestRun) record(b pendingReg, lead, keyLead int, tag string, pts float64, note string) coRecord {
	event := r.rc.Job.Event
	v := map[string]any{FieldLead: lead, FieldKey: event + ":" + strconv.Itoa(keyLead) + ":" + tag, FieldEvent: event,
		FieldProgramName: r.eventName, FieldInterest: tag, FieldPoints: pts}
	return coRecord{OutKey: b.Reg.Code + "/" + tag, Email: b.Reg.Profile.Email, Rec: r.co.record(v), Owner: b.Reg.Code, Zero: pts == 0, Lead: lead, Note: note}
}

// nextManifests is, per batch entry, the tags Marketo may now hold with
// points > 0, from what the upload did (ok[i] for record i).
func nextManifests(batch []pendingReg, ids map[string]int, from []interestOrigin, ok []bool) []interestManifest {
	next := make([]interestManifest, len(batch))
	for i, b := range batch {
		next[i] = interestManifest{}
		if _, resolved := ids[b.Reg.Code]; b.NeedsLead && !resolved {
			next[i] = b.Old
		}
	}
	for j, o := range from {
		b := batch[o.entry]
		had := slices.Contains(b.Old[o.lead], o.tag)
		// Keep a tag when it is now in Marketo with points > 0, or when
		// its update failed and Marketo may still hold the old points.
		if (!o.zero && ok[j]) || (!ok[j] && had) {
			next[o.entry][o.lead] = append(next[o.entry][o.lead], o.tag)
		}
	}
	return next
}

// storeManifests writes the manifests that changed and deletes the ones
// that became empty.
func (r *interestRun) storeManifests(ctx context.Context, batch []pendingReg, next []interestManifest) error {
	put := map[string]string{}
	var del []string
	for i, b := range batch {
		enc, was := next[i].encode(), b.Old.encode()
		switch {
		case enc == was:
		case enc == "":
			del = append(del, manifestPrefix+b.Reg.Code)
		default:
			put[manifestPrefix+b.Reg.Code] = enc
		}
	}
	if len(put) > 0 {
		if err := r.rc.Store.PutHashes(ctx, r.scope, put); err != nil {
			return fmt.Errorf("store interest manifests: %w", err)
		}
	}
	if len(del) > 0 {
		if err := r.rc.Store.DeleteHashes(ctx, r.scope, del); err != nil {
			return fmt.Errorf("delete interest manifests: %w", err)
		}
	}
	return nil
}

// collectInterest reads items (agenda items or sessions) with their tags and
// points, then the selected agenda lines or session registrations, and sums
// points per registration and tag.
func (m *metricsRun) collectInterest(ctx context.Context, rules interestRules) (interestTotals, error) {
	if rules.sessions {
		return m.sessionInterest(ctx, rules)
	}
	return m.agendaInterest(ctx, rules)
}

// sessionPoints is a session that carries points.
type sessionPoints struct {
	id int
	it pointsItem
}

// sessionInterest sums the points of the sessions each registration's
// selected session registrations are for.
func (m *metricsRun) sessionInterest(ctx context.Context, rules interestRules) (interestTotals, error) {
	rc := m.rc
	acct, event := rc.Job.Account, rc.Job.Event
	var list []sessionPoints
	for page, err := range rc.Clients.Certain.SessionPages(ctx, acct, event) {
		if err != nil {
			return nil, fmt.Errorf("read sessions: %w", err)
		}
		for _, s := range page.Items {
			if it := rules.item(s.Tags, s.Points); len(it.Tags) > 0 && it.Points > 0 {
				list = append(list, sessionPoints{s.InstanceID, it})
			}
		}
	}
	points := interestTotals{}
	for _, s := range list {
		if err := m.stopIfDue(ctx); err != nil {
			return nil, err
		}
		lines, err := rc.Clients.Certain.SessionRegistrations(ctx, acct, event, s.id)
		if err != nil {
			return nil, fmt.Errorf("read registrations of session %d: %w", s.id, err)
		}
		for _, l := range lines {
			if rules.selected(l.Status) {
				points.add(l.RegistrationCode, s.it)
			}
		}
	}
	return points, nil
}

// agendaInterest sums the points of the agenda items each registration's
// selected agenda lines are for.
func (m *metricsRun) agendaInterest(ctx context.Context, rules interestRules) (interestTotals, error) {
	rc := m.rc
	acct, event := rc.Job.Account, rc.Job.Event
	items := map[string]pointsItem{}
	for page, err := range rc.Clients.Certain.AgendaItemPages(ctx, acct, event) {
		if err != nil {
			return nil, fmt.Errorf("read agenda items: %w", err)
		}
		for _, a := range page.Items {
			if it := rules.item(a.Tags, a.Points); len(it.Tags) > 0 && it.Points > 0 {
				items[a.Code] = it
			}
		}
	}
	points := interestTotals{}
	if len(items) == 0 {
		return points, nil // no item carries points: every attendee's points are nothing
	}
	for page, err := range rc.Clients.Certain.RegistrationAgendaPages(ctx, acct, event, 0) {
		if err != nil {
			return nil, fmt.Errorf("read registration agendas at offset %d: %w", page.StartIndex, err)
		}
		for _, l := range page.Items {
			if it, ok := items[l.ActivityCode]; ok && rules.selected(l.Status) {
				points.add(l.RegistrationCode, it)
			}
		}
		if !page.Last {
			if err := m.stopIfDue(ctx); err != nil {
				return nil, err
			}
		}
	}
	return points, nil
}

// pointsItem is the part of an agenda item or session the interest metrics
// need: the tags that count and the item's points.
type pointsItem struct {
	Tags   []string
	Points float64
}

// interestRules classifies Certain rows for the interest metrics.
type interestRules struct {
	f          certain.FieldNames // defaults filled in
	sessions   bool               // Speaker and Session Management: sessions, not agenda items
	registered bool               // include rows with the registered status
	attended   bool               // include rows with the attended status
	allow      []string           // tag allow-list; empty = every tag
	names      tagNames           // one spelling per tag
}

// tagNames gives every tag one name: tags are one tag whatever their letter
// case and surrounding spaces ("Cloud" and "cloud " add up in one record),
// named as the account spells it first (in Certain's order of the items).
type tagNames map[string]string // lower-case trimmed tag -> its first spelling

// name returns the tag's name, learning t's spelling if it is the first.
func (n tagNames) name(t string) string {
	t = strings.TrimSpace(t)
	k := strings.ToLower(t)
	if first, ok := n[k]; ok {
		return first
	}
	n[k] = t
	return t
}

func newInterestRules(f certain.FieldNames, p config.Params) interestRules {
	return interestRules{
		f:          f,
		sessions:   slices.Contains(p.Modules, config.ModuleSpeakerSession),
		registered: slices.Contains(p.Include, IncludeRegistered),
		attended:   slices.Contains(p.Include, IncludeAttended),
		allow:      p.TagAllowList,
		names:      tagNames{},
	}
}

// item keeps the allowed tags of an agenda item or session, each under its
// one name (tagNames) and once, with its points.
func (r interestRules) item(tags []string, points float64) pointsItem {
	var kept []string
	for _, t := range tags {
		if strings.TrimSpace(t) == "" || (len(r.allow) > 0 && !inFold(r.allow, t)) {
			continue
		}
		if t = r.names.name(t); !slices.Contains(kept, t) {
			kept = append(kept, t)
		}
	}
	if points < 0 {
		points = 0
	}
	return pointsItem{Tags: kept, Points: points}
}

// selected reports whether a row's status is one the job includes. The
// selection is by status: "registered" takes rows whose status is the
// registered status, "attended" rows whose status is the attended status.
func (r interestRules) selected(status string) bool {
	reg, att := r.f.AgendaRegistered, r.f.AgendaAttended
	if r.sessions {
		reg, att = r.f.SessionRegistered, r.f.SessionAttended
	}
	return (r.registered && eqFold(status, reg)) || (r.attended && eqFold(status, att))
}

// interestTotals is the points of every registration, by registration code.
type interestTotals map[string]interestPoints

// add credits one selected row's item to a registration.
func (t interestTotals) add(reg string, it pointsItem) {
	if len(it.Tags) == 0 || it.Points == 0 {
		return
	}
	p := t[reg]
	if p == nil {
		p = interestPoints{}
		t[reg] = p
	}
	p.add(it)
}

// interestPoints is one registration's points per tag.
type interestPoints map[string]float64

// add folds one selected row's item into the points.
func (p interestPoints) add(it pointsItem) {
	for _, t := range it.Tags {
		p[t] += it.Points
	}
}

// positive returns the tags with points > 0 (rounded to two decimals),
// sorted, with their points.
func (p interestPoints) positive() ([]string, map[string]float64) {
	out := map[string]float64{}
	var tags []string
	for t, v := range p {
		if v = round2(v); v > 0 {
			out[t] = v
			tags = append(tags, t)
		}
	}
	sort.Strings(tags)
	return tags, out
}

// interestEligible reports whether a registration counts for the interest
// metrics: Complete, active, and in one of the included categories. ok is
// false when the status is not in the connection's vocabulary.
func interestEligible(conn config.Connection, cats []string, r certain.Registration) (eligible, ok bool) {
	cat, ok := conn.StatusCategory(r.Status)
	if !ok {
		return false, false
	}
	return r.Complete && r.Active && slices.Contains(cats, cat), true
}
