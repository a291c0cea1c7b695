package jobs_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// newTriggerEnvWith is newTriggerEnv with jobstest options (a connection
// setting, say).
func newTriggerEnvWith(t *testing.T, opts ...jobstest.Option) *triggerEnv {
	t.Helper()
	env := jobstest.New(t, opts...)
	env.Marketo.AddCampaign(marketotest.Campaign{ID: campaignID, Name: "Registered", Type: "trigger", Active: true, Requestable: true})
	env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": syncEvent, "eventName": "Harbour Summit"})
	return &triggerEnv{Env: env, trigger: &jobs.Trigger{Store: env.Store, Now: env.Clock.Now,
		Connector: jobstest.StaticConnector{Clients: env.Clients, Account: jobstest.Account}}}
}

// lastRun is the newest run of a job.
func lastRun(t *testing.T, env *jobstest.Env, jobID string) store.Run {
	t.Helper()
	runs, err := env.Store.ListRuns(context.Background(), jobID, 1)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs of %s: %v %v", jobID, runs, err)
	}
	return runs[0]
}

// requestedLeads is every lead id the campaign was requested for.
func requestedLeads(env *jobstest.Env) []int {
	var ids []int
	for _, r := range env.Marketo.CampaignRequests() {
		ids = append(ids, r.LeadIDs...)
	}
	slices.Sort(ids)
	return ids
}

// A stored Marketo id whose lead was merged away (or deleted) is found out
// before the campaign is requested: the batch's stored ids are checked with
// one Get Leads by filterType=id, the lead is found by e-mail (or created),
// the new id is written back, and the run counts and names the healing. A
// live stored id is used as it is.
func TestTriggerHealsStaleMarketoIDBeforeRequest(t *testing.T) {
	env := newTriggerEnv(t, false)
	ctx := context.Background()
	loser := env.Marketo.AddLead(marketo.Lead{"email": "lena.ortiz@example.net"})
	winner := env.Marketo.AddLead(marketo.Lead{"email": "lena.ortiz@example.net"})
	pinMerged, merged := seedReg(env.Env, map[string]any{"email": "lena.ortiz@example.net", "externalKey": fmt.Sprint(loser), "sourceOfProfile": "Marketo"}, "Pre-Registered")
	gone := env.Marketo.AddLead(marketo.Lead{"email": "yu.chen@example.com"})
	pinGone, deleted := seedReg(env.Env, map[string]any{"email": "yu.chen@example.com", "externalKey": fmt.Sprint(gone), "sourceOfProfile": "Marketo"}, "Pre-Registered")
	live := env.Marketo.AddLead(marketo.Lead{"email": "ana@example.org"})
	pinLive, linked := seedReg(env.Env, map[string]any{"email": "ana@example.org", "externalKey": fmt.Sprint(live), "sourceOfProfile": "Marketo"}, "Pre-Registered")
	env.Marketo.MergeLeads(winner, loser)
	env.Marketo.DeleteLead(gone)
	env.PutJob(t, triggerJob("trig-stale", nil))

	from := len(env.Marketo.Calls())
	noErrors(t, env.trigger.Handle(ctx, []jobs.ChangeMessage{
		change(env.Env, merged, "Invited", "Pre-Registered"), change(env.Env, deleted, "Invited", "Pre-Registered"), change(env.Env, linked, "Invited", "Pre-Registered")}))

	created := env.Marketo.LeadsByEmail("yu.chen@example.com")
	if len(created) != 1 {
		t.Fatalf("leads of the deleted lead's e-mail: %v, want one created", created)
	}
	want := []int{live, winner, created[0].ID()}
	slices.Sort(want)
	if got := requestedLeads(env.Env); !slices.Equal(got, want) {
		t.Fatalf("campaign requested for %v, want %v (the live id, the merge winner, the lead created for the deleted one)", got, want)
	}
	if p := profileByPIN(t, env.Env, pinMerged); p["externalKey"] != fmt.Sprint(winner) || p["sourceOfProfile"] != "Marketo" {
		t.Errorf("merged profile not healed: %v", p)
	}
	if p := profileByPIN(t, env.Env, pinGone); p["externalKey"] != fmt.Sprint(created[0].ID()) {
		t.Errorf("deleted lead's profile not healed: %v", p)
	}
	if p := profileByPIN(t, env.Env, pinLive); p["externalKey"] != fmt.Sprint(live) {
		t.Errorf("live profile changed: %v", p)
	}
	checks := 0
	for _, c := range env.Marketo.Calls()[from:] {
		if c.FilterType == "id" {
			checks++
		}
	}
	if checks != 1 {
		t.Errorf("%d Get Leads by filterType=id calls, want one for the batch's three stored ids", checks)
	}
	run := lastRun(t, env.Env, "trig-stale")
	if run.Counts[jobs.CountStaleIdsHealed] != 2 || run.Counts[jobs.CountStaleIds] != 2 || run.Counts[store.OutcomeRequested] != 3 {
		t.Errorf("run counts %v, want 3 requested, 2 stale ids found and healed", run.Counts)
	}
	outs := outcomesByKey(t, env.Env, run.ID)
	for code, old := range map[string]int{merged: loser, deleted: gone} {
		if o := outs[code]; o.Outcome != store.OutcomeRequested || !strings.Contains(o.Reason, fmt.Sprintf("stored Marketo id %d no longer exists", old)) {
			t.Errorf("outcome of %s: %+v, want requested with the stale id named", code, o)
		}
	}
}

// "Populated" is External Profile ID set and Source of Profile = Marketo.
// Every other profile has its lead found by e-mail or created, and its
// campaign fires: another system's id stays unless the connection's
// overwriteForeignExternalIds says otherwise (the outcome says so); an id
// with a blank Source or Source Import is overwritten (rule C).
func TestTriggerFindsOrCreatesLeadUnlessLinkedToMarketo(t *testing.T) {
	for _, overwrite := range []bool{false, true} {
		t.Run(fmt.Sprintf("overwriteForeignExternalIds=%v", overwrite), func(t *testing.T) {
			env := newTriggerEnvWith(t, jobstest.WithConnection(func(c *config.Connection) { c.OverwriteForeignExternalIDs = overwrite }))
			ctx := context.Background()
			pinSF, sf := seedReg(env.Env, map[string]any{"email": "sf@example.org", "externalKey": "00Q5e00000AbCdE", "sourceOfProfile": "Salesforce"}, "Pre-Registered")
			known := env.Marketo.AddLead(marketo.Lead{"email": "web@example.org"})
			pinWeb, web := seedReg(env.Env, map[string]any{"email": "web@example.org", "externalKey": "W-7", "sourceOfProfile": "Web"}, "Pre-Registered")
			pinBlank, blank := seedReg(env.Env, map[string]any{"email": "blank@example.org", "externalKey": "12345"}, "Pre-Registered")
			imported := env.Marketo.AddLead(marketo.Lead{"email": "imp@example.org"})
			pinImp, imp := seedReg(env.Env, map[string]any{"email": "imp@example.org", "externalKey": "777", "sourceOfProfile": "Import"}, "Pre-Registered")
			env.PutJob(t, triggerJob("trig-foc", nil))

			var msgs []jobs.ChangeMessage
			for _, code := range []string{sf, web, blank, imp} {
				msgs = append(msgs, change(env.Env, code, "Invited", "Pre-Registered"))
			}
			noErrors(t, env.trigger.Handle(ctx, msgs))

			sfLeads, blankLeads := env.Marketo.LeadsByEmail("sf@example.org"), env.Marketo.LeadsByEmail("blank@example.org")
			if len(sfLeads) != 1 || len(blankLeads) != 1 {
				t.Fatalf("created leads: %v %v, want one each", sfLeads, blankLeads)
			}
			want := []int{sfLeads[0].ID(), known, blankLeads[0].ID(), imported}
			slices.Sort(want)
			if got := requestedLeads(env.Env); !slices.Equal(got, want) {
				t.Fatalf("campaign requested for %v, want %v: every change fires", got, want)
			}
			for pin, wantExt := range map[string]string{pinSF: "00Q5e00000AbCdE", pinWeb: "W-7"} {
				p := profileByPIN(t, env.Env, pin)
				if overwrite {
					wantExt = map[string]string{pinSF: fmt.Sprint(sfLeads[0].ID()), pinWeb: fmt.Sprint(known)}[pin]
				}
				if p["externalKey"] != wantExt {
					t.Errorf("profile %s: External Profile ID %v, want %s", pin, p["externalKey"], wantExt)
				}
			}
			for pin, id := range map[string]int{pinBlank: blankLeads[0].ID(), pinImp: imported} {
				if p := profileByPIN(t, env.Env, pin); p["externalKey"] != fmt.Sprint(id) || p["sourceOfProfile"] != "Marketo" {
					t.Errorf("profile %s (blank Source or Import): %v, want External Profile ID %d, Source Marketo", pin, p, id)
				}
			}
			run := lastRun(t, env.Env, "trig-foc")
			outs := outcomesByKey(t, env.Env, run.ID)
			if o := outs[sf]; o.Outcome != store.OutcomeRequested || overwrite == strings.Contains(o.Reason, "overwriteForeignExternalIds is off") {
				t.Errorf("Salesforce profile outcome %+v", o)
			}
			if wantKept := map[bool]int{false: 2, true: 0}[overwrite]; run.Counts[jobs.CountForeignIdsKept] != wantKept || run.Counts[store.OutcomeRequested] != 4 {
				t.Errorf("run counts %v, want 4 requested and %d foreign ids kept", run.Counts, wantKept)
			}
		})
	}
}
