package jobs

import (
	"math"
	"slices"
	"strings"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
)

// Logical names of the nine engagement metrics (MISSION.md section 4), in
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

// moduleRule is the module requirement of one metric in conjunctive normal
// form: every group must have at least one enabled module.
type moduleRule struct {
	Metric string
	AllOf  [][]string // each inner slice: any of these modules
}

// engagementGating returns MISSION.md section 4's table as data. It is a
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

// EngagementMetricNames lists the nine metrics in MISSION.md's order.
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
	CountSSA     bool // SSA module enabled: SSA appointments count
	CountMatched bool // Appointment Matching enabled: matched appointments count
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
	p.CountSSA = slices.Contains(modules, config.ModuleSSA)
	p.CountMatched = slices.Contains(modules, config.ModuleAppointmentMatching)
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

func round2(v float64) float64 { return math.Round(v*100) / 100 }

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

func eqFold(a, b string) bool { return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b)) }

func inFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return eqFold(x, s) })
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

// appointmentKind is "ssa", "matched" or "" (a source the job does not count).
func (in engagementInputs) appointmentKind(a certain.Appointment) string {
	switch {
	case in.plan.CountSSA && inFold(in.f.AppointmentSSA, a.Source):
		return config.ModuleSSA
	case in.plan.CountMatched && inFold(in.f.AppointmentMatched, a.Source):
		return config.ModuleAppointmentMatching
	}
	return ""
}

// appointment folds one appointment into the aggregates of both parties.
// It returns false when the appointment was not counted (a source whose
// module is off or unknown, or a cancelled or declined appointment).
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
