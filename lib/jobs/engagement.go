package jobs

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
)

// Logical names of the nine engagement metrics (docs/jobs.md §4), in
// table order. They are the keys of Params.Fields and, by default, the
// custom object field names too.
const (
	MetricSessionsRegistered    = "sessionsRegistered"
	MetricSessionsAttended      = "sessionsAttended"
	MetricAvgSessionRating      = "avgSessionRating"
	MetricSSAAppointments       = "ssaAppointments"
	MetricMatchedAppointments   = "matchedAppointments"
	MetricAppointmentsScheduled = "appointmentsScheduled"
	MetricAppointmentsAttended  = "appointmentsAttended"
	MetricAvgRatingReceived     = "avgAppointmentRatingReceived"
	MetricAvgRatingGiven        = "avgAppointmentRatingGiven"
)

// EngagementMetrics is the JobFunc of engagement-metrics (docs/jobs.md
// §4): one custom object record per included registration.
func EngagementMetrics(ctx context.Context, rc *RunContext) error {
	return newMetricsRun(rc, ResolveLeadIDs).engagement(ctx)
}

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
		return Configf("params.modules %q enable no engagement metric (see the module table of docs/jobs.md §4)", p.Modules)
	}
	co, err := planCustomObject(ctx, rc.Clients.Marketo, rc.Job.WithDefaults().Params.CustomObject, p.Fields, engagementSpec(plan))
	if err != nil {
		return err
	}
	m.up = &coUploader{rc: rc, plan: co, scope: m.scope, force: p.ForceFull, resumed: m.cp.Next > 0}
	r := &engagementRun{metricsRun: m, plan: plan, co: co, cats: includedCategories(p)}
	in := engagementInputs{f: rc.Clients.Certain.Fields().WithDefaults(), plan: plan}
	if r.aggs, err = m.collectEngagement(ctx, in); err != nil {
		return err
	}
	if r.eventName, err = m.eventName(ctx, co); err != nil {
		return err
	}
	return m.stream(ctx, certain.RegistrationQuery{ActiveOnly: true}, r.accept, r.flush)
}

// engagementRun is the upload half of an engagement-metrics run, once the
// activity is counted.
type engagementRun struct {
	*metricsRun
	plan      engagementPlan
	co        coPlan
	eventName string
	cats      []string
	aggs      engagementAggs // dropped registration by registration as they are read
}

// accept keeps the included registrations of a page with their counters.
func (r *engagementRun) accept(_ context.Context, page []certain.Registration) ([]pendingReg, error) {
	var out []pendingReg
	for _, reg := range page {
		ok, known := engagementEligible(r.rc.Conn, r.cats, reg)
		switch {
		case !known:
			r.recordUnknownStatus(reg)
		case !ok:
			r.rc.Run.Add("excluded", 1)
		default:
			e := pendingReg{Reg: reg, NeedsLead: true}
			if a := r.aggs[reg.Code]; a != nil {
				e.Eng = *a
			}
			out = append(out, e)
		}
		delete(r.aggs, reg.Code)
	}
	return out, nil
}

// flush resolves the batch's leads and uploads one record per registration
// that has one. A record Marketo refuses because its lead no longer exists
// (a stored id of a lead merged away or deleted) is pooled and sent again,
// with those of other batches, under the lead its registration is resolved
// to now (metrics_heal.go).
func (r *engagementRun) flush(ctx context.Context, batch []pendingReg, turn *claimTurn) error {
	regs := make([]certain.Registration, len(batch))
	for i, b := range batch {
		regs[i] = b.Reg
	}
	ids, notes, err := r.leadIDs(ctx, regs)
	if err != nil {
		return err
	}
	recs := r.records(batch, ids, notes)
	_, held, err := r.up.uploadHolding(ctx, recs, turn)
	if err != nil || len(held) == 0 {
		return err
	}
	return r.holdForHealing(ctx, r.healItem(batch, recs, ids, held))
}

// healItem is what a batch leaves to heal: its held records with their
// registrations, kept alone so that the pool holds no more than them.
func (r *engagementRun) healItem(batch []pendingReg, recs []coRecord, ids map[string]int, held []heldRecord) *healItem {
	it := &healItem{start: batch[0].start, regs: map[string]certain.Registration{}, ids: map[string]int{}}
	waits := map[string]bool{}
	for j, h := range held {
		rec := recs[h.i]
		h.i = j
		it.held, it.recs = append(it.held, h), append(it.recs, rec)
		waits[rec.Owner] = true
		it.ids[rec.Owner] = ids[rec.Owner]
	}
	var sub []pendingReg
	for _, b := range batch {
		if waits[b.Reg.Code] {
			sub = append(sub, b)
			it.regs[b.Reg.Code] = b.Reg
		}
	}
	it.again = func(_ map[int]bool, healed map[string]int, notes map[string]string) []coRecord {
		var again []pendingReg
		for _, b := range sub {
			if _, ok := healed[b.Reg.Code]; ok {
				again = append(again, b)
			}
		}
		return r.records(again, healed, notes)
	}
	return it
}

// records builds the record of each registration of batch that has a lead.
func (r *engagementRun) records(batch []pendingReg, ids map[string]int, notes map[string]string) []coRecord {
	event := r.rc.Job.Event
	var recs []coRecord
	for _, b := range batch {
		id, ok := ids[b.Reg.Code]
		if !ok {
			continue
		}
		v := engagementValues(r.plan, b.Eng)
		v[FieldLead] = id
		v[FieldKey] = event + ":" + strconv.Itoa(id)
		v[FieldEvent] = event
		v[FieldProgramName] = r.eventName
		recs = append(recs, coRecord{OutKey: b.Reg.Code, Email: b.Reg.Profile.Email, Rec: r.co.record(v), Owner: b.Reg.Code, Lead: id, Note: notes[b.Reg.Code]})
	}
	return recs
}

// engagementAggs is the counters of every registration, by registration code.
type engagementAggs map[string]*engagementAgg

// of returns a registration's counters, created at zero.
func (a engagementAggs) of(code string) *engagementAgg {
	agg := a[code]
	if agg == nil {
		agg = &engagementAgg{}
		a[code] = agg
	}
	return agg
}

// collectEngagement reads the activity inputs the enabled metrics need and
// folds them into per-registration counters.
func (m *metricsRun) collectEngagement(ctx context.Context, in engagementInputs) (engagementAggs, error) {
	aggs := engagementAggs{}
	var err error
	switch {
	case in.plan.ReadSessions && in.plan.UseSessions:
		err = m.sessionEngagement(ctx, in, aggs)
	case in.plan.ReadSessions:
		err = m.agendaEngagement(ctx, in, aggs)
	}
	if err != nil {
		return nil, err
	}
	if in.plan.ReadAppts {
		if err := m.appointmentEngagement(ctx, in, aggs); err != nil {
			return nil, err
		}
	}
	return aggs, nil
}

// sessionEngagement counts the session registrations of every session.
func (m *metricsRun) sessionEngagement(ctx context.Context, in engagementInputs, aggs engagementAggs) error {
	rc := m.rc
	acct, event := rc.Job.Account, rc.Job.Event
	var ids []int
	for page, err := range rc.Clients.Certain.SessionPages(ctx, acct, event) {
		if err != nil {
			return fmt.Errorf("read sessions: %w", err)
		}
		for _, s := range page.Items {
			ids = append(ids, s.InstanceID)
		}
	}
	for _, id := range ids {
		if err := m.stopIfDue(ctx); err != nil {
			return err
		}
		lines, err := rc.Clients.Certain.SessionRegistrations(ctx, acct, event, id)
		if err != nil {
			return fmt.Errorf("read registrations of session %d: %w", id, err)
		}
		for _, l := range lines {
			in.sessionLine(aggs.of(l.RegistrationCode), l.Status, l.Rating)
		}
	}
	return nil
}

// agendaEngagement counts the agenda lines of every registration.
func (m *metricsRun) agendaEngagement(ctx context.Context, in engagementInputs, aggs engagementAggs) error {
	rc := m.rc
	for page, err := range rc.Clients.Certain.RegistrationAgendaPages(ctx, rc.Job.Account, rc.Job.Event, 0) {
		if err != nil {
			return fmt.Errorf("read registration agendas at offset %d: %w", page.StartIndex, err)
		}
		for _, l := range page.Items {
			in.sessionLine(aggs.of(l.RegistrationCode), l.Status, l.Rating)
		}
		if !page.Last {
			if err := m.stopIfDue(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// appointmentEngagement counts the appointments of both parties.
func (m *metricsRun) appointmentEngagement(ctx context.Context, in engagementInputs, aggs engagementAggs) error {
	rc := m.rc
	skipped := 0
	for page, err := range rc.Clients.Certain.AppointmentPages(ctx, rc.Job.Account, rc.Job.Event, 0) {
		if err != nil {
			return fmt.Errorf("read appointments at offset %d: %w", page.StartIndex, err)
		}
		for _, a := range page.Items {
			if !in.appointment(a, aggs.of) {
				skipped++
			}
		}
		if !page.Last {
			if err := m.stopIfDue(ctx); err != nil {
				return err
			}
		}
	}
	rc.Run.Add("appointmentsNotCounted", skipped)
	return nil
}

// moduleRule is the module requirement of one metric in conjunctive normal
// form: every group must have at least one enabled module.
type moduleRule struct {
	Metric string
	AllOf  [][]string // each inner slice: any of these modules
}

// engagementGating returns docs/jobs.md §4's table as data. It is a
// function, not a package variable, so nothing can mutate it.
func engagementGating() []moduleRule {
	sessionModules := []string{config.ModuleAgenda, config.ModuleSpeakerSession}
	ratingModules := []string{config.ModuleEventViews, config.ModuleMobile}
	appointmentModules := []string{config.ModuleAppointmentMatching, config.ModuleSSA}
	return []moduleRule{
		{MetricSessionsRegistered, [][]string{sessionModules}},
		{MetricSessionsAttended, [][]string{sessionModules}},
		{MetricAvgSessionRating, [][]string{ratingModules}},
		{MetricSSAAppointments, [][]string{{config.ModuleSSA}}},
		{MetricMatchedAppointments, [][]string{{config.ModuleAppointmentMatching}}},
		{MetricAppointmentsScheduled, [][]string{appointmentModules}},
		{MetricAppointmentsAttended, [][]string{appointmentModules}},
		{MetricAvgRatingReceived, [][]string{appointmentModules, ratingModules}},
		{MetricAvgRatingGiven, [][]string{appointmentModules, ratingModules}},
	}
}

// EngagementMetricNames lists the nine metrics in docs/jobs.md §4's order.
func EngagementMetricNames() []string {
	var out []string
	for _, r := range engagementGating() {
		out = append(out, r.Metric)
	}
	return out
}

// enabledMetrics returns the metrics whose modules are enabled, in table
// order.
func enabledMetrics(modules []string) []string {
	var out []string
	for _, r := range engagementGating() {
		ok := true
		for _, group := range r.AllOf {
			if !slices.ContainsFunc(group, func(m string) bool { return slices.Contains(modules, m) }) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, r.Metric)
		}
	}
	return out
}

// engagementPlan says which inputs a run reads, derived from the enabled
// metrics and modules.
type engagementPlan struct {
	Metrics      []string
	ReadSessions bool // agenda lines or session registrations (metrics 1-3)
	UseSessions  bool // Speaker and Session Management: 2.0 sessions instead of agenda lines
	ReadAppts    bool // metrics 4-9
}

func newEngagementPlan(modules []string) engagementPlan {
	p := engagementPlan{Metrics: enabledMetrics(modules)}
	for _, m := range p.Metrics {
		switch m {
		case MetricSessionsRegistered, MetricSessionsAttended, MetricAvgSessionRating:
			p.ReadSessions = true
		default:
			p.ReadAppts = true
		}
	}
	p.UseSessions = slices.Contains(modules, config.ModuleSpeakerSession)
	return p
}

// ratingSum accumulates an average that ignores unrated items.
type ratingSum struct {
	Sum float64
	N   int
}

func (r *ratingSum) add(v float64) {
	if v > 0 {
		r.Sum += v
		r.N++
	}
}

// value is the average rounded to two decimals, or nil when nothing was
// rated (the custom object field is then written as null).
func (r ratingSum) value() any {
	if r.N == 0 {
		return nil
	}
	return round2(r.Sum / float64(r.N))
}

// engagementAgg is what one registration did: counters only, never raw lines,
// so an event of 100,000 registrations fits in a Lambda's memory.
type engagementAgg struct {
	SessionsRegistered int
	SessionsAttended   int
	SessionRating      ratingSum
	SSA                int
	Matched            int
	Scheduled          int
	Attended           int
	Received           ratingSum
	Given              ratingSum
}

// engagementInputs classifies Certain rows for the engagement metrics.
type engagementInputs struct {
	f    certain.FieldNames // defaults filled in
	plan engagementPlan
}

// sessionLine folds one agenda line or session registration into agg:
// a line counts as registered unless it is cancelled or waitlisted, as
// attended when its status is the attended status, and its rating counts
// towards the average when the line counts as registered and is rated.
func (in engagementInputs) sessionLine(agg *engagementAgg, status string, rating float64) {
	f := in.f
	if eqFold(status, f.AgendaCancelled) || eqFold(status, f.AgendaWaitlisted) {
		return
	}
	agg.SessionsRegistered++
	if eqFold(status, f.AgendaAttended) || eqFold(status, f.SessionAttended) {
		agg.SessionsAttended++
	}
	agg.SessionRating.add(rating)
}

// appointmentKind is "ssa", "matched" or "" (a source that is neither).
// The kind does not depend on the modules: metrics 6 to 9 count both kinds
// the data holds ("total, i.e. both Matched and SSA") whenever either
// appointment module is on, and the module gating decides which of metrics
// 4 (SSA) and 5 (matched) are sent.
func (in engagementInputs) appointmentKind(a certain.Appointment) string {
	switch {
	case inFold(in.f.AppointmentSSA, a.Source):
		return config.ModuleSSA
	case inFold(in.f.AppointmentMatched, a.Source):
		return config.ModuleAppointmentMatching
	}
	return ""
}

// appointment folds one appointment into the aggregates of both parties.
// It returns false when the appointment was not counted (a source that is
// neither SSA nor matched, or a cancelled or declined appointment).
func (in engagementInputs) appointment(a certain.Appointment, aggOf func(regCode string) *engagementAgg) bool {
	kind := in.appointmentKind(a)
	if kind == "" || inFold(in.f.AppointmentNotSched, a.Status) {
		return false
	}
	attended := inFold(in.f.AppointmentAttended, a.Status)
	party := func(code string, gave, received float64) {
		if strings.TrimSpace(code) == "" {
			return
		}
		agg := aggOf(code)
		if kind == config.ModuleSSA {
			agg.SSA++
		} else {
			agg.Matched++
		}
		agg.Scheduled++
		if attended {
			agg.Attended++
		}
		agg.Given.add(gave)
		agg.Received.add(received)
	}
	party(a.RegCode, a.Rating[0], a.Rating[1])
	if a.TargetCode != a.RegCode {
		party(a.TargetCode, a.Rating[1], a.Rating[0])
	}
	return true
}

// engagementValues returns the values of the enabled metrics for one
// registration (an absent aggregate is all zeros: an attendee who did
// nothing is still reported).
func engagementValues(plan engagementPlan, agg engagementAgg) map[string]any {
	out := make(map[string]any, len(plan.Metrics))
	for _, m := range plan.Metrics {
		switch m {
		case MetricSessionsRegistered:
			out[m] = agg.SessionsRegistered
		case MetricSessionsAttended:
			out[m] = agg.SessionsAttended
		case MetricAvgSessionRating:
			out[m] = agg.SessionRating.value()
		case MetricSSAAppointments:
			out[m] = agg.SSA
		case MetricMatchedAppointments:
			out[m] = agg.Matched
		case MetricAppointmentsScheduled:
			out[m] = agg.Scheduled
		case MetricAppointmentsAttended:
			out[m] = agg.Attended
		case MetricAvgRatingReceived:
			out[m] = agg.Received.value()
		case MetricAvgRatingGiven:
			out[m] = agg.Given.value()
		}
	}
	return out
}

// engagementEligible: active and in one of the included categories.
func engagementEligible(conn config.Connection, cats []string, r certain.Registration) (eligible, ok bool) {
	cat, ok := conn.StatusCategory(r.Status)
	if !ok {
		return false, false
	}
	return r.Active && slices.Contains(cats, cat), true
}
