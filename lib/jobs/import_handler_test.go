package jobs_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// TestImportLeadsHandlerWithSampleEvents drives the function's handler the
// way the Lambda runtime does: the sample JSON through lambda.NewHandler.
func TestImportLeadsHandlerWithSampleEvents(t *testing.T) {
	e := newImportEnv(t)
	ids := e.addLeads(25)
	direct := sampleEvent(t, "direct-run.json")
	var inv app.Invocation
	if err := json.Unmarshal(direct, &inv); err != nil || inv.JobID == "" {
		t.Fatalf("direct-run.json names no jobId (%v): %s", err, direct)
	}
	j := leadsJob(listID)
	j.ID = inv.JobID
	e.PutJob(t, j)
	h := lambda.NewHandler(app.ScheduledHandler(e.Executor, config.TypeImportLeads, config.TypeImportProfiles))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	out, err := h.Invoke(ctx, sampleEvent(t, "schedule-tick-import-leads.json"))
	if err != nil {
		t.Fatalf("tick: %v", err)
	}
	var resp app.Response
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("tick response %s: %v", out, err)
	}
	if resp.Tick == nil || len(resp.Tick.Ran) != 1 || resp.Tick.Ran[0].JobID != j.ID || resp.Tick.Ran[0].Outcome != store.RunSucceeded {
		t.Fatalf("tick response: %s", out)
	}
	if got := resp.Tick.Ran[0].Counts[jobs.CountRegistrationsCreated]; got != 25 {
		t.Errorf("tick registered %d, want 25", got)
	}
	e.assertEachLeadOnce(t, ids)

	e.Clock.Advance(time.Minute)
	out, err = h.Invoke(ctx, direct)
	if err != nil {
		t.Fatalf("direct run: %v", err)
	}
	resp = app.Response{}
	if err := json.Unmarshal(out, &resp); err != nil || resp.Run == nil {
		t.Fatalf("direct run response %s: %v", out, err)
	}
	if resp.Run.Outcome != store.RunSucceeded || resp.Run.Counts[jobs.CountAlreadyRegistered] != 25 || resp.Run.MarketoCalls != 1 {
		t.Errorf("direct re-run: %s", out)
	}
	e.assertEachLeadOnce(t, ids)
}
