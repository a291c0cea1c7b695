package jobs_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// Two registrations of one lead (a profile linked to it, and one whose
// e-mail differs only in case, with no id, found by e-mail) that both
// change request the campaign once per change, each with its own
// registration's tokens, and redeliveries add nothing. This is what the
// reliability world's generated data set of seed 11 holds, and what its
// invariants reported as a duplicate while they allowed one request per
// lead; whether the person runs through the flow twice is the campaign's
// qualification rule. Two such changes in one batch with the same token
// values are one request naming the lead once, and both are requested.
func TestTriggerTwoRegistrationsOfOneLeadRequestOncePerChange(t *testing.T) {
	env := newTriggerEnv(t, false)
	ctx := context.Background()
	lead := env.Marketo.AddLead(marketo.Lead{"email": "noor.twin@example.net"})
	_, linked := seedReg(env.Env, map[string]any{"email": "noor.twin@example.net", "organization": "Northwind",
		"externalKey": fmt.Sprint(lead), "sourceOfProfile": "Marketo"}, "Pre-Registered")
	pin, found := seedReg(env.Env, map[string]any{"email": "NOOR.TWIN@EXAMPLE.NET", "organization": "Stark Metals",
		"sourceOfProfile": "Salesforce"}, "Pre-Registered")
	env.PutJob(t, triggerJob("trig-twins", nil))
	msgs := []jobs.ChangeMessage{change(env.Env, linked, "Invited", "Pre-Registered"), change(env.Env, found, "Invited", "Pre-Registered")}

	for range 2 { // the second time: a redelivery of both
		noErrors(t, env.trigger.Handle(ctx, msgs))
	}
	reqs := env.Marketo.CampaignRequests()
	var companies []string
	for _, r := range reqs {
		if r.CampaignID != campaignID || !slices.Equal(r.LeadIDs, []int{lead}) {
			t.Errorf("request %+v: want campaign %d for lead %d alone", r, campaignID, lead)
		}
		for _, tok := range r.Tokens {
			if tok.Name == "{{my.Company}}" {
				companies = append(companies, tok.Value)
			}
		}
	}
	slices.Sort(companies)
	if len(reqs) != 2 || !slices.Equal(companies, []string{"Northwind", "Stark Metals"}) {
		t.Fatalf("%d requests with companies %v, want 2: one per change, each with its registration's token", len(reqs), companies)
	}
	if p := profileByPIN(t, env.Env, pin); p["externalKey"] != fmt.Sprint(lead) {
		t.Errorf("profile found by e-mail: %v, want External Profile ID %d written back", p, lead)
	}
	if n := len(env.Marketo.LeadsByEmail("noor.twin@example.net")); n != 1 {
		t.Errorf("%d leads with the address, want the one seeded", n)
	}

	// The same tokens (both companies Northwind): one request, the lead
	// named once, both changes requested.
	env.Clock.Advance(time.Minute) // the newest run is this batch's
	_, a := seedReg(env.Env, map[string]any{"email": "noor.twin@example.net", "organization": "Northwind",
		"externalKey": fmt.Sprint(lead), "sourceOfProfile": "Marketo"}, "Pre-Registered")
	_, b := seedReg(env.Env, map[string]any{"email": "Noor.Twin@Example.net", "organization": "Northwind",
		"externalKey": fmt.Sprint(lead), "sourceOfProfile": "Marketo"}, "Pre-Registered")
	noErrors(t, env.trigger.Handle(ctx, []jobs.ChangeMessage{change(env.Env, a, "Invited", "Pre-Registered"), change(env.Env, b, "Invited", "Pre-Registered")}))
	if reqs = env.Marketo.CampaignRequests()[2:]; len(reqs) != 1 || !slices.Equal(reqs[0].LeadIDs, []int{lead}) {
		t.Errorf("requests %+v: want one naming lead %d once", reqs, lead)
	}
	runs, err := env.Store.ListRuns(ctx, "trig-twins", 10)
	if err != nil || len(runs) == 0 || runs[0].Counts[store.OutcomeRequested] != 2 {
		t.Errorf("runs %+v, %v: want the last one with both changes requested", runs, err)
	}
}
