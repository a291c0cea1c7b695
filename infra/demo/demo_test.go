package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
	"github.com/certain-marketo/certain-marketo/lib/testkit/inprocess"
)

// TestDemoFlow runs the demo and checks its effects on the simulators and
// the store, independently of what the demo itself verifies.
func TestDemoFlow(t *testing.T) {
	ctx := context.Background()
	env, err := inprocess.Start(ctx, inprocess.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	leads0 := len(env.Marketo.Leads())

	res, err := Run(ctx, env, nil)
	if err != nil {
		t.Fatalf("demo: %v", err)
	}

	// Every job ran once by schedule tick (sync-leads once more directly),
	// finished, and did the work the data set guarantees.
	wantCreated := map[string]bool{demodata.JobImportLeads: true, demodata.JobImportProfiles: true, demodata.JobSyncLeads: true,
		demodata.JobEngagement: true, demodata.JobInterest: true}
	for _, j := range env.Jobs {
		runs, err := env.Store.ListRuns(ctx, j.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if j.ID == demodata.JobSyncLeads {
			want = 2
		}
		if len(runs) != want {
			t.Errorf("job %s: %d runs, want %d", j.ID, len(runs), want)
			continue
		}
		first := runs[len(runs)-1]
		if first.Outcome != store.RunSucceeded && first.Outcome != store.RunPartial {
			t.Errorf("job %s: outcome %s (%s)", j.ID, first.Outcome, first.Error)
		}
		if wantCreated[j.ID] && first.Counts[store.OutcomeCreated] == 0 {
			t.Errorf("job %s: counts %v, want records created", j.ID, first.Counts)
		}
		if j.Type == config.TypeTriggerCampaign && first.Counts[store.OutcomeRequested] != len(res.Changed) {
			t.Errorf("trigger run counts %v, want %d requested", first.Counts, len(res.Changed))
		}
	}

	// The dry run of import-leads came before the job's first run and said
	// what it then did (Run checks that the simulators saw no write from it).
	planStep, importStep := -1, -1
	for i, st := range res.Steps {
		switch st.Name {
		case "plan import leads (dry run)":
			planStep = i
		case "import leads as registrations":
			importStep = i
		}
	}
	if planStep < 0 || importStep < planStep || res.Plan == nil || !res.Plan.DryRun || res.Steps[planStep].Outcome != "dry run" {
		t.Fatalf("plan step %d, import step %d, plan %+v", planStep, importStep, res.Plan)
	}
	for _, k := range []string{store.OutcomeCreated, store.OutcomeUnchanged, store.OutcomeSkipped, store.OutcomeFailed} {
		if res.Plan.Counts[k] != res.Import.Counts[k] {
			t.Errorf("%s: planned %d, ran %d", k, res.Plan.Counts[k], res.Import.Counts[k])
		}
	}
	if res.Plan.Counts[store.OutcomeCreated] == 0 || len(res.Plan.Records) != 3 {
		t.Errorf("plan counts %v, %d records listed (want 3)", res.Plan.Counts, len(res.Plan.Records))
	}

	// Metrics: what the runs report as created is what Marketo holds.
	for obj, step := range map[string]string{demodata.EngagementObject: "upload engagement metrics", demodata.InterestObject: "upload interest metrics"} {
		s := stepNamed(t, res, step)
		if got := len(env.Marketo.CustomObjectRecords(obj)); got == 0 || got != s.Counts[store.OutcomeCreated] {
			t.Errorf("%s: %d records in Marketo, run reported %d created", obj, got, s.Counts[store.OutcomeCreated])
		}
	}
	if got := len(env.Marketo.Leads()) - leads0; got < res.FirstSync.Counts[store.OutcomeCreated] || got == 0 {
		t.Errorf("%d new Marketo leads, first sync reported %d created", got, res.FirstSync.Counts[store.OutcomeCreated])
	}

	// Typed fields: Marketo holds the profile answers as booleans, numbers
	// and dates, and the answers no boolean fits failed their registrations
	// alone, with a reason naming the field and its type, not the answer.
	kinds := map[string]bool{}
	for _, l := range env.Marketo.Leads() {
		for f, v := range l {
			switch f {
			case "attendedBefore", "sessionsPlanned", "engagementIndex", "memberSince", "lastWebinarAt":
				kinds[fmt.Sprintf("%s:%T", f, v)] = true
			}
		}
	}
	for _, want := range []string{"attendedBefore:bool", "sessionsPlanned:int", "engagementIndex:float64", "memberSince:string", "lastWebinarAt:string"} {
		if !kinds[want] {
			t.Errorf("no lead holds %s (kinds seen %v)", want, kinds)
		}
	}
	failed, err := env.Store.ListOutcomes(ctx, res.FirstSync.RunID, store.OutcomeFailed)
	if err != nil {
		t.Fatal(err)
	}
	typeFailures := 0
	for _, o := range failed {
		if o.Code != "type" {
			continue
		}
		typeFailures++
		if !strings.Contains(o.Reason, `"attendedBefore" (boolean)`) || strings.Contains(o.Reason, demodata.UnfitAnswer) {
			t.Errorf("type failure %+v: want the field and type named, the answer withheld", o)
		}
	}
	if typeFailures == 0 || res.FirstSync.Counts[store.OutcomeFailed] <= typeFailures {
		t.Errorf("first sync: %d type failures of %v; want some, besides the data set's 1007s", typeFailures, res.FirstSync.Counts)
	}

	// The status change: the changed registrations are Pre-Registered in
	// Certain, and exactly their leads got campaign 2001, once each.
	if len(res.Changed) != changeCount {
		t.Fatalf("changed %v, want %d registrations", res.Changed, changeCount)
	}
	ev := env.Data.Events[0].Code
	f := env.Certain.Fields()
	var want []int
	for _, r := range env.Certain.Registrations(env.Data.Account, ev) {
		code := fmt.Sprint(r["registrationCode"])
		if !slices.Contains(res.Changed, code) {
			continue
		}
		if r[f.RegistrationStatus] != demodata.TriggerTo {
			t.Errorf("registration %s has status %v, want %s", code, r[f.RegistrationStatus], demodata.TriggerTo)
		}
		p, _ := r["profile"].(map[string]any)
		id, err := strconv.Atoi(fmt.Sprint(p[f.ExternalID]))
		if err != nil || p[f.Source] != "Marketo" {
			t.Errorf("registration %s: profile %s=%v %s=%v, want a Marketo lead id and source Marketo", code, f.ExternalID, p[f.ExternalID], f.Source, p[f.Source])
		}
		want = append(want, id)
	}
	var got []int
	for _, r := range env.Marketo.CampaignRequests() {
		if r.CampaignID != demodata.CampaignRegistered {
			t.Errorf("campaign %d requested, want only %d", r.CampaignID, demodata.CampaignRegistered)
		}
		got = append(got, r.LeadIDs...)
		if len(r.Tokens) != 3 || r.Tokens[0].Value != env.Data.Events[0].Name {
			t.Errorf("request tokens %v, want the three demo tokens starting with the event name", r.Tokens)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if len(want) != changeCount || !slices.Equal(got, want) {
		t.Errorf("campaign requested for leads %v, want %v", got, want)
	}
	if env.Queue.Len() != 0 {
		t.Errorf("%d change messages left on the queue", env.Queue.Len())
	}

	// The second sync-leads sends no lead.
	if n := res.Resync.Counts[store.OutcomeCreated] + res.Resync.Counts[store.OutcomeUpdated]; n != 0 || res.Resync.Counts[store.OutcomeUnchanged] == 0 {
		t.Errorf("second sync-leads counts %v: want no lead sent and the unchanged ones counted", res.Resync.Counts)
	}
}

func stepNamed(t *testing.T, res Result, name string) Step {
	t.Helper()
	for _, s := range res.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %q in %v", name, res.Steps)
	return Step{}
}

// TestCommand runs the command as `make demo` does, with a generated data
// set, and checks its output and exit code; bad flags exit 2.
func TestCommand(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var out, errOut bytes.Buffer
	if code := run([]string{"-registrations", "400", "-seed", "7"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	s := out.String()
	for _, want := range []string{"STEP", "400 registrations", "registration-changes", "import-leads", "sync-leads",
		"engagement-metrics", "interest-metrics", "trigger-campaign", "3 requested", "Where to look next", "make test",
		"plan import leads (dry run)", "nothing written", "wrote nothing and said what its run then did"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "level=") || errOut.Len() != 0 {
		t.Errorf("logs leaked into the output without -v:\nstdout:\n%s\nstderr:\n%s", s, errOut.String())
	}
	for _, args := range [][]string{{"-registrations", "-1"}, {"-nope"}, {"extra"}} {
		errOut.Reset()
		if code := run(args, &out, &errOut); code != 2 || errOut.Len() == 0 {
			t.Errorf("run %v: exit %d, stderr %q; want 2 with a message", args, code, errOut.String())
		}
	}
}
