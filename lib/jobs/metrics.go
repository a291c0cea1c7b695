package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// EngagementMetrics is the JobFunc of engagement-metrics (MISSION.md
// section 4): one custom object record per included registration.
func EngagementMetrics(ctx context.Context, rc *RunContext) error {
	return newMetricsRun(rc, ResolveLeadIDs).engagement(ctx)
}

// InterestMetrics is the JobFunc of interest-metrics (MISSION.md section 5):
// one custom object record per included registration and tag.
func InterestMetrics(ctx context.Context, rc *RunContext) error {
	return newMetricsRun(rc, ResolveLeadIDs).interest(ctx)
}

// metricsBatch is how many registrations (and, for interest, at most how
// many records) one flush handles: one Sync Custom Objects call and one
// lead lookup at most.
const metricsBatch = 300

// metricsCheckpoint is the progress of a metrics run: every registration
// before offset Next has been uploaded (or recorded as failed).
type metricsCheckpoint struct {
	Next int `json:"next"`
}

type metricsRun struct {
	rc      *RunContext
	resolve leadResolver
	cp      metricsCheckpoint
	scope   string
	up      *coUploader
}

func newMetricsRun(rc *RunContext, resolve leadResolver) *metricsRun {
	return &metricsRun{rc: rc, resolve: resolve, scope: "job:" + rc.Job.ID}
}

func (m *metricsRun) loadCheckpoint() error {
	if len(m.rc.Checkpoint) == 0 {
		return nil
	}
	if err := json.Unmarshal(m.rc.Checkpoint, &m.cp); err != nil {
		return fmt.Errorf("job %q: unreadable checkpoint: %w", m.rc.Job.ID, err)
	}
	if m.cp.Next < 0 {
		return fmt.Errorf("job %q: checkpoint offset %d is negative", m.rc.Job.ID, m.cp.Next)
	}
	return nil
}

// save stores a checkpoint at registration offset next and returns cause
// (joined with the save failure, if any).
func (m *metricsRun) save(ctx context.Context, next int, cause error) error {
	b, _ := json.Marshal(metricsCheckpoint{Next: next}) // a struct of ints always marshals
	if err := m.rc.SaveCheckpoint(ctx, b); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// stopIfDue saves the unchanged checkpoint and returns ErrCheckpointed when
// the soft deadline passed while the inputs were being read.
func (m *metricsRun) stopIfDue(ctx context.Context) error {
	if m.rc.ShouldStop(ctx) {
		return m.save(ctx, m.cp.Next, ErrCheckpointed)
	}
	return nil
}

// pendingReg is one buffered registration with what its records need.
type pendingReg struct {
	Reg       certain.Registration
	start     int // offset of the page it came from
	weight    int // records it may produce
	NeedsLead bool
	Eng       engagementAgg
	Tags      []string           // interest: tags with points > 0, sorted
	Points    map[string]float64 // interest: points per tag
	Old       interestManifest   // interest: what was sent before
}

// stream reads the event's registrations from the checkpoint on, buffers
// what accept keeps, and hands full batches to flush. It checkpoints at the
// soft deadline (after flushing) and on any failure (at the first buffered
// registration, so nothing is lost; the delta hashes keep a resent batch
// from reaching Marketo twice).
func (m *metricsRun) stream(ctx context.Context, q certain.RegistrationQuery,
	accept func(ctx context.Context, page []certain.Registration) ([]pendingReg, error),
	flush func(ctx context.Context, batch []pendingReg) error) error {
	rc := m.rc
	q.StartIndex = m.cp.Next
	var buf []pendingReg
	flushSome := func(all bool) error {
		for len(buf) > 0 {
			n, w := 0, 0
			for n < len(buf) && n < metricsBatch && (n == 0 || w+buf[n].weight <= metricsBatch) {
				w += buf[n].weight
				n++
			}
			if !all && n == len(buf) && w < metricsBatch && n < metricsBatch {
				return nil // not full yet
			}
			if err := flush(ctx, buf[:n]); err != nil {
				return m.save(ctx, buf[0].start, err)
			}
			buf = buf[n:]
		}
		return nil
	}
	for page, err := range rc.Clients.Certain.RegistrationPages(ctx, rc.Job.Account, rc.Job.Event, q) {
		if err != nil {
			at := page.StartIndex
			if len(buf) > 0 {
				at = buf[0].start
			}
			return m.save(ctx, at, fmt.Errorf("read registrations at offset %d: %w", page.StartIndex, err))
		}
		entries, err := accept(ctx, page.Items)
		if err != nil {
			at := page.StartIndex
			if len(buf) > 0 {
				at = buf[0].start
			}
			return m.save(ctx, at, err)
		}
		for i := range entries {
			entries[i].start = page.StartIndex
			entries[i].weight = max(entries[i].weight, 1)
		}
		buf = append(buf, entries...)
		if err := flushSome(false); err != nil {
			return err
		}
		if page.Last {
			break
		}
		if rc.ShouldStop(ctx) {
			if err := flushSome(true); err != nil {
				return err
			}
			return m.save(ctx, page.NextIndex, ErrCheckpointed)
		}
	}
	return flushSome(true)
}

// leadIDs resolves the lead ids of regs and records an outcome for every
// registration left without one.
//
// A registration whose lead could not be resolved for a permanent reason
// (1007: several leads share the email; 1004: update-only and no lead has
// it) is remembered under "l:<registrationCode>" with a hash of what the
// resolution depends on (email, External Profile ID, Source of Profile). A
// later run with Params.RetryFailuresAfter set does not look it up again
// while that hash is the same and less than that has passed, but records
// the same outcome again; by default it is looked up again every run.
func (m *metricsRun) leadIDs(ctx context.Context, regs []certain.Registration) (map[string]int, error) {
	if len(regs) == 0 {
		return map[string]int{}, nil
	}
	rc := m.rc
	now := rc.Now()
	fields := rc.Clients.Certain.Fields().WithDefaults()
	mapping := rc.Conn.WithDefaults().FieldMapping
	idHash := map[string]string{}
	var keys []string
	for _, r := range regs {
		if _, ok := knownLeadID(fields, r.Profile); !ok {
			idHash[r.Code] = leadIdentityHash(mapping, r)
			keys = append(keys, lookupPrefix+r.Code)
		}
	}
	stored := map[string]string{}
	if len(keys) > 0 && !rc.Job.Params.ForceFull {
		var err error
		if stored, err = rc.Store.GetHashes(ctx, m.scope, keys); err != nil {
			return nil, fmt.Errorf("read lead look-up failures: %w", err)
		}
	}
	ask := make([]certain.Registration, 0, len(regs))
	for _, r := range regs {
		if h, ok := idHash[r.Code]; ok {
			if after := time.Duration(rc.Job.Params.RetryFailuresAfter); parseDelta(stored[lookupPrefix+r.Code]).held(h, now, after) {
				rc.Run.Record(parseDelta(stored[lookupPrefix+r.Code]).heldOutcome(r.Code, r.Profile.Email, after))
				rc.Run.Add("failuresNotRetried", 1)
				continue
			}
		}
		ask = append(ask, r)
	}
	if len(ask) == 0 {
		return map[string]int{}, nil
	}
	ids, outs, err := m.resolve(ctx, rc, ask)
	if err != nil {
		return nil, fmt.Errorf("resolve lead ids: %w", err)
	}
	told := map[string]bool{}
	put := map[string]string{}
	for _, o := range outs {
		if _, ok := ids[o.Key]; ok {
			// The lead was found or created on the way: a side count, the
			// registration's own outcome is its custom object record.
			rc.Run.Add("lead"+titleCase(o.Outcome), 1)
			continue
		}
		told[o.Key] = true
		rc.Run.Record(o)
		if h, ok := idHash[o.Key]; ok {
			if e, ok := failureMemo(o, h, now); ok {
				put[lookupPrefix+o.Key] = e.encode()
			}
		}
	}
	var del []string
	for _, r := range ask {
		_, resolved := ids[r.Code]
		if !resolved && !told[r.Code] {
			rc.Run.Record(store.RecordOutcome{Key: r.Code, Email: r.Profile.Email, Outcome: store.OutcomeFailed,
				Reason: "no Marketo lead id could be resolved"})
		}
		if resolved && stored[lookupPrefix+r.Code] != "" {
			del = append(del, lookupPrefix+r.Code)
		}
	}
	// Best effort: a lost memo costs one look-up next run, nothing more.
	if len(put) > 0 {
		if err := rc.Store.PutHashes(ctx, m.scope, put); err != nil {
			rc.Logger.WarnContext(ctx, "cannot remember lead look-up failures; they are looked up again next run", "registrations", len(put), "error", err)
		}
	}
	if len(del) > 0 {
		if err := rc.Store.DeleteHashes(ctx, m.scope, del); err != nil {
			rc.Logger.WarnContext(ctx, "cannot forget resolved lead look-up failures", "registrations", len(del), "error", err)
		}
	}
	return ids, nil
}

// lookupPrefix marks a remembered lead look-up failure in the job's scope.
const lookupPrefix = "l:"

// leadIdentityHash fingerprints what resolving a registration's lead
// depends on: its email, External Profile ID and Source of Profile.
func leadIdentityHash(mapping []config.FieldMap, r certain.Registration) string {
	return PayloadHash(struct {
		V                  int
		Email, Ext, Source string
	}{1, emailKey(leadEmail(BuildLeadPayload(mapping, r), r)), strings.TrimSpace(r.Profile.ExternalID), strings.ToLower(strings.TrimSpace(r.Profile.Source))})
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// recordUnknownStatus records a registration skipped because its status is
// not in the connection's vocabulary (never guessed).
func (m *metricsRun) recordUnknownStatus(r certain.Registration) {
	m.rc.Run.Record(store.RecordOutcome{Key: r.Code, Email: r.Profile.Email, Outcome: store.OutcomeSkipped,
		Reason: fmt.Sprintf("registration status %q is not in the connection's status list", r.Status)})
}

func customObjectName(name, def string) string {
	if strings.TrimSpace(name) == "" {
		return def
	}
	return strings.TrimSpace(name)
}

// ---- engagement-metrics ----

func engagementSpec(plan engagementPlan) coSpec {
	d := map[string]string{FieldKey: "metricKey", FieldEvent: "eventCode", FieldProgramName: "programName"}
	for _, n := range EngagementMetricNames() {
		d[n] = n
	}
	var ignored []string
	for _, n := range EngagementMetricNames() {
		if !slices.Contains(plan.Metrics, n) {
			ignored = append(ignored, n)
		}
	}
	return coSpec{Defaults: d, Required: append([]string{FieldLead}, plan.Metrics...),
		Optional: []string{FieldKey, FieldEvent, FieldProgramName}, Ignored: ignored}
}

func (m *metricsRun) engagement(ctx context.Context) error {
	rc, p := m.rc, m.rc.Job.Params
	if err := m.loadCheckpoint(); err != nil {
		return err
	}
	plan := newEngagementPlan(p.Modules)
	if len(plan.Metrics) == 0 {
		return Configf("params.modules %q enable no engagement metric (see the module table of MISSION.md section 4)", p.Modules)
	}
	co, err := planCustomObject(ctx, rc.Clients.Marketo, customObjectName(p.CustomObject, DefaultEngagementObject), p.Fields, engagementSpec(plan))
	if err != nil {
		return err
	}
	m.up = &coUploader{rc: rc, plan: co, scope: m.scope, force: p.ForceFull, resumed: m.cp.Next > 0}
	in := engagementInputs{f: rc.Clients.Certain.Fields().WithDefaults(), plan: plan}
	aggs, err := m.collectEngagement(ctx, in)
	if err != nil {
		return err
	}
	eventName, err := m.eventName(ctx, co)
	if err != nil {
		return err
	}
	cats := includedCategories(p)
	event := rc.Job.Event
	accept := func(_ context.Context, page []certain.Registration) ([]pendingReg, error) {
		var out []pendingReg
		for _, r := range page {
			ok, known := engagementEligible(rc.Conn, cats, r)
			switch {
			case !known:
				m.recordUnknownStatus(r)
			case !ok:
				rc.Run.Add("excluded", 1)
			default:
				e := pendingReg{Reg: r, NeedsLead: true}
				if a := aggs[r.Code]; a != nil {
					e.Eng = *a
				}
				out = append(out, e)
			}
			delete(aggs, r.Code)
		}
		return out, nil
	}
	flush := func(ctx context.Context, batch []pendingReg) error {
		regs := make([]certain.Registration, len(batch))
		for i, b := range batch {
			regs[i] = b.Reg
		}
		ids, err := m.leadIDs(ctx, regs)
		if err != nil {
			return err
		}
		var recs []coRecord
		for _, b := range batch {
			id, ok := ids[b.Reg.Code]
			if !ok {
				continue
			}
			v := engagementValues(plan, b.Eng)
			v[FieldLead] = id
			v[FieldKey] = event + ":" + strconv.Itoa(id)
			v[FieldEvent] = event
			v[FieldProgramName] = eventName
			recs = append(recs, coRecord{OutKey: b.Reg.Code, Email: b.Reg.Profile.Email, Rec: co.record(v), Owner: b.Reg.Code})
		}
		_, err = m.up.upload(ctx, recs)
		return err
	}
	return m.stream(ctx, certain.RegistrationQuery{ActiveOnly: true}, accept, flush)
}

func (m *metricsRun) eventName(ctx context.Context, co coPlan) (string, error) {
	if _, ok := co.Fields[FieldProgramName]; !ok {
		return "", nil
	}
	ev, err := m.rc.Clients.Certain.GetEvent(ctx, m.rc.Job.Account, m.rc.Job.Event)
	if err != nil {
		return "", fmt.Errorf("read event %s/%s: %w", m.rc.Job.Account, m.rc.Job.Event, err)
	}
	if strings.TrimSpace(ev.Name) == "" {
		return m.rc.Job.Event, nil
	}
	return strings.TrimSpace(ev.Name), nil
}

// collectEngagement reads the activity inputs the enabled metrics need and
// folds them into per-registration counters.
func (m *metricsRun) collectEngagement(ctx context.Context, in engagementInputs) (map[string]*engagementAgg, error) {
	rc := m.rc
	acct, event := rc.Job.Account, rc.Job.Event
	aggs := map[string]*engagementAgg{}
	aggOf := func(code string) *engagementAgg {
		a := aggs[code]
		if a == nil {
			a = &engagementAgg{}
			aggs[code] = a
		}
		return a
	}
	if in.plan.ReadSessions && in.plan.UseSessions {
		var ids []int
		for page, err := range rc.Clients.Certain.SessionPages(ctx, acct, event) {
			if err != nil {
				return nil, fmt.Errorf("read sessions: %w", err)
			}
			for _, s := range page.Items {
				ids = append(ids, s.InstanceID)
			}
		}
		for _, id := range ids {
			if err := m.stopIfDue(ctx); err != nil {
				return nil, err
			}
			lines, err := rc.Clients.Certain.SessionRegistrations(ctx, acct, event, id)
			if err != nil {
				return nil, fmt.Errorf("read registrations of session %d: %w", id, err)
			}
			for _, l := range lines {
				in.sessionLine(aggOf(l.RegistrationCode), l.Status, l.Rating)
			}
		}
	} else if in.plan.ReadSessions {
		for page, err := range rc.Clients.Certain.RegistrationAgendaPages(ctx, acct, event, 0) {
			if err != nil {
				return nil, fmt.Errorf("read registration agendas at offset %d: %w", page.StartIndex, err)
			}
			for _, l := range page.Items {
				in.sessionLine(aggOf(l.RegistrationCode), l.Status, l.Rating)
			}
			if !page.Last {
				if err := m.stopIfDue(ctx); err != nil {
					return nil, err
				}
			}
		}
	}
	if in.plan.ReadAppts {
		skipped := 0
		for page, err := range rc.Clients.Certain.AppointmentPages(ctx, acct, event, 0) {
			if err != nil {
				return nil, fmt.Errorf("read appointments at offset %d: %w", page.StartIndex, err)
			}
			for _, a := range page.Items {
				if !in.appointment(a, aggOf) {
					skipped++
				}
			}
			if !page.Last {
				if err := m.stopIfDue(ctx); err != nil {
					return nil, err
				}
			}
		}
		rc.Run.Add("appointmentsNotCounted", skipped)
	}
	return aggs, nil
}

// ---- interest-metrics ----

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
	co, err := planCustomObject(ctx, rc.Clients.Marketo, customObjectName(p.CustomObject, DefaultInterestObject), p.Fields, interestSpec())
	if err != nil {
		return err
	}
	m.up = &coUploader{rc: rc, plan: co, scope: m.scope, force: p.ForceFull, resumed: m.cp.Next > 0}
	eventName, err := m.eventName(ctx, co)
	if err != nil {
		return err
	}
	points, err := m.collectInterest(ctx, rules)
	if err != nil {
		return err
	}
	cats := includedCategories(p)
	event := rc.Job.Event
	accept := func(ctx context.Context, page []certain.Registration) ([]pendingReg, error) {
		keys := make([]string, len(page))
		for i, r := range page {
			keys[i] = manifestPrefix + r.Code
		}
		mans, err := rc.Store.GetHashes(ctx, m.scope, keys)
		if err != nil {
			return nil, fmt.Errorf("read interest manifests: %w", err)
		}
		var out []pendingReg
		for i, r := range page {
			pts := points[r.Code]
			delete(points, r.Code)
			ok, known := interestEligible(rc.Conn, cats, r)
			if !known {
				m.recordUnknownStatus(r)
				continue
			}
			old, err := parseManifest(mans[keys[i]])
			if err != nil {
				m.rc.Logger.WarnContext(ctx, "unreadable interest manifest; treated as empty", "registration", r.Code, "error", err)
			}
			e := pendingReg{Reg: r, Old: old}
			if ok {
				e.Tags, e.Points = pts.positive()
			} else {
				rc.Run.Add("excluded", 1)
			}
			if len(e.Tags) == 0 && old.size() == 0 {
				continue
			}
			e.NeedsLead = len(e.Tags) > 0
			e.weight = len(e.Tags) + old.size()
			out = append(out, e)
		}
		return out, nil
	}
	flush := func(ctx context.Context, batch []pendingReg) error {
		var regs []certain.Registration
		for _, b := range batch {
			if b.NeedsLead {
				regs = append(regs, b.Reg)
			}
		}
		ids, err := m.leadIDs(ctx, regs)
		if err != nil {
			return err
		}
		type origin struct {
			entry int
			lead  int
			tag   string
			zero  bool
		}
		var recs []coRecord
		var from []origin
		rec := func(i int, b pendingReg, lead int, tag string, pts float64) {
			v := map[string]any{FieldLead: lead, FieldKey: event + ":" + strconv.Itoa(lead) + ":" + tag, FieldEvent: event,
				FieldProgramName: eventName, FieldInterest: tag, FieldPoints: pts}
			recs = append(recs, coRecord{OutKey: b.Reg.Code + "/" + tag, Email: b.Reg.Profile.Email, Rec: co.record(v), Owner: b.Reg.Code, Zero: pts == 0})
			from = append(from, origin{entry: i, lead: lead, tag: tag, zero: pts == 0})
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
		ok, err := m.up.upload(ctx, recs)
		if err != nil {
			return err
		}
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
			if err := rc.Store.PutHashes(ctx, m.scope, put); err != nil {
				return fmt.Errorf("store interest manifests: %w", err)
			}
		}
		if len(del) > 0 {
			if err := rc.Store.DeleteHashes(ctx, m.scope, del); err != nil {
				return fmt.Errorf("delete interest manifests: %w", err)
			}
		}
		return nil
	}
	return m.stream(ctx, certain.RegistrationQuery{}, accept, flush)
}

// collectInterest reads items (agenda items or sessions) with their tags and
// points, then the selected agenda lines or session registrations, and sums
// points per registration and tag.
func (m *metricsRun) collectInterest(ctx context.Context, rules interestRules) (map[string]interestPoints, error) {
	rc := m.rc
	acct, event := rc.Job.Account, rc.Job.Event
	points := map[string]interestPoints{}
	add := func(reg string, it pointsItem) {
		if len(it.Tags) == 0 || it.Points == 0 {
			return
		}
		p := points[reg]
		if p == nil {
			p = interestPoints{}
			points[reg] = p
		}
		p.add(it)
	}
	if rules.sessions {
		type sess struct {
			id int
			it pointsItem
		}
		var list []sess
		for page, err := range rc.Clients.Certain.SessionPages(ctx, acct, event) {
			if err != nil {
				return nil, fmt.Errorf("read sessions: %w", err)
			}
			for _, s := range page.Items {
				if it := rules.item(s.Tags, s.Points); len(it.Tags) > 0 && it.Points > 0 {
					list = append(list, sess{s.InstanceID, it})
				}
			}
		}
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
					add(l.RegistrationCode, s.it)
				}
			}
		}
		return points, nil
	}
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
	if len(items) == 0 {
		return points, nil // no item carries points: every attendee's points are nothing
	}
	for page, err := range rc.Clients.Certain.RegistrationAgendaPages(ctx, acct, event, 0) {
		if err != nil {
			return nil, fmt.Errorf("read registration agendas at offset %d: %w", page.StartIndex, err)
		}
		for _, l := range page.Items {
			if it, ok := items[l.ActivityCode]; ok && rules.selected(l.Status) {
				add(l.RegistrationCode, it)
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
