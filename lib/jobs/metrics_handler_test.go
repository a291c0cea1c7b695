package jobs_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

func TestMetricsHandlersRunScheduleTicks(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeEngagementMetrics, jobs.EngagementMetrics),
		jobstest.WithFunc(config.TypeInterestMetrics, jobs.InterestMetrics))
	engagementObject(env.Marketo, jobs.MetricSessionsRegistered, jobs.MetricSessionsAttended)
	interestObject(env.Marketo)
	seedLinked(env, 3)
	env.PutJob(t, engagementJob("eng", config.ModuleAgenda))
	ij := interestJob("int", []string{"attended"}, nil)
	ij.Account, ij.Event, ij.Name, ij.Enabled = jobstest.Account, "HS26", "int", true
	env.PutJob(t, ij)
	for _, tc := range []struct {
		jobType, jobID string
		created        int
	}{{config.TypeEngagementMetrics, "eng", 3}, {config.TypeInterestMetrics, "int", 6}} {
		h := lambda.NewHandler(app.ScheduledHandler(env.Executor, tc.jobType))
		out, err := h.Invoke(context.Background(), sampleEvent(t, "schedule-tick-"+tc.jobType+".json"))
		if err != nil {
			t.Fatalf("%s: %v", tc.jobType, err)
		}
		var resp app.Response
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.Tick == nil || len(resp.Tick.Ran) != 1 || resp.Tick.Ran[0].JobID != tc.jobID ||
			resp.Tick.Ran[0].Outcome != store.RunSucceeded || resp.Tick.Ran[0].Counts[store.OutcomeCreated] != tc.created {
			t.Errorf("%s: response %s, want one succeeded run of %s with %d created", tc.jobType, out, tc.jobID, tc.created)
		}
	}
	// A direct run of a job of the other type is refused by each handler.
	h := lambda.NewHandler(app.ScheduledHandler(env.Executor, config.TypeEngagementMetrics))
	if _, err := h.Invoke(context.Background(), []byte(`{"jobType":"interest-metrics"}`)); err == nil {
		t.Error("the engagement handler accepted an interest-metrics tick")
	}
}
