package jobs_test

import (
	"context"
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

// Two profiles whose e-mails differ only in case, each linked to a Marketo
// lead of its own (Marketo holds both: its e-mail matching ignores case, so
// they are duplicates to it), are two attendees: each lead gets one
// engagement record with its own registration's metrics, under its own key,
// and neither is skipped as the other's twin nor written to the other's
// lead. This is what the reliability world's generated data sets (seeds 7,
// 19, 2026) hold, and what its invariants reported as one key written twice
// while they named a lead by its lower-case e-mail alone.
func TestEngagementCaseTwinsLinkedToLeadsOfTheirOwnGetARecordEach(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeEngagementMetrics, jobs.EngagementMetrics))
	engagementObject(env.Marketo, jobs.MetricSessionsRegistered, jobs.MetricSessionsAttended)
	seedLinked(env, 3) // R-00000..R-00002, one attended line each
	lead0 := env.Marketo.LeadsByEmail("att00000@example.org")[0].ID()
	lead1 := env.Marketo.AddLead(marketo.Lead{"email": "ATT00000@EXAMPLE.ORG"})
	pin := env.Certain.AddProfile(jobstest.Account, map[string]any{"email": "ATT00000@EXAMPLE.ORG", "externalKey": strconv.Itoa(lead1), "sourceOfProfile": "Marketo"})
	env.Certain.AddRegistration(jobstest.Account, "HS26", pin, map[string]any{"registrationCode": "R-twin", "registrationStatusLabel": "Pre-Registered", "isConfirmed": true})
	env.Certain.AddAgendaLine(jobstest.Account, "HS26", map[string]any{"registrationCode": "R-twin", "activityCode": "W1", "status": "ATTENDED"})
	env.Certain.AddAgendaItem(jobstest.Account, "HS26", map[string]any{"activityCode": "W2", "tag": []string{"AI"}, "points": 1})
	env.Certain.AddAgendaLine(jobstest.Account, "HS26", map[string]any{"registrationCode": "R-twin", "activityCode": "W2", "status": "ATTENDED"})
	env.PutJob(t, engagementJob("eng", config.ModuleAgenda))
	ctx := context.Background()

	first := env.RunJob(t, ctx, "eng")
	if first.Outcome != store.RunSucceeded || first.Counts[store.OutcomeCreated] != 4 || first.Counts[store.OutcomeSkipped] != 0 {
		t.Fatalf("first run %s %v %q: want 4 created, nothing skipped", first.Outcome, first.Counts, first.Error)
	}
	byLead := map[string][]marketo.Record{}
	for _, r := range env.Marketo.CustomObjectRecords(jobs.DefaultEngagementObject) {
		byLead[fmt.Sprint(r["leadID"])] = append(byLead[fmt.Sprint(r["leadID"])], r)
	}
	for _, want := range []struct {
		lead     int
		attended string
	}{{lead0, "1"}, {lead1, "2"}} {
		recs := byLead[strconv.Itoa(want.lead)]
		if len(recs) != 1 {
			t.Fatalf("lead %d has %d engagement records %v, want 1", want.lead, len(recs), recs)
		}
		r := recs[0]
		if key := fmt.Sprintf("HS26:%d", want.lead); fmt.Sprint(r["metricKey"]) != key || fmt.Sprint(r[jobs.MetricSessionsAttended]) != want.attended {
			t.Errorf("lead %d record %v: want metricKey %s and %s sessions attended (its own registration's)", want.lead, r, key, want.attended)
		}
	}

	env.Clock.Advance(time.Hour)
	from := len(env.Marketo.Calls())
	again := env.RunJob(t, ctx, "eng")
	if _, writes, _ := marketoCalls(env, from); writes != 0 || again.Counts[store.OutcomeUnchanged] != 4 {
		t.Errorf("unchanged run: %d custom object writes, counts %v; want none and 4 unchanged", writes, again.Counts)
	}
}
