package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

const campaignID = 5150

type triggerEnv struct {
	*jobstest.Env
	trigger *jobs.Trigger
}

func newTriggerEnv(t *testing.T, dynamo bool) *triggerEnv {
	t.Helper()
	var opts []jobstest.Option
	if dynamo {
		opts = append(opts, jobstest.WithDynamo())
	}
	env := jobstest.New(t, opts...)
	env.Marketo.AddCampaign(marketotest.Campaign{ID: campaignID, Name: "Registered", Type: "trigger", Active: true, Requestable: true})
	env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": syncEvent, "eventName": "Harbour Summit"})
	return &triggerEnv{Env: env, trigger: &jobs.Trigger{Store: env.Store, Now: env.Clock.Now,
		Connector: jobstest.StaticConnector{Clients: env.Clients, Account: jobstest.Account}}}
}

func triggerJob(id string, edit func(*config.Params)) config.Job {
	p := config.Params{CampaignID: campaignID, ToStatus: "Pre-Registered", FromStatus: "Invited", Tokens: []config.TokenSpec{
		{Name: "{{my.EventName}}", Value: "Harbour Summit 2026"}, {Name: "{{my.Company}}", Field: "organization"},
	}}
	if edit != nil {
		edit(&p)
	}
	return config.Job{ID: id, Account: jobstest.Account, Event: syncEvent, Type: config.TypeTriggerCampaign, Name: "trigger",
		Enabled: true, Schedule: config.Schedule{Interval: config.Duration(time.Hour)}, Params: p}
}

func change(env *jobstest.Env, code, from, to string) jobs.ChangeMessage {
	return jobs.NewChange(jobstest.Account, syncEvent, code, from, to, env.Clock.Now())
}

func noErrors(t *testing.T, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
}

func TestTriggerEndToEnd(t *testing.T) {
	for _, dyn := range []bool{false, true} {
		t.Run(map[bool]string{false: "memstore", true: "dynamodb"}[dyn], func(t *testing.T) {
			env := newTriggerEnv(t, dyn)
			ctx := context.Background()
			lead := env.Marketo.AddLead(marketo.Lead{"email": "lena.ortiz@example.net"})
			_, known := seedReg(env.Env, map[string]any{"email": "lena.ortiz@example.net", "organization": "Northwind",
				"externalKey": fmt.Sprint(lead), "sourceOfProfile": "Marketo"}, "Pre-Registered")
			pinNew, fresh := seedReg(env.Env, map[string]any{"email": "new@example.org", "organization": "Contoso"}, "Pre-Registered")
			env.PutJob(t, triggerJob("trig-1", nil))
			env.PutJob(t, triggerJob("trig-other-status", func(p *config.Params) { p.ToStatus = "Attended"; p.FromStatus = "" }))

			// A status change becomes exactly one campaign request with the
			// right lead id and tokens.
			msg := change(env.Env, known, "Invited", "Pre-Registered")
			noErrors(t, env.trigger.Handle(ctx, []jobs.ChangeMessage{msg}))
			reqs := env.Marketo.CampaignRequests()
			want := []marketo.Token{{Name: "{{my.EventName}}", Value: "Harbour Summit 2026"}, {Name: "{{my.Company}}", Value: "Northwind"}}
			if len(reqs) != 1 || reqs[0].CampaignID != campaignID || !slices.Equal(reqs[0].LeadIDs, []int{lead}) || !slices.Equal(reqs[0].Tokens, want) {
				t.Fatalf("campaign requests %+v", reqs)
			}

			// The same message twice (and in one batch) triggers once.
			noErrors(t, env.trigger.Handle(ctx, []jobs.ChangeMessage{msg, msg}))
			if n := len(env.Marketo.CampaignRequests()); n != 1 {
				t.Fatalf("%d campaign requests after redelivery, want 1", n)
			}

			// A registration without a Marketo id: the lead is created, its id
			// written back, then requested.
			noErrors(t, env.trigger.Handle(ctx, []jobs.ChangeMessage{change(env.Env, fresh, "Invited", "Pre-Registered")}))
			created := env.Marketo.LeadsByEmail("new@example.org")
			reqs = env.Marketo.CampaignRequests()
			if len(created) != 1 || len(reqs) != 2 || !slices.Equal(reqs[1].LeadIDs, []int{created[0].ID()}) {
				t.Fatalf("leads %v, requests %+v", created, reqs)
			}
			if p := profileByPIN(t, env.Env, pinNew); p["externalKey"] != fmt.Sprint(created[0].ID()) || p["sourceOfProfile"] != "Marketo" {
				t.Fatalf("write-back %v", p)
			}
			// A change from another status does not match the from-status.
			noErrors(t, env.trigger.Handle(ctx, []jobs.ChangeMessage{change(env.Env, known, "New", "Pre-Registered")}))
			if n := len(env.Marketo.CampaignRequests()); n != 2 {
				t.Fatalf("from-status mismatch triggered: %d requests", n)
			}
			runs, err := env.Store.ListRuns(ctx, "trig-1", 10)
			if err != nil || len(runs) == 0 || runs[len(runs)-1].Counts[store.OutcomeRequested] != 1 || runs[0].Trigger != "sqs" {
				t.Fatalf("runs %+v, %v", runs, err)
			}
		})
	}
}

// TestTrigger250Changes: 250 changes for one campaign with identical tokens
// make 3 Request Campaign calls (100 leads per call).
func TestTrigger250Changes(t *testing.T) {
	env := newTriggerEnv(t, false)
	ctx := context.Background()
	env.PutJob(t, triggerJob("trig-bulk", func(p *config.Params) { p.Tokens = p.Tokens[:1] }))
	var msgs []jobs.ChangeMessage
	for i := range 250 {
		id := env.Marketo.AddLead(marketo.Lead{"email": fmt.Sprintf("b%03d@example.org", i)})
		_, code := seedReg(env.Env, map[string]any{"email": fmt.Sprintf("b%03d@example.org", i), "externalKey": fmt.Sprint(id), "sourceOfProfile": "Marketo"}, "Pre-Registered")
		msgs = append(msgs, change(env.Env, code, "Invited", "Pre-Registered"))
	}
	noErrors(t, env.trigger.Handle(ctx, msgs))
	reqs := env.Marketo.CampaignRequests()
	n := 0
	for _, r := range reqs {
		n += len(r.LeadIDs)
	}
	if len(reqs) != 3 || n != 250 || env.Marketo.CountPath(fmt.Sprintf("/rest/v1/campaigns/%d/trigger.json", campaignID)) != 3 {
		t.Fatalf("%d requests for %d leads, want 3 for 250", len(reqs), n)
	}
}

// TestTriggerConcurrentAndFailedDeliveries: an in-progress claim makes a
// concurrent delivery retry; a failed request releases the claim so the
// redelivery triggers, once.
func TestTriggerConcurrentAndFailedDeliveries(t *testing.T) {
	env := newTriggerEnv(t, false)
	ctx := context.Background()
	lead := env.Marketo.AddLead(marketo.Lead{"email": "c@example.org"})
	_, code := seedReg(env.Env, map[string]any{"email": "c@example.org", "externalKey": fmt.Sprint(lead), "sourceOfProfile": "Marketo"}, "Pre-Registered")
	env.PutJob(t, triggerJob("trig-c", nil))
	msg := change(env.Env, code, "Invited", "Pre-Registered")

	// Another delivery holds the claim.
	key := jobs.ChangeKey("trig-c", msg)
	if _, err := env.Store.BeginIdem(ctx, key, env.Clock.Now().Add(time.Minute), time.Hour, env.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	errs := env.trigger.Handle(ctx, []jobs.ChangeMessage{msg})
	if !errors.Is(errs[0], jobs.ErrChangeInProgress) || len(env.Marketo.CampaignRequests()) != 0 {
		t.Fatalf("in-progress: %v, %d requests", errs[0], len(env.Marketo.CampaignRequests()))
	}
	// The holder died: after its lock expires, the redelivery proceeds, but
	// Marketo fails the request: the message is reported failed.
	env.Clock.Advance(2 * time.Minute)
	env.Marketo.FailNext(fmt.Sprintf("/rest/v1/campaigns/%d/trigger.json", campaignID), 1, "1013")
	errs = env.trigger.Handle(ctx, []jobs.ChangeMessage{msg})
	if errs[0] == nil {
		t.Fatal("failed campaign request reported as done")
	}
	// The next delivery triggers once.
	noErrors(t, env.trigger.Handle(ctx, []jobs.ChangeMessage{msg}))
	noErrors(t, env.trigger.Handle(ctx, []jobs.ChangeMessage{msg}))
	if n := len(env.Marketo.CampaignRequests()); n != 1 {
		t.Fatalf("%d campaign requests, want 1", n)
	}
}

// TestTriggerRunsSyncLeadsFirst: with the option, the lead is created or
// updated with the mapped fields before the campaign is requested.
func TestTriggerRunsSyncLeadsFirst(t *testing.T) {
	env := newTriggerEnv(t, false)
	ctx := context.Background()
	old := env.Marketo.AddLead(marketo.Lead{"email": "s@example.org", "firstName": "Old", "company": "Keep"})
	_, code := seedReg(env.Env, map[string]any{"email": "s@example.org", "firstName": "Sara"}, "Pre-Registered")
	env.PutJob(t, triggerJob("trig-sync", func(p *config.Params) { p.RunSyncLeads = true }))
	noErrors(t, env.trigger.Handle(ctx, []jobs.ChangeMessage{change(env.Env, code, "Invited", "Pre-Registered")}))
	l := env.Marketo.LeadsByEmail("s@example.org")
	reqs := env.Marketo.CampaignRequests()
	if len(l) != 1 || l[0]["firstName"] != "Sara" || l[0]["company"] != "Keep" {
		t.Fatalf("lead after pre-sync %v", l)
	}
	if len(reqs) != 1 || !slices.Equal(reqs[0].LeadIDs, []int{old}) {
		t.Fatalf("requests %+v", reqs)
	}
	// The pre-sync gave the id; no lookup by email was needed.
	if n := env.Marketo.CountPath("/rest/v1/leads.json"); n != 1 {
		t.Fatalf("%d calls to leads.json, want 1 (the sync)", n)
	}
}

// TestTriggerFailedCallRetriesOnlyItsLeads: when one Request Campaign call
// of a batch fails, only its changes are redelivered, and every lead is
// requested exactly once in the end.
func TestTriggerFailedCallRetriesOnlyItsLeads(t *testing.T) {
	env := newTriggerEnv(t, false)
	ctx := context.Background()
	env.PutJob(t, triggerJob("trig-part", func(p *config.Params) { p.Tokens = nil }))
	var msgs []jobs.ChangeMessage
	for i := range 250 {
		id := env.Marketo.AddLead(marketo.Lead{"email": fmt.Sprintf("f%03d@example.org", i)})
		_, code := seedReg(env.Env, map[string]any{"email": fmt.Sprintf("f%03d@example.org", i), "externalKey": fmt.Sprint(id), "sourceOfProfile": "Marketo"}, "Pre-Registered")
		msgs = append(msgs, change(env.Env, code, "Invited", "Pre-Registered"))
	}
	env.Marketo.FailNext(fmt.Sprintf("/rest/v1/campaigns/%d/trigger.json", campaignID), 1, "611")
	env.Marketo.FailNext(fmt.Sprintf("/rest/v1/campaigns/%d/trigger.json", campaignID), 3, "611") // the client retries 611 a few times
	errs := env.trigger.Handle(ctx, msgs)
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	if failed != 100 {
		t.Fatalf("%d messages failed, want the 100 of the failed call", failed)
	}
	noErrors(t, env.trigger.Handle(ctx, msgs)) // SQS redelivers (here: everything)
	count := map[int]int{}
	for _, r := range env.Marketo.CampaignRequests() {
		for _, id := range r.LeadIDs {
			count[id]++
		}
	}
	if len(count) != 250 {
		t.Fatalf("%d leads requested, want 250", len(count))
	}
	for id, n := range count {
		if n != 1 {
			t.Fatalf("lead %d requested %d times", id, n)
		}
	}
}

// TestTriggerUnknownRegistrationAndNoJob: a change for a registration that
// no longer exists is settled as skipped (not retried forever), and a change
// no job matches is done without any Marketo call.
func TestTriggerUnknownRegistrationAndNoJob(t *testing.T) {
	env := newTriggerEnv(t, false)
	ctx := context.Background()
	env.PutJob(t, triggerJob("trig-u", nil))
	gone := change(env.Env, "R-999999", "Invited", "Pre-Registered")
	other := change(env.Env, "R-999998", "Invited", "Cancelled")
	noErrors(t, env.trigger.Handle(ctx, []jobs.ChangeMessage{gone, other}))
	if n := len(env.Marketo.Calls()); n != 0 {
		t.Fatalf("%d Marketo calls", n)
	}
	runs, err := env.Store.ListRuns(ctx, "trig-u", 1)
	if err != nil || len(runs) != 1 || runs[0].Counts[store.OutcomeSkipped] != 1 {
		t.Fatalf("runs %+v, %v", runs, err)
	}
	// Settled: a redelivery does not read Certain again.
	before := env.Certain.CountCalls("GET", "Registration")
	noErrors(t, env.trigger.Handle(ctx, []jobs.ChangeMessage{gone}))
	if env.Certain.CountCalls("GET", "Registration") != before {
		t.Fatal("settled change processed again")
	}
}
