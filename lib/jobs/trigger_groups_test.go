package jobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// A batch of changes from twelve events is handled twelve groups at once
// (Groups), not one event after another: Certain sees the groups' calls
// overlap; with Groups 1 it does not. Either way each change requests its
// campaign exactly once.
func TestTriggerHandlesAnEventsGroupsAtOnce(t *testing.T) {
	peak := map[int]int{}
	for _, groups := range []int{1, 12} {
		env := jobstest.New(t, jobstest.WithCertain(certaintest.WithLatency(20*time.Millisecond)))
		env.Marketo.AddCampaign(marketotest.Campaign{ID: campaignID, Name: "Registered", Type: "trigger", Active: true, Requestable: true})
		var msgs []jobs.ChangeMessage
		for i := range 12 {
			ev := fmt.Sprintf("EV%02d", i)
			env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": ev, "eventName": ev})
			email := fmt.Sprintf("g%02d@example.org", i)
			lead := env.Marketo.AddLead(marketo.Lead{"email": email})
			pin := env.Certain.AddProfile(jobstest.Account, map[string]any{"email": email, "externalKey": fmt.Sprint(lead), "sourceOfProfile": "Marketo"})
			code := env.Certain.AddRegistration(jobstest.Account, ev, pin, map[string]any{"registrationStatusLabel": "Pre-Registered"})
			env.PutJob(t, config.Job{ID: "trig-" + ev, Account: jobstest.Account, Event: ev, Type: config.TypeTriggerCampaign, Name: ev, Enabled: true,
				Schedule: config.Schedule{Interval: config.Duration(time.Hour)}, Params: config.Params{CampaignID: campaignID, ToStatus: "Pre-Registered"}})
			msgs = append(msgs, jobs.NewChange(jobstest.Account, ev, code, "Invited", "Pre-Registered", env.Clock.Now()))
		}
		tr := &jobs.Trigger{Store: env.Store, Now: env.Clock.Now, Groups: groups,
			Connector: jobstest.StaticConnector{Clients: env.Clients, Account: jobstest.Account}}
		for i, err := range tr.Handle(context.Background(), msgs) {
			if err != nil {
				t.Fatalf("groups %d: change %d: %v", groups, i, err)
			}
		}
		requested := map[int]int{}
		for _, r := range env.Marketo.CampaignRequests() {
			for _, id := range r.LeadIDs {
				requested[id]++
			}
		}
		if len(requested) != 12 {
			t.Fatalf("groups %d: %d leads requested, want the 12 changes' leads", groups, len(requested))
		}
		for id, n := range requested {
			if n != 1 {
				t.Errorf("groups %d: lead %d requested %d times", groups, id, n)
			}
		}
		for i := range 12 {
			runs, _ := env.Store.ListRuns(context.Background(), fmt.Sprintf("trig-EV%02d", i), 5)
			if len(runs) != 1 || runs[0].Counts[store.OutcomeRequested] != 1 {
				t.Errorf("groups %d: runs of EV%02d %+v, want one with one requested", groups, i, runs)
			}
		}
		peak[groups] = env.Certain.LimitStats().PeakInFlight[jobstest.Account]
	}
	if peak[1] != 1 || peak[12] < 4 {
		t.Fatalf("Certain's peak calls in flight: %d with 1 group at a time, %d with 12; want 1 and at least 4", peak[1], peak[12])
	}
}
