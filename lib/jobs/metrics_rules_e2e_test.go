package jobs_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/memstore"
)

// Interest tags are one tag whatever their letter case and surrounding
// spaces: "Cloud", "cloud " and " CLOUD" add up into one record, named as
// the account spells it first.
func TestInterestTagsFoldCaseAndSpaces(t *testing.T) {
	e := newMetricsEnv(t, memstore.New())
	interestObject(e.mk)
	e.certain.AddEvent("ACME", map[string]any{"eventCode": "HS26", "eventName": "Harbour Summit 2026"})
	id := attendee(e.certain, e.mk, "R-A", "a@example.org", "Pre-Registered", true, nil)
	for _, it := range []struct {
		code   string
		tags   []string
		points float64
	}{{"W1", []string{"Cloud"}, 10}, {"W2", []string{"cloud "}, 5}, {"W3", []string{" CLOUD", "cloud", "AI"}, 3}} {
		e.certain.AddAgendaItem("ACME", "HS26", map[string]any{"activityCode": it.code, "name": it.code, "tag": it.tags, "points": it.points})
		e.certain.AddAgendaLine("ACME", "HS26", map[string]any{"registrationCode": "R-A", "activityCode": it.code, "status": "REGISTERED"})
	}
	e.putJob(interestJob("int", []string{"registered"}, nil))
	run := e.run("int", false)
	k := func(tag string) string { return "HS26:" + strconv.Itoa(id) + ":" + tag }
	want := map[string]string{k("Cloud"): "18", k("AI"): "3"}
	if got := points(e); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records\n got %v\nwant %v", got, want)
	}
	for _, r := range e.mk.CustomObjectRecords(jobs.DefaultInterestObject) {
		if r["interestKey"] == k("Cloud") && r["interest"] != "Cloud" {
			t.Errorf("tag named %q, want the first spelling \"Cloud\"", r["interest"])
		}
	}
	if run.Counts[store.OutcomeCreated] != 2 {
		t.Errorf("run counts %v, want 2 created", run.Counts)
	}
}

// Engagement metrics 6 and 7 are "total, i.e. both Matched and SSA": with
// only one appointment module on, the appointments of both kinds count in
// Scheduled and Attended; SSA or Matched alone follows its module.
func TestEngagementAppointmentTotalsIncludeBothKinds(t *testing.T) {
	for _, tc := range []struct {
		module  string
		onlyKey string // the per-kind metric the module sends
	}{{config.ModuleSSA, jobs.MetricSSAAppointments}, {config.ModuleAppointmentMatching, jobs.MetricMatchedAppointments}} {
		t.Run(tc.module, func(t *testing.T) {
			e := newMetricsEnv(t, memstore.New())
			engagementObject(e.mk, jobs.MetricSSAAppointments, jobs.MetricMatchedAppointments, jobs.MetricAppointmentsScheduled, jobs.MetricAppointmentsAttended)
			e.certain.AddEvent("ACME", map[string]any{"eventCode": "HS26", "eventName": "Harbour Summit 2026"})
			idA := attendee(e.certain, e.mk, "R-A", "a@example.org", "Pre-Registered", true, nil)
			attendee(e.certain, e.mk, "R-B", "b@example.org", "Pre-Registered", true, nil)
			appt := func(src, status, from, to string) {
				e.certain.AddAppointment("ACME", "HS26", map[string]any{"status": status, "appointmentSource": src, "appointmentRating": []int{0, 0},
					"registration": map[string]any{"regCode": from}, "targetRegistration": map[string]any{"regCode": to}})
			}
			appt("SSA", "Scheduled", "R-A", "R-B")
			appt("AME", "Attended", "R-B", "R-A")
			e.putJob(config.Job{ID: "eng", Type: config.TypeEngagementMetrics, Schedule: config.Schedule{Interval: config.Duration(time.Hour)},
				Params: config.Params{CustomObject: jobs.DefaultEngagementObject, Modules: []string{tc.module}}})
			if run := e.run("eng", false); run.Outcome != store.RunSucceeded {
				t.Fatalf("run %s %q", run.Outcome, run.Error)
			}
			r := e.records(jobs.DefaultEngagementObject, "metricKey")["HS26:"+strconv.Itoa(idA)]
			if fmt.Sprint(r[jobs.MetricAppointmentsScheduled]) != "2" || fmt.Sprint(r[jobs.MetricAppointmentsAttended]) != "1" || fmt.Sprint(r[tc.onlyKey]) != "1" {
				t.Errorf("record %v: want 2 scheduled and 1 attended (both kinds), %s = 1", r, tc.onlyKey)
			}
			other := map[string]string{jobs.MetricSSAAppointments: jobs.MetricMatchedAppointments, jobs.MetricMatchedAppointments: jobs.MetricSSAAppointments}[tc.onlyKey]
			if _, sent := r[other]; sent {
				t.Errorf("record %v: %s sent without its module", r, other)
			}
		})
	}
}

// params.customObject may be left out, as documented: the metrics jobs
// validate and write to CertainEngagementMetrics and CertainInterestPoints.
func TestMetricsJobsDefaultCustomObject(t *testing.T) {
	e := newMetricsEnv(t, memstore.New())
	engagementObject(e.mk, jobs.MetricSessionsRegistered, jobs.MetricSessionsAttended)
	interestObject(e.mk)
	seedInterest(e.certain, e.mk, []line{{"R-A", "W1", "REGISTERED"}})
	hourly := config.Schedule{Interval: config.Duration(time.Hour)}
	e.putJob(config.Job{ID: "eng", Type: config.TypeEngagementMetrics, Schedule: hourly, Params: config.Params{Modules: []string{config.ModuleAgenda}}})
	e.putJob(config.Job{ID: "int", Type: config.TypeInterestMetrics, Schedule: hourly, Params: config.Params{Include: []string{"registered"}}})
	for id, object := range map[string]string{"eng": jobs.DefaultEngagementObject, "int": jobs.DefaultInterestObject} {
		if run := e.run(id, false); run.Outcome != store.RunSucceeded || run.Counts[store.OutcomeCreated] == 0 || len(e.mk.CustomObjectRecords(object)) == 0 {
			t.Errorf("%s: run %s %v %q, %d records in %s", id, run.Outcome, run.Counts, run.Error, len(e.mk.CustomObjectRecords(object)), object)
		}
	}
}
