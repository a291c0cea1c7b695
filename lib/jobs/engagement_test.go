package jobs

import (
	"reflect"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
)

func allModules() []string {
	return []string{config.ModuleAgenda, config.ModuleSpeakerSession, config.ModuleEventViews, config.ModuleMobile,
		config.ModuleSSA, config.ModuleAppointmentMatching}
}

func TestEnabledMetricsFollowsModuleTable(t *testing.T) {
	all := EngagementMetricNames()
	tests := []struct {
		name    string
		modules []string
		want    []string
	}{
		{"none", nil, nil},
		{"all", allModules(), all},
		{"agenda only", []string{config.ModuleAgenda}, []string{MetricSessionsRegistered, MetricSessionsAttended}},
		{"speaker sessions only", []string{config.ModuleSpeakerSession}, []string{MetricSessionsRegistered, MetricSessionsAttended}},
		{"mobile only: session rating", []string{config.ModuleMobile}, []string{MetricAvgSessionRating}},
		{"event views only: session rating", []string{config.ModuleEventViews}, []string{MetricAvgSessionRating}},
		{"ssa only", []string{config.ModuleSSA}, []string{MetricSSAAppointments, MetricAppointmentsScheduled, MetricAppointmentsAttended}},
		{"matching only", []string{config.ModuleAppointmentMatching}, []string{MetricMatchedAppointments, MetricAppointmentsScheduled, MetricAppointmentsAttended}},
		{"ssa and mobile", []string{config.ModuleSSA, config.ModuleMobile}, []string{MetricAvgSessionRating, MetricSSAAppointments,
			MetricAppointmentsScheduled, MetricAppointmentsAttended, MetricAvgRatingReceived, MetricAvgRatingGiven}},
		{"matching and event views", []string{config.ModuleAppointmentMatching, config.ModuleEventViews}, []string{MetricAvgSessionRating,
			MetricMatchedAppointments, MetricAppointmentsScheduled, MetricAppointmentsAttended, MetricAvgRatingReceived, MetricAvgRatingGiven}},
		{"unknown module ignored", []string{"badges"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := enabledMetrics(tc.modules); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("enabledMetrics(%v) = %v, want %v", tc.modules, got, tc.want)
			}
		})
	}
	if len(all) != 9 {
		t.Fatalf("EngagementMetricNames has %d metrics, docs/jobs.md §4 has 9", len(all))
	}
}

func TestEngagementPlanReadsOnlyWhatEnabledMetricsNeed(t *testing.T) {
	p := newEngagementPlan([]string{config.ModuleSSA})
	if p.ReadSessions || !p.ReadAppts {
		t.Errorf("ssa only: plan %+v, want appointments only", p)
	}
	p = newEngagementPlan([]string{config.ModuleAgenda})
	if !p.ReadSessions || p.UseSessions || p.ReadAppts {
		t.Errorf("agenda only: plan %+v, want agenda lines only", p)
	}
	p = newEngagementPlan([]string{config.ModuleAgenda, config.ModuleSpeakerSession})
	if !p.UseSessions {
		t.Errorf("speaker sessions on: plan %+v, want sessions instead of agenda lines", p)
	}
}

// The hand-built event: registration A's agenda and appointments, with the
// expected metrics worked out by hand below each input.
func TestEngagementMetricsByHand(t *testing.T) {
	f := certain.Defaults()
	in := engagementInputs{f: f, plan: newEngagementPlan(allModules())}
	aggs := map[string]*engagementAgg{}
	aggOf := func(c string) *engagementAgg {
		if aggs[c] == nil {
			aggs[c] = &engagementAgg{}
		}
		return aggs[c]
	}
	// Agenda of A: registered (unrated), attended 4, attended 5, attended
	// unrated, cancelled rated 1 (ignored), waitlisted rated 2 (ignored).
	// -> registered 4, attended 3, average (4+5)/2 = 4.5.
	for _, l := range []struct {
		status string
		rating float64
	}{{"REGISTERED", 0}, {"ATTENDED", 4}, {"attended", 5}, {" ATTENDED ", 0}, {"CANCELLED", 1}, {"WAITLISTED", 2}} {
		in.sessionLine(aggOf("A"), l.status, l.rating)
	}
	// Appointments:
	//  1. SSA, A -> B, Scheduled, A gave 4, B did not rate.
	//  2. AME, B -> A, Attended, B gave 3, A gave 5.
	//  3. SSA, A -> C, Cancelled (not counted at all).
	//  4. source "XYZ", A -> C, Attended (unknown source: not counted).
	//  5. SSA, C -> A, Attended, C gave 2, A gave 3.
	appts := []certain.Appointment{
		{ID: 1, Status: "Scheduled", Source: "SSA", Rating: [2]float64{4, 0}, RegCode: "A", TargetCode: "B"},
		{ID: 2, Status: "Attended", Source: "AME", Rating: [2]float64{3, 5}, RegCode: "B", TargetCode: "A"},
		{ID: 3, Status: "Cancelled", Source: "SSA", Rating: [2]float64{5, 5}, RegCode: "A", TargetCode: "C"},
		{ID: 4, Status: "Attended", Source: "XYZ", Rating: [2]float64{5, 5}, RegCode: "A", TargetCode: "C"},
		{ID: 5, Status: "attended", Source: "ssa", Rating: [2]float64{2, 3}, RegCode: "C", TargetCode: "A"},
	}
	counted := 0
	for _, a := range appts {
		if in.appointment(a, aggOf) {
			counted++
		}
	}
	if counted != 3 {
		t.Errorf("counted %d appointments, want 3 (1, 2 and 5)", counted)
	}
	// A: SSA {1,5} = 2, matched {2} = 1, scheduled 3, attended {2,5} = 2,
	// gave 4 (1), 5 (2), 3 (5) -> 4; received unrated (1), 3 (2), 2 (5) -> 2.5.
	wantA := map[string]any{
		MetricSessionsRegistered: 4, MetricSessionsAttended: 3, MetricAvgSessionRating: 4.5,
		MetricSSAAppointments: 2, MetricMatchedAppointments: 1, MetricAppointmentsScheduled: 3, MetricAppointmentsAttended: 2,
		MetricAvgRatingGiven: 4.0, MetricAvgRatingReceived: 2.5,
	}
	if got := engagementValues(in.plan, *aggs["A"]); !reflect.DeepEqual(got, wantA) {
		t.Errorf("A:\n got %v\nwant %v", got, wantA)
	}
	// B: no sessions; SSA {1}, matched {2}, scheduled 2, attended 1;
	// gave unrated (1), 3 (2) -> 3; received 4 (1), 5 (2) -> 4.5.
	wantB := map[string]any{
		MetricSessionsRegistered: 0, MetricSessionsAttended: 0, MetricAvgSessionRating: nil,
		MetricSSAAppointments: 1, MetricMatchedAppointments: 1, MetricAppointmentsScheduled: 2, MetricAppointmentsAttended: 1,
		MetricAvgRatingGiven: 3.0, MetricAvgRatingReceived: 4.5,
	}
	if got := engagementValues(in.plan, *aggs["B"]); !reflect.DeepEqual(got, wantB) {
		t.Errorf("B:\n got %v\nwant %v", got, wantB)
	}
	// Nobody did anything: counts 0, averages null.
	if got := engagementValues(in.plan, engagementAgg{}); got[MetricSessionsRegistered] != 0 || got[MetricAvgRatingGiven] != nil {
		t.Errorf("empty aggregate: %v, want zeros and null averages", got)
	}
}

// Metrics 6 and 7 are "total, i.e. both Matched and SSA": with either
// appointment module on, both kinds the data holds count in Scheduled,
// Attended and the ratings, while SSA (4) and Matched (5) are sent only with
// their own module.
func TestEngagementAppointmentTotalsCountBothKinds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		modules []string
		want    map[string]any
	}{
		{"ssa only", []string{config.ModuleSSA, config.ModuleMobile}, map[string]any{MetricAvgSessionRating: nil,
			MetricSSAAppointments: 1, MetricAppointmentsScheduled: 2, MetricAppointmentsAttended: 1,
			MetricAvgRatingGiven: 3.0, MetricAvgRatingReceived: 1.0}},
		{"matching only", []string{config.ModuleAppointmentMatching, config.ModuleMobile}, map[string]any{MetricAvgSessionRating: nil,
			MetricMatchedAppointments: 1, MetricAppointmentsScheduled: 2, MetricAppointmentsAttended: 1,
			MetricAvgRatingGiven: 3.0, MetricAvgRatingReceived: 1.0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := engagementInputs{f: certain.Defaults(), plan: newEngagementPlan(tc.modules)}
			aggs := engagementAggs{}
			counted := 0
			for _, a := range []certain.Appointment{
				{Status: "Attended", Source: "AME", Rating: [2]float64{1, 1}, RegCode: "A", TargetCode: "B"},
				{Status: "Scheduled", Source: "SSA", Rating: [2]float64{5, 0}, RegCode: "A"},
				{Status: "Scheduled", Source: "Kiosk", RegCode: "A"}, // neither kind: not counted
				{Status: "Cancelled", Source: "SSA", RegCode: "A"},   // not scheduled: not counted
			} {
				if in.appointment(a, aggs.of) {
					counted++
				}
			}
			if counted != 2 {
				t.Errorf("%d appointments counted, want 2", counted)
			}
			if got := engagementValues(in.plan, *aggs["A"]); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("A:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestSessionLinesAndRounding(t *testing.T) {
	in := engagementInputs{f: certain.Defaults(), plan: newEngagementPlan(allModules())}
	agg := &engagementAgg{}
	// Session statuses (2.0): Registered and Attended; ratings 4, 4, 5.
	in.sessionLine(agg, "Registered", 4)
	in.sessionLine(agg, "Attended", 4)
	in.sessionLine(agg, "Attended", 5)
	got := engagementValues(in.plan, *agg)
	if got[MetricSessionsRegistered] != 3 || got[MetricSessionsAttended] != 2 || got[MetricAvgSessionRating] != 4.33 {
		t.Errorf("got %v, want registered 3, attended 2, average 13/3 rounded to 4.33", got)
	}
}

func TestEngagementFieldNamesAreConfigurable(t *testing.T) {
	// A tenant whose agenda "cancelled" status is spelled differently.
	f := certain.Defaults()
	f.AgendaCancelled = "REMOVED"
	f.AgendaAttended = "CHECKEDIN"
	in := engagementInputs{f: f, plan: newEngagementPlan([]string{config.ModuleAgenda})}
	agg := &engagementAgg{}
	in.sessionLine(agg, "REMOVED", 0)
	in.sessionLine(agg, "CHECKEDIN", 0)
	in.sessionLine(agg, "CANCELLED", 0) // not this tenant's cancelled status: counts as registered
	if agg.SessionsRegistered != 2 || agg.SessionsAttended != 1 {
		t.Errorf("registered %d attended %d, want 2 and 1", agg.SessionsRegistered, agg.SessionsAttended)
	}
}
