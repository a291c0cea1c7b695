package jobs_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/memstore"
)

// metricsEnv wires the real clients to both simulators and a memstore
// through the Executor. The Certain side can be swapped between runs to
// model changes the simulator cannot make in place (a cancelled agenda line).
type metricsEnv struct {
	t       *testing.T
	mk      *marketotest.Server
	mkc     *marketo.Client
	store   store.Store
	ex      *jobs.Executor
	mu      sync.Mutex
	certain *certaintest.Server
	cc      *certain.Client
}

func (e *metricsEnv) Connect(context.Context, config.Connection) (jobs.Clients, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return jobs.Clients{Marketo: e.mkc, Certain: e.cc}, nil
}

func newMetricsEnv(t *testing.T, st store.Store) *metricsEnv {
	t.Helper()
	e := &metricsEnv{t: t, mk: marketotest.NewServer(t), store: st}
	var err error
	if e.mkc, err = e.mk.NewClient(); err != nil {
		t.Fatal(err)
	}
	e.setCertain(certaintest.NewServer(t))
	conn := config.Connection{Account: "ACME", CertainBaseURL: e.certain.URL, CertainSecret: "certain", MarketoSecret: "marketo", AllowHTTP: true}
	if err := st.PutConnection(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	e.ex = &jobs.Executor{Store: st, Connector: e, Funcs: map[string]jobs.JobFunc{
		config.TypeEngagementMetrics: jobs.EngagementMetrics, config.TypeInterestMetrics: jobs.InterestMetrics}}
	return e
}

func (e *metricsEnv) setCertain(s *certaintest.Server) {
	c, err := certain.New(s.Config())
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.certain, e.cc = s, c
	e.mu.Unlock()
}

func (e *metricsEnv) putJob(j config.Job) {
	e.t.Helper()
	j.Account, j.Event, j.Enabled, j.Name = "ACME", "HS26", true, j.ID
	if err := e.store.PutJob(context.Background(), j); err != nil {
		e.t.Fatal(err)
	}
}

func (e *metricsEnv) run(jobID string, force bool) store.Run {
	e.t.Helper()
	sum, err := e.ex.RunNow(context.Background(), jobID, force)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := e.store.GetRun(context.Background(), sum.RunID)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// records returns the custom object's records by a field's value.
func (e *metricsEnv) records(apiName, keyField string) map[string]marketo.Record {
	out := map[string]marketo.Record{}
	for _, r := range e.mk.CustomObjectRecords(apiName) {
		out[fmt.Sprint(r[keyField])] = r
	}
	return out
}

func syncCalls(e *metricsEnv, apiName string) int {
	return e.mk.CountPath("/rest/v1/customobjects/" + apiName + ".json")
}

// attendee seeds a profile, a lead and a registration. linked: the profile
// carries the lead id with Source of Profile = Marketo.
func attendee(s *certaintest.Server, mk *marketotest.Server, code, email, status string, linked bool, extra map[string]any) int {
	id := mk.AddLead(marketo.Lead{"email": email})
	pf := map[string]any{"email": email, "firstName": code}
	if linked {
		pf["externalKey"] = strconv.Itoa(id)
		pf["sourceOfProfile"] = "Marketo"
	}
	pin := s.AddProfile("ACME", pf)
	reg := map[string]any{"registrationCode": code, "registrationStatusLabel": status, "isConfirmed": true}
	for k, v := range extra {
		reg[k] = v
	}
	s.AddRegistration("ACME", "HS26", pin, reg)
	return id
}

func engagementObject(mk *marketotest.Server, fields ...string) {
	var fs []marketo.CustomObjectField
	for _, f := range append([]string{"metricKey", "eventCode"}, fields...) {
		fs = append(fs, marketo.CustomObjectField{Name: f, DataType: "string", Updatable: true})
	}
	mk.AddCustomObjectType(marketotest.CustomObjectType{Name: jobs.DefaultEngagementObject, DedupeFields: []string{"metricKey"},
		Fields: fs, LinkField: "leadID"})
}

func seedEngagementEvent(s *certaintest.Server, mk *marketotest.Server) (idA, idB int) {
	s.AddEvent("ACME", map[string]any{"eventCode": "HS26", "eventName": "Harbour Summit 2026"})
	idA = attendee(s, mk, "R-A", "a@example.org", "Pre-Registered", true, nil)
	idB = attendee(s, mk, "R-B", "b@example.org", "Invited", false, nil) // found by email, written back
	attendee(s, mk, "R-C", "c@example.org", "Cancelled", true, nil)
	attendee(s, mk, "R-D", "d@example.org", "Attended", true, map[string]any{"isActive": false})
	for _, l := range []struct {
		reg, act, status string
		rating           any
	}{
		{"R-A", "S1", "ATTENDED", 4}, {"R-A", "S2", "ATTENDED", 5}, {"R-A", "S3", "REGISTERED", nil}, {"R-A", "S4", "CANCELLED", 1},
		{"R-B", "S1", "WAITLISTED", nil},
	} {
		s.AddAgendaLine("ACME", "HS26", map[string]any{"registrationCode": l.reg, "activityCode": l.act, "status": l.status, "rating": l.rating})
	}
	appt := func(src, status string, from, to string, rating []int) {
		s.AddAppointment("ACME", "HS26", map[string]any{"status": status, "appointmentSource": src, "appointmentRating": rating,
			"registration": map[string]any{"regCode": from}, "targetRegistration": map[string]any{"regCode": to}})
	}
	appt("SSA", "Scheduled", "R-A", "R-B", []int{4, 0})
	appt("AME", "Attended", "R-B", "R-A", []int{3, 5})
	appt("SSA", "Cancelled", "R-A", "R-B", []int{1, 1})
	return idA, idB
}

func TestEngagementMetricsEndToEnd(t *testing.T) {
	e := newMetricsEnv(t, memstore.New())
	engagementObject(e.mk, jobs.EngagementMetricNames()...)
	idA, idB := seedEngagementEvent(e.certain, e.mk)
	e.putJob(config.Job{ID: "eng", Type: config.TypeEngagementMetrics, Schedule: config.Schedule{Interval: config.Duration(time.Hour)},
		Params: config.Params{CustomObject: jobs.DefaultEngagementObject, Fields: map[string]string{"key": "metricKey"},
			Modules: []string{config.ModuleAgenda, config.ModuleMobile, config.ModuleSSA, config.ModuleAppointmentMatching}}})

	run := e.run("eng", false)
	if run.Outcome != store.RunSucceeded || run.Counts[store.OutcomeCreated] != 2 {
		t.Fatalf("first run: outcome %s counts %v error %q, want succeeded with 2 created (A and B; C cancelled, D inactive)", run.Outcome, run.Counts, run.Error)
	}
	recs := e.records(jobs.DefaultEngagementObject, "leadID")
	if len(recs) != 2 {
		t.Fatalf("records %v, want A and B only", recs)
	}
	a := recs[strconv.Itoa(idA)]
	// By hand: A's agenda: 3 registered (S4 cancelled), 2 attended, ratings 4
	// and 5 -> 4.5. Appointments: SSA scheduled (A gave 4, B unrated) and
	// matched attended (B gave 3, A gave 5); the cancelled one is ignored.
	wantA := map[string]any{"metricKey": "HS26:" + strconv.Itoa(idA), "eventCode": "HS26",
		jobs.MetricSessionsRegistered: 3, jobs.MetricSessionsAttended: 2, jobs.MetricAvgSessionRating: 4.5,
		jobs.MetricSSAAppointments: 1, jobs.MetricMatchedAppointments: 1, jobs.MetricAppointmentsScheduled: 2,
		jobs.MetricAppointmentsAttended: 1, jobs.MetricAvgRatingGiven: 4.5, jobs.MetricAvgRatingReceived: 3}
	for k, v := range wantA {
		if fmt.Sprint(a[k]) != fmt.Sprint(v) {
			t.Errorf("A.%s = %v, want %v", k, a[k], v)
		}
	}
	// B: only a waitlisted line (0 registered, no rating: null); gave 3,
	// received 4 (A's rating of the SSA meeting) and 5 -> 4.5.
	b := recs[strconv.Itoa(idB)]
	wantB := map[string]any{jobs.MetricSessionsRegistered: 0, jobs.MetricAvgSessionRating: nil, jobs.MetricAvgRatingGiven: 3,
		jobs.MetricAvgRatingReceived: 4.5, jobs.MetricAppointmentsScheduled: 2}
	for k, v := range wantB {
		if fmt.Sprint(b[k]) != fmt.Sprint(v) {
			t.Errorf("B.%s = %v, want %v", k, b[k], v)
		}
	}
	// B's lead id was written back to Certain.
	for _, p := range e.certain.Profiles("ACME") {
		if p["email"] == "b@example.org" && (p["externalKey"] != strconv.Itoa(idB) || p["sourceOfProfile"] != "Marketo") {
			t.Errorf("B's profile after the run: %v, want externalKey %d and sourceOfProfile Marketo", p, idB)
		}
	}

	// Unchanged second run: describe only, no sync.
	before := syncCalls(e, jobs.DefaultEngagementObject)
	run2 := e.run("eng", false)
	if run2.Outcome != store.RunSucceeded || run2.Counts[store.OutcomeUnchanged] != 2 || run2.Counts[store.OutcomeCreated]+run2.Counts[store.OutcomeUpdated] != 0 {
		t.Errorf("second run: %s %v, want 2 unchanged, nothing sent", run2.Outcome, run2.Counts)
	}
	if got := syncCalls(e, jobs.DefaultEngagementObject) - before; got != 0 || run2.MarketoCalls != 1 {
		t.Errorf("second run made %d sync calls and %d Marketo calls, want 0 and 1 (describe)", got, run2.MarketoCalls)
	}
	// A forced run resends everything.
	run3 := e.run("eng", true)
	if run3.Counts[store.OutcomeUpdated] != 2 {
		t.Errorf("forced run counts %v, want 2 updated", run3.Counts)
	}
}

func TestEngagementModuleGatingSkipsMetricsAndReads(t *testing.T) {
	e := newMetricsEnv(t, memstore.New())
	// The object has only the agenda metrics: enough when only Agenda is on.
	engagementObject(e.mk, jobs.MetricSessionsRegistered, jobs.MetricSessionsAttended)
	idA, _ := seedEngagementEvent(e.certain, e.mk)
	e.putJob(config.Job{ID: "eng", Type: config.TypeEngagementMetrics, Schedule: config.Schedule{Interval: config.Duration(time.Hour)},
		Params: config.Params{CustomObject: jobs.DefaultEngagementObject, Fields: map[string]string{"key": "metricKey"},
			Modules: []string{config.ModuleAgenda}}})
	run := e.run("eng", false)
	if run.Outcome != store.RunSucceeded {
		t.Fatalf("run %s %v %q", run.Outcome, run.Counts, run.Error)
	}
	a := e.records(jobs.DefaultEngagementObject, "leadID")[strconv.Itoa(idA)]
	if fmt.Sprint(a[jobs.MetricSessionsRegistered]) != "3" || a[jobs.MetricAvgSessionRating] != nil || a[jobs.MetricSSAAppointments] != nil {
		t.Errorf("record %v: want sessions only", a)
	}
	if n := e.certain.CountCalls("GET", "Appointments"); n != 0 {
		t.Errorf("%d appointment reads with the appointment modules off, want 0", n)
	}
}

func TestEngagementDescribeValidation(t *testing.T) {
	e := newMetricsEnv(t, memstore.New())
	engagementObject(e.mk, jobs.MetricSessionsRegistered) // lacks sessionsAttended
	seedEngagementEvent(e.certain, e.mk)
	e.putJob(config.Job{ID: "eng", Type: config.TypeEngagementMetrics, Schedule: config.Schedule{Interval: config.Duration(time.Hour)},
		Params: config.Params{CustomObject: jobs.DefaultEngagementObject, Fields: map[string]string{"key": "metricKey"}, Modules: []string{config.ModuleAgenda}}})
	e.putJob(config.Job{ID: "missing", Type: config.TypeInterestMetrics, Schedule: config.Schedule{Interval: config.Duration(time.Hour)},
		Params: config.Params{CustomObject: "NoSuchObject", Fields: map[string]string{"points": "interestPoints"}, Include: []string{"registered"}}})
	for id, want := range map[string]string{"eng": `no field "sessionsAttended"`, "missing": `"NoSuchObject" does not exist`} {
		run := e.run(id, false)
		if run.Outcome != store.RunFailed || !strings.Contains(run.Error, want) || !strings.Contains(run.Error, "configuration error") {
			t.Errorf("%s: outcome %s error %q, want a failed run with a configuration error containing %q", id, run.Outcome, run.Error, want)
		}
	}
	if n := len(e.mk.CustomObjectRecords(jobs.DefaultEngagementObject)); n != 0 || e.certain.CountCalls("GET", "Registration") != 0 {
		t.Errorf("%d records written / registrations read before the configuration check failed", n)
	}
}

func TestEngagementQuotaCheckpointsAndResumes(t *testing.T) {
	e := newMetricsEnv(t, memstore.New())
	engagementObject(e.mk, jobs.MetricSessionsRegistered, jobs.MetricSessionsAttended)
	seedEngagementEvent(e.certain, e.mk)
	e.putJob(config.Job{ID: "eng", Type: config.TypeEngagementMetrics, Schedule: config.Schedule{Interval: config.Duration(time.Hour)},
		Params: config.Params{CustomObject: jobs.DefaultEngagementObject, Fields: map[string]string{"key": "metricKey"}, Modules: []string{config.ModuleAgenda}}})
	e.mk.FailNext("/rest/v1/customobjects/"+jobs.DefaultEngagementObject+".json", 1, "607")
	run := e.run("eng", false)
	if run.Outcome != store.RunQuota {
		t.Fatalf("outcome %s (%q), want quota", run.Outcome, run.Error)
	}
	if _, err := e.store.GetCheckpoint(context.Background(), "eng"); err != nil {
		t.Fatalf("no checkpoint after the quota stop: %v", err)
	}
	run2 := e.run("eng", false)
	if run2.Outcome != store.RunSucceeded || run2.Counts[store.OutcomeCreated] != 2 || run2.Trigger != "continuation" {
		t.Errorf("resumed run %s %v trigger %s, want succeeded continuation with the 2 records created", run2.Outcome, run2.Counts, run2.Trigger)
	}
	if n := len(e.mk.CustomObjectRecords(jobs.DefaultEngagementObject)); n != 2 {
		t.Errorf("%d records, want 2", n)
	}
}
