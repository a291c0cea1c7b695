package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// The delta hash does not hide a dead id: an unchanged registration whose
// stored lead was merged away (or deleted) is due again. It is sent as a
// profile without an id (rule A: the winner is updated by e-mail, a deleted
// lead's e-mail gets a new lead), the id is written back, and the run counts
// and names the healing. Unchanged registrations with live ids cost one
// filterType=id check for the run and are not sent.
func TestSyncLeadsHealsStaleIDOfUnchangedRegistration(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	ctx := context.Background()
	lost := env.Marketo.AddLead(marketo.Lead{"email": "lena.ortiz@example.net"})
	pinMerged, merged := seedReg(env, map[string]any{"email": "lena.ortiz@example.net", "firstName": "Lena", "externalKey": fmt.Sprint(lost), "sourceOfProfile": "Marketo"}, "Attended")
	gone := env.Marketo.AddLead(marketo.Lead{"email": "yu.chen@example.com"})
	pinGone, deleted := seedReg(env, map[string]any{"email": "yu.chen@example.com", "firstName": "Yu", "externalKey": fmt.Sprint(gone), "sourceOfProfile": "Marketo"}, "Attended")
	live := env.Marketo.AddLead(marketo.Lead{"email": "ana@example.org"})
	_, kept := seedReg(env, map[string]any{"email": "ana@example.org", "firstName": "Ana", "externalKey": fmt.Sprint(live), "sourceOfProfile": "Marketo"}, "Attended")
	env.PutJob(t, syncJob("sync-stale", "Attended"))
	if run := env.RunJob(t, ctx, "sync-stale"); run.Counts[store.OutcomeUpdated] != 3 {
		t.Fatalf("first run %v, want 3 updated", run.Counts)
	}

	// Marketo merges Lena's lead into a duplicate and Yu's lead is deleted;
	// nothing changes in Certain.
	winner := env.Marketo.AddLead(marketo.Lead{"email": "lena.ortiz@example.net", "company": "Northwind"})
	env.Marketo.MergeLeads(winner, lost)
	env.Marketo.DeleteLead(gone)
	env.Clock.Advance(2 * time.Hour)
	from := len(env.Marketo.Calls())
	run := env.RunJob(t, ctx, "sync-stale")

	yu := env.Marketo.LeadsByEmail("yu.chen@example.com")
	if len(yu) != 1 || yu[0]["firstName"] != "Yu" {
		t.Fatalf("leads of the deleted lead's e-mail: %v, want one created", yu)
	}
	if p := profileByPIN(t, env, pinMerged); p["externalKey"] != fmt.Sprint(winner) {
		t.Errorf("merged profile holds %v, want the winner %d", p["externalKey"], winner)
	}
	if p := profileByPIN(t, env, pinGone); p["externalKey"] != fmt.Sprint(yu[0].ID()) {
		t.Errorf("deleted lead's profile holds %v, want %d", p["externalKey"], yu[0].ID())
	}
	outs := outcomesByKey(t, env, run.ID)
	if o := outs[merged]; o.Outcome != store.OutcomeUpdated || !strings.Contains(o.Reason, fmt.Sprintf("stored Marketo id %d no longer exists", lost)) {
		t.Errorf("merged registration outcome %+v", o)
	}
	if o := outs[deleted]; o.Outcome != store.OutcomeCreated || !strings.Contains(o.Reason, fmt.Sprintf("stored Marketo id %d no longer exists", gone)) {
		t.Errorf("deleted lead's registration outcome %+v", o)
	}
	if _, sent := outs[kept]; sent || run.Counts[store.OutcomeUnchanged] != 1 {
		t.Errorf("the live registration was sent (%+v) or not counted unchanged (%v)", outs[kept], run.Counts)
	}
	if run.Counts[jobs.CountStaleIdsHealed] != 2 || run.Counts[jobs.CountStaleIds] != 2 {
		t.Errorf("counts %v, want 2 stale ids found and healed", run.Counts)
	}
	if checks := idChecks(env, from); checks != 1 {
		t.Errorf("%d id checks, want 1 for the three stored ids", checks)
	}

	// Healed: the third run sends nothing.
	env.Clock.Advance(2 * time.Hour)
	run = env.RunJob(t, ctx, "sync-stale")
	if run.Counts[store.OutcomeUnchanged] != 3 || run.Counts[jobs.CountStaleIds] != 0 {
		t.Errorf("third run %v, want 3 unchanged", run.Counts)
	}
}

// Rule C writes Source of Profile as exactly the configured value when the
// stored one differs only in case or spaces: on a sent registration, on an
// unchanged one (its delta hash ignores case), and on a trigger's lead
// found by its stored id.
func TestRuleCWritesExactSourceOfProfile(t *testing.T) {
	env := newTriggerEnvWith(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	ctx := context.Background()
	a := env.Marketo.AddLead(marketo.Lead{"email": "a@example.org"})
	pinA, _ := seedReg(env.Env, map[string]any{"email": "a@example.org", "externalKey": fmt.Sprint(a), "sourceOfProfile": " marketo"}, "Attended")
	b := env.Marketo.AddLead(marketo.Lead{"email": "b@example.org"})
	pinB, _ := seedReg(env.Env, map[string]any{"email": "b@example.org", "externalKey": fmt.Sprint(b), "sourceOfProfile": "Marketo"}, "Attended")
	c := env.Marketo.AddLead(marketo.Lead{"email": "c@example.org"})
	pinC, codeC := seedReg(env.Env, map[string]any{"email": "c@example.org", "externalKey": fmt.Sprint(c), "sourceOfProfile": "MARKETO "}, "Pre-Registered")
	env.PutJob(t, syncJob("sync-src", "Attended"))
	env.PutJob(t, triggerJob("trig-src", nil))

	env.RunJob(t, ctx, "sync-src")
	if p := profileByPIN(t, env.Env, pinA); p["sourceOfProfile"] != "Marketo" {
		t.Errorf("sent registration: Source of Profile %q, want exactly \"Marketo\"", p["sourceOfProfile"])
	}
	// Someone rewrites B's source in capitals: the payload hash is the same.
	if err := env.CertainClient.UpdateProfile(ctx, jobstest.Account, pinB, map[string]any{"sourceOfProfile": "MARKETO"}); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(2 * time.Hour)
	env.RunJob(t, ctx, "sync-src")
	if p := profileByPIN(t, env.Env, pinB); p["sourceOfProfile"] != "Marketo" {
		t.Errorf("unchanged registration: Source of Profile %q, want exactly \"Marketo\"", p["sourceOfProfile"])
	}

	noErrors(t, env.trigger.Handle(ctx, []jobs.ChangeMessage{change(env.Env, codeC, "Invited", "Pre-Registered")}))
	if got := requestedLeads(env.Env); len(got) != 1 || got[0] != c {
		t.Fatalf("campaign requested for %v, want [%d]", got, c)
	}
	if p := profileByPIN(t, env.Env, pinC); p["sourceOfProfile"] != "Marketo" || p["externalKey"] != fmt.Sprint(c) {
		t.Errorf("trigger: profile %v, want Source of Profile exactly \"Marketo\" and the id kept", p)
	}
}

// A tenant whose Source of Profile lives behind a field path with a
// selector (a profile question's answer): rule C reads and writes it
// through the path, writes it once, and a later run finds it exact and
// writes nothing.
func TestRuleCExactSourceThroughFieldPath(t *testing.T) {
	f := certain.Defaults()
	f.Source = "profileQuestions.question[questionCode=SRC].answer"
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads), jobstest.WithCertain(certaintest.WithFieldNames(f)))
	ctx := context.Background()
	id := env.Marketo.AddLead(marketo.Lead{"email": "q@example.org"})
	pin, _ := seedReg(env, map[string]any{"email": "q@example.org", "externalKey": fmt.Sprint(id),
		"profileQuestions": map[string]any{"question": []any{map[string]any{"questionCode": "SRC", "answer": "marketo "}}}}, "Attended")
	env.PutJob(t, syncJob("sync-path", "Attended"))
	env.RunJob(t, ctx, "sync-path")
	src, _ := certain.LookupPath(profileByPIN(t, env, pin), f.Source)
	if src != "Marketo" {
		t.Fatalf("Source of Profile %q, want exactly \"Marketo\"", src)
	}
	writes := env.Certain.CountCalls("POST", "Profile/")
	env.Clock.Advance(2 * time.Hour)
	run := env.RunJob(t, ctx, "sync-path")
	if env.Certain.CountCalls("POST", "Profile/") != writes || run.Counts[store.OutcomeUnchanged] != 1 {
		t.Errorf("second run %v wrote %d profiles; want unchanged and none", run.Counts, env.Certain.CountCalls("POST", "Profile/")-writes)
	}
}
