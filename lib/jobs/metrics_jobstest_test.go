package jobs_test

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

var measure10k = flag.Bool("metrics10k", false, "run the 10,000-registration call measurement")

func engagementJob(id string, modules ...string) config.Job {
	return config.Job{ID: id, Account: jobstest.Account, Event: "HS26", Type: config.TypeEngagementMetrics, Name: id, Enabled: true,
		Schedule: config.Schedule{Interval: config.Duration(time.Hour)},
		Params:   config.Params{CustomObject: jobs.DefaultEngagementObject, Fields: map[string]string{"key": "metricKey"}, Modules: modules}}
}

// seedLinked seeds n registrations whose profiles carry their lead id, each
// with one attended agenda line (rating i%5) and one tagged item.
func seedLinked(env *jobstest.Env, n int) {
	env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": "HS26", "eventName": "Harbour Summit 2026"})
	env.Certain.AddAgendaItem(jobstest.Account, "HS26", map[string]any{"activityCode": "W1", "tag": []string{"Cloud", "AI"}, "points": 10})
	for i := range n {
		email := fmt.Sprintf("att%05d@example.org", i)
		id := env.Marketo.AddLead(marketo.Lead{"email": email})
		pin := env.Certain.AddProfile(jobstest.Account, map[string]any{"email": email, "externalKey": strconv.Itoa(id), "sourceOfProfile": "Marketo"})
		code := fmt.Sprintf("R-%05d", i)
		env.Certain.AddRegistration(jobstest.Account, "HS26", pin, map[string]any{"registrationCode": code, "registrationStatusLabel": "Pre-Registered", "isConfirmed": true})
		env.Certain.AddAgendaLine(jobstest.Account, "HS26", map[string]any{"registrationCode": code, "activityCode": "W1", "status": "ATTENDED", "rating": i % 5})
	}
}

func TestEngagementMetricsOnDynamo(t *testing.T) {
	env := jobstest.New(t, jobstest.WithDynamo(), jobstest.WithFunc(config.TypeEngagementMetrics, jobs.EngagementMetrics))
	engagementObject(env.Marketo, jobs.EngagementMetricNames()...)
	idA, _ := seedEngagementEvent(env.Certain, env.Marketo)
	env.PutJob(t, engagementJob("eng", config.ModuleAgenda, config.ModuleMobile, config.ModuleSSA))
	ctx := context.Background()
	run := env.RunJob(t, ctx, "eng")
	if run.Outcome != store.RunSucceeded || run.Counts[store.OutcomeCreated] != 2 {
		t.Fatalf("first run %s %v %q, want 2 created", run.Outcome, run.Counts, run.Error)
	}
	var a marketo.Record
	for _, r := range env.Marketo.CustomObjectRecords(jobs.DefaultEngagementObject) {
		if fmt.Sprint(r["leadID"]) == strconv.Itoa(idA) {
			a = r
		}
	}
	// Matching off: Matched Appointments is not sent, but Scheduled and the
	// ratings are the total of both kinds ("total, i.e. both Matched and
	// SSA"): A's SSA meeting (A gave 4, B unrated) and the matched one B
	// asked for (B gave 3, A gave 5). The object's fields are strings: the
	// numbers go as their text.
	if fmt.Sprintf("%#v %#v %#v %#v", a[jobs.MetricSSAAppointments], a[jobs.MetricAppointmentsScheduled], a[jobs.MetricAvgRatingGiven], a[jobs.MetricAvgRatingReceived]) != `"1" "2" "4.5" "3"` ||
		a[jobs.MetricMatchedAppointments] != nil {
		t.Errorf("A = %v", a)
	}
	run2 := env.RunJob(t, ctx, "eng")
	if run2.Counts[store.OutcomeUnchanged] != 2 || run2.MarketoCalls != 1 {
		t.Errorf("second run %v, %d Marketo calls; want 2 unchanged and describe only", run2.Counts, run2.MarketoCalls)
	}
}

func TestEngagementCheckpointResumesExactly(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeEngagementMetrics, jobs.EngagementMetrics))
	engagementObject(env.Marketo, jobs.MetricSessionsRegistered, jobs.MetricSessionsAttended)
	seedLinked(env, 450) // three pages of 200
	env.PutJob(t, engagementJob("eng", config.ModuleAgenda))
	ctx := context.Background()
	// Deadline checks: after agenda pages 1 and 2 (of 3), then after the
	// first registration page, where the run stops.
	env.InterruptAfter(2)
	run := env.RunJob(t, ctx, "eng")
	if run.Outcome != store.RunCheckpointed || run.Counts[store.OutcomeCreated] != 200 {
		t.Fatalf("first run %s %v %q, want checkpointed after 200 created", run.Outcome, run.Counts, run.Error)
	}
	env.InterruptWhen(nil)
	run2 := env.RunJob(t, ctx, "eng")
	if run2.Outcome != store.RunSucceeded || run2.Counts[store.OutcomeCreated] != 250 || run2.Counts[store.OutcomeUnchanged]+run2.Counts[store.OutcomeUpdated] != 0 {
		t.Errorf("continuation %s %v, want the other 250 created and nothing re-read as sent", run2.Outcome, run2.Counts)
	}
	if n := len(env.Marketo.CustomObjectRecords(jobs.DefaultEngagementObject)); n != 450 {
		t.Errorf("%d records, want 450", n)
	}
}

// TestMetricsCallsAt10k measures the Marketo calls of both jobs for 10,000
// registrations whose profiles carry their lead id: first run and an
// unchanged second run.
func TestMetricsCallsAt10k(t *testing.T) {
	if !*measure10k {
		t.Skip("measurement: go test ./lib/jobs -run TestMetricsCallsAt10k -v -args -metrics10k")
	}
	env := jobstest.New(t, jobstest.WithFunc(config.TypeEngagementMetrics, jobs.EngagementMetrics),
		jobstest.WithFunc(config.TypeInterestMetrics, jobs.InterestMetrics))
	engagementObject(env.Marketo, jobs.EngagementMetricNames()...)
	interestObject(env.Marketo)
	const n = 10000
	seedLinked(env, n)
	env.PutJob(t, engagementJob("eng", config.ModuleAgenda, config.ModuleMobile))
	ij := interestJob("int", []string{"attended"}, nil)
	ij.Account, ij.Event, ij.Name, ij.Enabled = jobstest.Account, "HS26", "int", true
	env.PutJob(t, ij)
	ctx := context.Background()
	for _, tc := range []struct {
		job     string
		records int
	}{{"eng", n}, {"int", 2 * n}} {
		first := env.RunJob(t, ctx, tc.job)
		second := env.RunJob(t, ctx, tc.job)
		t.Logf("%s, %d registrations: first run %d Marketo calls (%d Certain), %v; unchanged second run %d Marketo calls (%d Certain)",
			tc.job, n, first.MarketoCalls, first.CertainCalls, first.Counts, second.MarketoCalls, second.CertainCalls)
		// Describe + one sync per 300 records.
		if want := 1 + (tc.records+299)/300; first.MarketoCalls != want || first.Counts[store.OutcomeCreated] != tc.records {
			t.Errorf("%s first run: %d calls, %v; want %d calls and %d created", tc.job, first.MarketoCalls, first.Counts, want, tc.records)
		}
		if second.MarketoCalls != 1 || second.Counts[store.OutcomeUnchanged] != tc.records {
			t.Errorf("%s second run: %d calls, %v; want 1 (describe) and %d unchanged", tc.job, second.MarketoCalls, second.Counts, tc.records)
		}
	}
}
