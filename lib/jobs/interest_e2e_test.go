package jobs_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/memstore"
)

func interestObject(mk *marketotest.Server) {
	var fs []marketo.CustomObjectField
	for _, f := range []string{"interestKey", "programName", "interest", "interestPoints"} {
		fs = append(fs, marketo.CustomObjectField{Name: f, DataType: "string", Updatable: true})
	}
	mk.AddCustomObjectType(marketotest.CustomObjectType{Name: jobs.DefaultInterestObject, DedupeFields: []string{"interestKey"},
		Fields: fs, LinkField: "leadID"})
}

type line struct{ reg, item, status string }

// seedInterest seeds the event on s. Agenda items: W1 {Security, Cloud} 15
// points, W2 {Cloud} 10, W3 {AI} 0, W4 {AI} 7. Leads are seeded in mk
// only when mk is non-nil; otherwise leads[0] gives the ids (a second
// Certain server for the same Marketo).
func seedInterest(s *certaintest.Server, mk *marketotest.Server, lines []line, leads ...map[string]int) map[string]int {
	s.AddEvent("ACME", map[string]any{"eventCode": "HS26", "eventName": "Harbour Summit 2026"})
	ids := map[string]int{}
	regs := []struct {
		code, status string
		extra        map[string]any
	}{
		{"R-A", "Pre-Registered", nil},
		{"R-B", "Invited", nil},
		{"R-I", "Pre-Registered", map[string]any{"isConfirmed": false}}, // incomplete
		{"R-X", "Pre-Registered", map[string]any{"isActive": false}},    // inactive
		{"R-C", "Cancelled", nil},
		{"R-D", "Request Denied", nil},
	}
	for _, r := range regs {
		email := fmt.Sprintf("%s@example.org", r.code)
		var id int
		if mk != nil {
			id = mk.AddLead(marketo.Lead{"email": email})
		} else {
			id = leads[0][r.code]
		}
		ids[r.code] = id
		pin := s.AddProfile("ACME", map[string]any{"email": email, "externalKey": strconv.Itoa(id), "sourceOfProfile": "Marketo"})
		reg := map[string]any{"registrationCode": r.code, "registrationStatusLabel": r.status, "isConfirmed": true}
		for k, v := range r.extra {
			reg[k] = v
		}
		s.AddRegistration("ACME", "HS26", pin, reg)
	}
	for _, it := range []struct {
		code   string
		tags   []string
		points float64
	}{{"W1", []string{"Security", "Cloud"}, 15}, {"W2", []string{"Cloud"}, 10}, {"W3", []string{"AI"}, 0}, {"W4", []string{"AI"}, 7}} {
		s.AddAgendaItem("ACME", "HS26", map[string]any{"activityCode": it.code, "name": it.code, "tag": it.tags, "points": it.points})
	}
	for _, l := range lines {
		s.AddAgendaLine("ACME", "HS26", map[string]any{"registrationCode": l.reg, "activityCode": l.item, "status": l.status})
	}
	return ids
}

func interestJob(id string, include []string, modules []string) config.Job {
	return config.Job{ID: id, Type: config.TypeInterestMetrics, Schedule: config.Schedule{Interval: config.Duration(time.Hour)},
		Params: config.Params{CustomObject: jobs.DefaultInterestObject, Fields: map[string]string{"points": "interestPoints"},
			Include: include, Modules: modules}}
}

// points returns interestKey -> points of the stored records.
func points(e *metricsEnv) map[string]string {
	out := map[string]string{}
	for _, r := range e.mk.CustomObjectRecords(jobs.DefaultInterestObject) {
		out[fmt.Sprint(r["interestKey"])] = fmt.Sprint(r["interestPoints"])
		if r["programName"] != "Harbour Summit 2026" {
			panic(fmt.Sprintf("record %v: programName is not the event name", r))
		}
	}
	return out
}

func TestInterestMetricsByStatusChoiceAndCriteria(t *testing.T) {
	lines := []line{
		{"R-A", "W1", "REGISTERED"}, {"R-A", "W2", "ATTENDED"}, {"R-A", "W3", "ATTENDED"}, {"R-A", "W4", "CANCELLED"},
		{"R-B", "W4", "ATTENDED"}, {"R-B", "W2", "WAITLISTED"},
		{"R-I", "W1", "REGISTERED"}, {"R-X", "W1", "REGISTERED"}, {"R-C", "W1", "REGISTERED"}, {"R-D", "W1", "REGISTERED"},
	}
	key := func(ids map[string]int, reg, tag string) string { return "HS26:" + strconv.Itoa(ids[reg]) + ":" + tag }
	tests := []struct {
		include []string
		want    func(ids map[string]int) map[string]string
	}{
		{[]string{"registered"}, func(ids map[string]int) map[string]string {
			// A: W1 only (15 Security, 15 Cloud). B: nothing registered.
			return map[string]string{key(ids, "R-A", "Security"): "15", key(ids, "R-A", "Cloud"): "15"}
		}},
		{[]string{"attended"}, func(ids map[string]int) map[string]string {
			// A: W2 (Cloud 10), W3 has 0 points. B: W4 (AI 7).
			return map[string]string{key(ids, "R-A", "Cloud"): "10", key(ids, "R-B", "AI"): "7"}
		}},
		{[]string{"registered", "attended"}, func(ids map[string]int) map[string]string {
			return map[string]string{key(ids, "R-A", "Security"): "15", key(ids, "R-A", "Cloud"): "25", key(ids, "R-B", "AI"): "7"}
		}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.include), func(t *testing.T) {
			e := newMetricsEnv(t, memstore.New())
			interestObject(e.mk)
			ids := seedInterest(e.certain, e.mk, lines)
			e.putJob(interestJob("int", tc.include, nil))
			run := e.run("int", false)
			want := tc.want(ids)
			if run.Outcome != store.RunSucceeded || run.Counts[store.OutcomeCreated] != len(want) {
				t.Fatalf("run %s %v %q, want %d created", run.Outcome, run.Counts, run.Error, len(want))
			}
			if got := points(e); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("records\n got %v\nwant %v (incomplete, inactive, cancelled and denied excluded)", got, want)
			}
		})
	}
}

func TestInterestMetricsSessions(t *testing.T) {
	e := newMetricsEnv(t, memstore.New())
	interestObject(e.mk)
	ids := seedInterest(e.certain, e.mk, []line{{"R-A", "W1", "REGISTERED"}}) // agenda lines ignored with sessions on
	s1 := e.certain.AddSession("ACME", "HS26", map[string]any{"sessionCode": "KEY-1", "tag": []string{"Security"}, "points": 20})
	s2 := e.certain.AddSession("ACME", "HS26", map[string]any{"sessionCode": "BR-7", "tag": []string{"Security", "AI"}, "points": 5})
	e.certain.AddSessionLine("ACME", "HS26", s1, map[string]any{"registrationCode": "R-A", "registrationStatus": "Attended"})
	e.certain.AddSessionLine("ACME", "HS26", s2, map[string]any{"registrationCode": "R-A", "registrationStatus": "Attended"})
	e.certain.AddSessionLine("ACME", "HS26", s2, map[string]any{"registrationCode": "R-B", "registrationStatus": "Registered"})
	e.putJob(interestJob("int", []string{"attended"}, []string{config.ModuleSpeakerSession}))
	run := e.run("int", false)
	want := map[string]string{"HS26:" + strconv.Itoa(ids["R-A"]) + ":Security": "25", "HS26:" + strconv.Itoa(ids["R-A"]) + ":AI": "5"}
	if got := points(e); run.Outcome != store.RunSucceeded || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("run %s %v; records %v, want %v", run.Outcome, run.Counts, got, want)
	}
}

func TestInterestDropsToZero(t *testing.T) {
	e := newMetricsEnv(t, memstore.New())
	interestObject(e.mk)
	lines := []line{{"R-A", "W1", "REGISTERED"}, {"R-A", "W4", "REGISTERED"}, {"R-B", "W2", "REGISTERED"}}
	ids := seedInterest(e.certain, e.mk, lines)
	e.putJob(interestJob("int", []string{"registered"}, nil))
	if run := e.run("int", false); run.Counts[store.OutcomeCreated] != 4 {
		t.Fatalf("first run %v %q, want 4 created (A: Security, Cloud, AI; B: Cloud)", run.Counts, run.Error)
	}
	// A cancels W4 (AI) and B's registration is cancelled: the same event
	// served by a fresh simulator with those changes.
	next := certaintest.NewServer(t)
	seedInterest(next, nil, []line{{"R-A", "W1", "REGISTERED"}, {"R-A", "W4", "CANCELLED"}, {"R-B", "W2", "REGISTERED"}}, ids)
	next.SetRegistrationStatus("ACME", "HS26", "R-B", "Cancelled")
	e.setCertain(next)
	run := e.run("int", false)
	k := func(reg, tag string) string { return "HS26:" + strconv.Itoa(ids[reg]) + ":" + tag }
	want := map[string]string{k("R-A", "Security"): "15", k("R-A", "Cloud"): "15", k("R-A", "AI"): "0", k("R-B", "Cloud"): "0"}
	if got := points(e); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after the drop\n got %v\nwant %v", got, want)
	}
	if run.Counts[store.OutcomeUpdated] != 2 || run.Counts[store.OutcomeUnchanged] != 2 {
		t.Errorf("second run counts %v, want 2 updated (the zeros), 2 unchanged", run.Counts)
	}
	// Third run: the zeros are not sent again.
	before := syncCalls(e, jobs.DefaultInterestObject)
	run3 := e.run("int", false)
	if syncCalls(e, jobs.DefaultInterestObject) != before || run3.Counts[store.OutcomeUnchanged] != 2 || run3.MarketoCalls != 1 {
		t.Errorf("third run counts %v, %d Marketo calls; want 2 unchanged, describe only", run3.Counts, run3.MarketoCalls)
	}
	// The points come back: sent again.
	e.setCertain(certaintest.NewServer(t))
	seedInterest(e.certain, nil, lines, ids)
	e.run("int", false)
	if got := points(e)[k("R-A", "AI")]; got != "7" {
		t.Errorf("AI after re-registering: %s, want 7", got)
	}
}
