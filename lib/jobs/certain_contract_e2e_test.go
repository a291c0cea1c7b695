package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// contractEnv is a sync-leads harness on a Certain simulator built with
// opts and a connection edited by conn, with n registrations in pages of 3.
func contractEnv(t *testing.T, n int, opts []certaintest.Option, conn func(*config.Connection)) (*jobstest.Env, []string) {
	t.Helper()
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads), jobstest.WithCertain(opts...),
		jobstest.WithConnection(func(c *config.Connection) {
			c.PageSize = 3
			if conn != nil {
				conn(c)
			}
		}))
	emails := make([]string, n)
	for i := range n {
		emails[i] = fmt.Sprintf("attendee%02d@example.org", i)
		seedReg(env, map[string]any{"email": emails[i], "firstName": fmt.Sprint("A", i)}, "Attended")
		env.Clock.Advance(time.Minute)
	}
	env.PutJob(t, syncJob("sync", "Attended"))
	return env, emails
}

// TestSyncLeadsWrongPagingOnLenientTenantFails: a tenant that pages by page
// number from 1 and answers start_index=0 as its first page, read with the
// default offset0. The run ends failed with the cause named, and nothing is
// written to Marketo or Certain; with the setting the error names, the same
// run sends every lead.
func TestSyncLeadsWrongPagingOnLenientTenantFails(t *testing.T) {
	opts := []certaintest.Option{certaintest.WithPagingMode(certain.PagingPage1), certaintest.WithLenient()}
	env, emails := contractEnv(t, 7, opts, func(c *config.Connection) { c.PagingMode = certain.PagingOffset0 })
	before := env.Certain.Profiles(jobstest.Account)
	run := env.RunJob(t, context.Background(), "sync")
	if run.Outcome != store.RunFailed {
		t.Fatalf("outcome %s (%s), want failed", run.Outcome, run.Error)
	}
	for _, want := range []string{"Certain echoed startingIndex 1 for start_index 0", "this tenant pages by page number", "set pagingMode: page1"} {
		if !strings.Contains(run.Error, want) {
			t.Errorf("run error %q lacks %q", run.Error, want)
		}
	}
	if n := len(env.Marketo.Leads()); n != 0 {
		t.Errorf("Marketo holds %d leads after the failed run, want 0", n)
	}
	if after := env.Certain.Profiles(jobstest.Account); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("Certain profiles changed by the failed run")
	}

	// Fixed as the error says: every lead, once.
	fixed, _ := contractEnv(t, 7, opts, func(c *config.Connection) { c.PagingMode = certain.PagingPage1 })
	run = fixed.RunJob(t, context.Background(), "sync")
	if run.Outcome != store.RunSucceeded || run.Counts[store.OutcomeCreated] != 7 {
		t.Fatalf("with pagingMode page1: %s %v %s", run.Outcome, run.Counts, run.Error)
	}
	assertLeads(t, fixed, emails)
}

// TestJobsAgainstEveryPagingVariant runs sync-leads and the change detector
// against every paging a tenant could present (mode, lenient or strict
// about start_index 0, a silent page cap) with every configured mode: the
// run sends every lead when they agree, and otherwise fails naming the
// tenant's mode, having sent only real leads, each once.
func TestJobsAgainstEveryPagingVariant(t *testing.T) {
	modes := []string{certain.PagingOffset0, certain.PagingOffset1, certain.PagingPage1}
	for _, server := range modes {
		for _, lenient := range []bool{false, true} {
			for _, pageCap := range []int{0, 2} {
				if lenient && server == certain.PagingOffset0 {
					continue
				}
				for _, conf := range modes {
					name := fmt.Sprintf("server=%s,lenient=%v,cap=%d/conf=%s", server, lenient, pageCap, conf)
					t.Run(name, func(t *testing.T) { checkJobsVariant(t, server, lenient, pageCap, conf) })
				}
			}
		}
	}
}

func checkJobsVariant(t *testing.T, server string, lenient bool, pageCap int, conf string) {
	opts := []certaintest.Option{certaintest.WithPagingMode(server)}
	if lenient {
		opts = append(opts, certaintest.WithLenient())
	}
	if pageCap > 0 {
		opts = append(opts, certaintest.WithPageSizeCap(pageCap))
	}
	env, emails := contractEnv(t, 7, opts, func(c *config.Connection) { c.PagingMode = conf })
	run := env.RunJob(t, context.Background(), "sync")
	// The detector over the same tenant, as a baseline read.
	env.PutJob(t, config.Job{ID: "trig", Account: jobstest.Account, Event: syncEvent, Type: config.TypeTriggerCampaign, Name: "t",
		Enabled: true, Schedule: config.Schedule{Interval: config.Duration(time.Hour)}, Params: config.Params{CampaignID: 1, ToStatus: "Attended"}})
	d := &jobs.Detector{Store: env.Store, Sender: &queue{failAfter: -1}, Now: env.Clock.Now,
		Connector: jobstest.StaticConnector{Clients: env.Clients, Account: jobstest.Account}}
	res, tickErr := d.Tick(context.Background())
	if conf == server {
		if run.Outcome != store.RunSucceeded || run.Counts[store.OutcomeCreated] != 7 {
			t.Fatalf("sync-leads: %s %v %s, want 7 created", run.Outcome, run.Counts, run.Error)
		}
		assertLeads(t, env, emails)
		if tickErr != nil || len(res.Scopes) != 1 || res.Scopes[0].Read != 7 {
			t.Fatalf("detector: %+v, %v; want 7 registrations read", res, tickErr)
		}
		return
	}
	want := "set pagingMode: " + server
	if run.Outcome != store.RunFailed || !strings.Contains(run.Error, want) {
		t.Errorf("sync-leads: %s %q, want failed naming %q", run.Outcome, run.Error, want)
	}
	if tickErr == nil || !errors.Is(tickErr, certain.ErrContract) || !strings.Contains(tickErr.Error(), want) {
		t.Errorf("detector: %v, want a contract error naming %q", tickErr, want)
	}
	if _, have, _ := env.Store.GetWatermark(context.Background(), jobs.DetectorScope(jobstest.Account, syncEvent)); have {
		t.Errorf("detector set a watermark from a failed read")
	}
	// Whatever was sent before the mismatch showed is real, and sent once.
	seen := map[string]bool{}
	for _, l := range env.Marketo.Leads() {
		e, _ := l["email"].(string)
		if seen[e] || !slices.Contains(emails, e) {
			t.Errorf("Marketo lead %q is unknown or duplicated", e)
		}
		seen[e] = true
	}
}

func assertLeads(t *testing.T, env *jobstest.Env, emails []string) {
	t.Helper()
	var got []string
	for _, l := range env.Marketo.Leads() {
		e, _ := l["email"].(string)
		got = append(got, e)
	}
	slices.Sort(got)
	if !slices.Equal(got, emails) {
		t.Errorf("Marketo leads %v, want %v", got, emails)
	}
}

// A job or a detector whose event Certain does not know fails with a
// configuration error naming it, rather than succeeding with nothing read.
func TestUnknownEventIsAConfigurationError(t *testing.T) {
	env, _ := contractEnv(t, 2, nil, nil)
	j := syncJob("typo", "Attended")
	j.Event = "HS62"
	env.PutJob(t, j)
	run := env.RunJob(t, context.Background(), "typo")
	if run.Outcome != store.RunFailed || !strings.Contains(run.Error, `event "HS62" not found`) || !strings.Contains(run.Error, "configuration error") {
		t.Errorf("run %s %q, want failed with a configuration error naming the event", run.Outcome, run.Error)
	}
	if env.Marketo.CountPath("/rest/v1/leads.json") != 0 {
		t.Error("Marketo was written")
	}
	env.PutJob(t, config.Job{ID: "trig", Account: jobstest.Account, Event: "HS62", Type: config.TypeTriggerCampaign, Name: "t",
		Enabled: true, Schedule: config.Schedule{Interval: config.Duration(time.Hour)}, Params: config.Params{CampaignID: 1, ToStatus: "Attended"}})
	d := &jobs.Detector{Store: env.Store, Sender: &queue{failAfter: -1}, Now: env.Clock.Now,
		Connector: jobstest.StaticConnector{Clients: env.Clients, Account: jobstest.Account}}
	_, err := d.Tick(context.Background())
	if !errors.Is(err, jobs.ErrConfig) || !strings.Contains(err.Error(), `event "HS62" not found`) {
		t.Errorf("detector: %v, want a configuration error naming the event", err)
	}
	if _, have, _ := env.Store.GetWatermark(context.Background(), jobs.DetectorScope(jobstest.Account, "HS62")); have {
		t.Error("detector stored a watermark for an unknown event")
	}
}

// The detector never seeds a watermark from this product's clock: for an
// event without registrations it starts from the beginning, so a
// registration whose Certain dateModified lies before the product's "now"
// (Certain's clock or zone behind) is still sent as a change.
func TestDetectorSeedsFromTheBeginning(t *testing.T) {
	env := jobstest.New(t)
	env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": syncEvent})
	env.PutJob(t, config.Job{ID: "trig", Account: jobstest.Account, Event: syncEvent, Type: config.TypeTriggerCampaign, Name: "t",
		Enabled: true, Schedule: config.Schedule{Interval: config.Duration(time.Hour)}, Params: config.Params{CampaignID: 1, ToStatus: "Attended"}})
	q := &queue{failAfter: -1}
	productNow := env.Clock.Now().Add(6 * time.Hour) // the product's clock runs ahead of Certain's
	d := &jobs.Detector{Store: env.Store, Sender: q, Now: func() time.Time { return productNow },
		Connector: jobstest.StaticConnector{Clients: env.Clients, Account: jobstest.Account}}
	ctx := context.Background()
	if _, err := d.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	wm, have, _ := env.Store.GetWatermark(ctx, jobs.DetectorScope(jobstest.Account, syncEvent))
	if !have || !wm.IsZero() {
		t.Fatalf("watermark %v (have %v), want the beginning", wm, have)
	}
	env.Clock.Advance(time.Minute)
	pin := env.Certain.AddProfile(jobstest.Account, map[string]any{"email": "late@example.org"})
	code := env.Certain.AddRegistration(jobstest.Account, syncEvent, pin, map[string]any{"registrationStatusLabel": "Attended"})
	res, err := d.Tick(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := q.take()
	if len(got) != 1 || got[0].RegistrationCode != code || got[0].NewStatus != "Attended" {
		t.Fatalf("changes %+v (%+v), want the new registration", got, res)
	}
	if wm, _, _ := env.Store.GetWatermark(ctx, jobs.DetectorScope(jobstest.Account, syncEvent)); !wm.Equal(env.Clock.Now().Truncate(time.Second)) {
		t.Errorf("watermark %v, want the registration's dateModified %v (Certain's clock)", wm, env.Clock.Now())
	}
}
