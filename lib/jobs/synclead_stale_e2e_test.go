package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
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
// stored lead was merged away (or deleted) is sent again by the run that
// verifies the job's stored ids: the first run verifyIdsEvery (a day by
// default) after the last verification, here the first run. It is sent as a
// profile without an id (rule A: the winner is updated by e-mail, a deleted
// lead's e-mail gets a new lead), the id is written back, and the run counts
// and names the healing. Unchanged registrations with live ids cost one
// filterType=id check for the run and are not sent. The next run, inside
// the interval again, checks nothing.
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
	if run := env.RunJob(t, ctx, "sync-stale"); run.MarketoCalls != 0 || run.Counts[store.OutcomeUnchanged] != 3 {
		t.Fatalf("run two hours after the first: %d Marketo calls, %v; want none, 3 unchanged (the ids were confirmed by the first run)", run.MarketoCalls, run.Counts)
	}
	env.Clock.Advance(22 * time.Hour)
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

	// Healed, and verified a moment ago: the next run sends and checks nothing.
	env.Clock.Advance(2 * time.Hour)
	run = env.RunJob(t, ctx, "sync-stale")
	if run.Counts[store.OutcomeUnchanged] != 3 || run.Counts[jobs.CountStaleIds] != 0 || run.MarketoCalls != 0 {
		t.Errorf("next run %v, %d Marketo calls; want 3 unchanged, none", run.Counts, run.MarketoCalls)
	}
}

// verifyIdsEvery "0s" checks every stored id on every run, as before the
// setting existed; a forced run sends every registration, which confirms
// (or heals) every id, so the run after it checks nothing.
func TestSyncLeadsVerifyIDsEveryRunAndForced(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	ctx := context.Background()
	lost := env.Marketo.AddLead(marketo.Lead{"email": "lena.ortiz@example.net"})
	pin, _ := seedReg(env, map[string]any{"email": "lena.ortiz@example.net", "firstName": "Lena", "externalKey": fmt.Sprint(lost), "sourceOfProfile": "Marketo"}, "Attended")
	live := env.Marketo.AddLead(marketo.Lead{"email": "ana@example.org"})
	seedReg(env, map[string]any{"email": "ana@example.org", "firstName": "Ana", "externalKey": fmt.Sprint(live), "sourceOfProfile": "Marketo"}, "Attended")
	every := syncJob("sync-every", "Attended")
	zero := config.Duration(0)
	every.Params.VerifyIDsEvery = &zero
	env.PutJob(t, every)
	env.RunJob(t, ctx, "sync-every")
	env.Clock.Advance(15 * time.Minute)
	if run := env.RunJob(t, ctx, "sync-every"); run.MarketoCalls != 1 || run.Counts[jobs.CountIdsChecked] != 2 {
		t.Fatalf("unchanged run with verifyIdsEvery 0s: %d Marketo calls, %v; want one check of both ids", run.MarketoCalls, run.Counts)
	}
	winner := env.Marketo.AddLead(marketo.Lead{"email": "lena.ortiz@example.net"})
	env.Marketo.MergeLeads(winner, lost)
	env.Clock.Advance(15 * time.Minute)
	if run := env.RunJob(t, ctx, "sync-every"); run.Counts[jobs.CountStaleIdsHealed] != 1 {
		t.Fatalf("run after the merge: %v, want the id healed at once", run.Counts)
	}
	if p := profileByPIN(t, env, pin); p["externalKey"] != fmt.Sprint(winner) {
		t.Fatalf("profile holds %v, want %d", p["externalKey"], winner)
	}

	// Default cadence: merge again, then force: the forced run sends both
	// registrations, heals the dead id, and confirms both.
	env.PutJob(t, syncJob("sync-every", "Attended"))
	again := env.Marketo.AddLead(marketo.Lead{"email": "lena.ortiz@example.net"})
	env.Marketo.MergeLeads(again, winner)
	env.Clock.Advance(15 * time.Minute)
	sum, err := env.Executor.RunNow(ctx, "sync-every", true)
	if err != nil {
		t.Fatal(err)
	}
	// The send by e-mail finds the winner and rule C writes it over the dead
	// id (counted as a write-back: a send does not ask whether the old id
	// died or the e-mail moved to another lead).
	if sum.Counts[store.OutcomeUpdated] != 2 || sum.Counts["profilesWrittenBack"] != 1 {
		t.Fatalf("forced run %v, want both sent and the merged id replaced", sum.Counts)
	}
	if p := profileByPIN(t, env, pin); p["externalKey"] != fmt.Sprint(again) {
		t.Fatalf("after the forced run the profile holds %v, want %d", p["externalKey"], again)
	}
	env.Clock.Advance(15 * time.Minute)
	if run := env.RunJob(t, ctx, "sync-every"); run.MarketoCalls != 0 || run.Counts[store.OutcomeUnchanged] != 2 {
		t.Errorf("run after the forced one: %d Marketo calls, %v; want none, 2 unchanged", run.MarketoCalls, run.Counts)
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

// Inside verifyIdsEvery no unchanged registration's id is checked, but a
// registration that changed is sent, and the write itself finds a dead id:
// Marketo answers 1004 for the update-only profile, the run confirms the id
// is dead (one filterType=id call for that batch, not for the job) and
// sends the profile again without it (rule A), healing it in that run.
func TestSyncLeadsStaleIDOnWriteHealsInsideCadence(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	ctx := context.Background()
	gone := env.Marketo.AddLead(marketo.Lead{"email": "yu.chen@example.com"})
	pinGone, code := seedReg(env, map[string]any{"email": "yu.chen@example.com", "firstName": "Yu", "externalKey": fmt.Sprint(gone), "sourceOfProfile": "Marketo"}, "Attended")
	for i := range 3 {
		email := fmt.Sprintf("still%d@example.org", i)
		id := env.Marketo.AddLead(marketo.Lead{"email": email})
		seedReg(env, map[string]any{"email": email, "firstName": "S", "externalKey": fmt.Sprint(id), "sourceOfProfile": "Marketo"}, "Attended")
	}
	env.PutJob(t, syncJob("sync-write", "Attended"))
	if run := env.RunJob(t, ctx, "sync-write"); run.Counts[store.OutcomeUpdated] != 4 {
		t.Fatalf("first run %v, want 4 updated", run.Counts)
	}

	env.Marketo.DeleteLead(gone)
	if err := env.CertainClient.UpdateProfile(ctx, jobstest.Account, pinGone, map[string]any{"position": "CTO"}); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Hour) // well inside the default 24h
	from := len(env.Marketo.Calls())
	run := env.RunJob(t, ctx, "sync-write")
	yu := env.Marketo.LeadsByEmail("yu.chen@example.com")
	if len(yu) != 1 || yu[0]["title"] != "CTO" {
		t.Fatalf("leads of the deleted lead's e-mail: %v, want one created with the new title", yu)
	}
	if p := profileByPIN(t, env, pinGone); p["externalKey"] != fmt.Sprint(yu[0].ID()) {
		t.Errorf("profile holds %v, want the new lead %d", p["externalKey"], yu[0].ID())
	}
	if o := outcomesByKey(t, env, run.ID)[code]; o.Outcome != store.OutcomeCreated || !strings.Contains(o.Reason, fmt.Sprintf("stored Marketo id %d no longer exists", gone)) {
		t.Errorf("outcome %+v, want created with the stale id named", o)
	}
	if run.Counts[jobs.CountStaleIdsHealed] != 1 || run.Counts[store.OutcomeUnchanged] != 3 || run.Counts[jobs.CountIdsChecked] != 0 {
		t.Errorf("counts %v, want 1 healed, 3 unchanged and not verified (not due)", run.Counts)
	}
	// The one id check is the write's own (the batch of one 1004).
	if checks := idChecks(env, from); checks != 1 {
		t.Errorf("%d id checks, want 1 (the 1004 answer's)", checks)
	}
}

// A run that verifies the stored ids and stops at the soft deadline keeps
// verifying in its continuation (the checkpoint carries it), and the time of
// the verification is stored only when the last registration was handled:
// every id is checked exactly once, a dead one on the far side of the stop
// is healed, and the run after that checks nothing. A continuation of a run
// that did not verify does not start verifying half-way, even once the
// interval has passed.
func TestSyncLeadsVerificationSurvivesContinuation(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	ctx := context.Background()
	const n = 1000 // five Certain pages of 200
	ids := make([]int, n)
	pins := make([]string, n)
	for i := range n {
		email := fmt.Sprintf("c%04d@example.org", i)
		ids[i] = env.Marketo.AddLead(marketo.Lead{"email": email})
		pins[i], _ = seedReg(env, map[string]any{"email": email, "firstName": "C", "externalKey": fmt.Sprint(ids[i]), "sourceOfProfile": "Marketo"}, "Attended")
	}
	env.PutJob(t, syncJob("sync-cont", "Attended"))
	if run := env.RunJob(t, ctx, "sync-cont"); run.Counts[store.OutcomeUpdated] != n {
		t.Fatalf("first run %v", run.Counts)
	}
	last := n - 1 // on the last page
	winner := env.Marketo.AddLead(marketo.Lead{"email": fmt.Sprintf("c%04d@example.org", last)})
	env.Marketo.MergeLeads(winner, ids[last])

	env.Clock.Advance(25 * time.Hour)
	from := len(env.Marketo.Calls())
	env.InterruptAfter(3) // stop at the 4th page
	run := env.RunJob(t, ctx, "sync-cont")
	env.InterruptWhen(nil)
	if run.Outcome != store.RunCheckpointed {
		t.Fatalf("interrupted run %+v", run)
	}
	checked := run.Counts[jobs.CountIdsChecked]
	if checked == 0 || checked >= n {
		t.Fatalf("interrupted run checked %d ids, want some, not all", checked)
	}
	run = env.RunJob(t, ctx, "sync-cont")
	if run.Outcome != store.RunSucceeded || run.Counts[jobs.CountStaleIdsHealed] != 1 {
		t.Fatalf("continuation %s %v, want the merged id healed", run.Outcome, run.Counts)
	}
	checked += run.Counts[jobs.CountIdsChecked]
	if checked != n || idChecks(env, from) > (n+299)/300+1 {
		t.Errorf("%d ids checked in %d calls over the run and its continuation, want %d ids, at most one part-filled call per run", checked, idChecks(env, from), n)
	}
	if p := profileByPIN(t, env, pins[last]); p["externalKey"] != fmt.Sprint(winner) {
		t.Errorf("profile holds %v, want %d", p["externalKey"], winner)
	}
	env.Clock.Advance(time.Hour)
	if run := env.RunJob(t, ctx, "sync-cont"); run.MarketoCalls != 0 || run.Counts[store.OutcomeUnchanged] != n {
		t.Fatalf("run after the completed verification: %d Marketo calls, %v; want none", run.MarketoCalls, run.Counts)
	}

	// Not due: the run stops half-way without verifying; the interval
	// passes before its continuation, which still does not verify (it would
	// cover only half the ids); the next fresh run does.
	env.InterruptAfter(3)
	if run := env.RunJob(t, ctx, "sync-cont"); run.Outcome != store.RunCheckpointed || run.MarketoCalls != 0 {
		t.Fatalf("interrupted run inside the interval: %s, %d Marketo calls", run.Outcome, run.MarketoCalls)
	}
	env.InterruptWhen(nil)
	env.Clock.Advance(24 * time.Hour)
	if run := env.RunJob(t, ctx, "sync-cont"); run.Outcome != store.RunSucceeded || run.MarketoCalls != 0 {
		t.Fatalf("continuation of a run that did not verify: %s, %d Marketo calls, %v; want none", run.Outcome, run.MarketoCalls, run.Counts)
	}
	if run := env.RunJob(t, ctx, "sync-cont"); run.Counts[jobs.CountIdsChecked] != n || run.MarketoCalls != (n+299)/300 {
		t.Fatalf("fresh run after the interval: %d Marketo calls, %v; want every id verified", run.MarketoCalls, run.Counts)
	}
}

// idCheckSpy wraps the harness's Marketo client: fail, when set, runs
// before each Get Leads by filterType=id with the ids asked about (and may
// fail the call).
type idCheckSpy struct {
	jobs.Marketo
	fail func(ids []string) error
}

func (m idCheckSpy) GetLeadsByFilter(ctx context.Context, filterType string, values, fields []string) ([]marketo.Lead, error) {
	if filterType == "id" && m.fail != nil {
		if err := m.fail(values); err != nil {
			return nil, err
		}
	}
	return m.Marketo.GetLeadsByFilter(ctx, filterType, values, fields)
}

// A verifying run whose background id check fails (Marketo's daily quota)
// while the other checks succeed does not store the verification, whether
// the failure stops the reading half-way or comes in the checks drained
// after the last page: the time stays the previous one, the checkpoint
// carries the verification's start, the continuation checks the rest, and
// only then is the verification stored, with the start of the run that
// began it (the next falls due 24h after that, not after the continuation).
func TestSyncLeadsVerificationNotStoredWhenAnIDCheckFails(t *testing.T) {
	const n = 1000 // five Certain pages of 200, four id checks
	for _, failAt := range []int{450, n - 1} {
		t.Run(fmt.Sprintf("check of registration %d", failAt), func(t *testing.T) {
			verificationAfterFailedCheck(t, n, failAt)
		})
	}
}

// verificationAfterFailedCheck runs TestSyncLeadsVerificationNotStoredWhenAnIDCheckFails
// with n registrations, failing the id check that holds registration failAt.
func verificationAfterFailedCheck(t *testing.T, n, failAt int) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	ctx := context.Background()
	ids := make([]int, n)
	for i := range n {
		email := fmt.Sprintf("q%04d@example.org", i)
		ids[i] = env.Marketo.AddLead(marketo.Lead{"email": email})
		seedReg(env, map[string]any{"email": email, "firstName": "Q", "externalKey": fmt.Sprint(ids[i]), "sourceOfProfile": "Marketo"}, "Attended")
	}
	env.PutJob(t, syncJob("sync-vq", "Attended"))
	first := env.Clock.Now()
	if run := env.RunJob(t, ctx, "sync-vq"); run.Counts[store.OutcomeUpdated] != n {
		t.Fatalf("first run %v", run.Counts)
	}
	verifiedAt := func() string {
		t.Helper()
		h, err := env.Store.GetHashes(ctx, "job:sync-vq", []string{"#idsVerifiedAt"})
		if err != nil {
			t.Fatal(err)
		}
		return h["#idsVerifiedAt"]
	}
	if got := verifiedAt(); got != fmt.Sprint(first.Unix()) {
		t.Fatalf("after the first run #idsVerifiedAt = %q, want %d", got, first.Unix())
	}

	var mu sync.Mutex
	failing := true
	spyOn(env, idCheckSpy{Marketo: env.MarketoClient, fail: func(values []string) error {
		mu.Lock()
		defer mu.Unlock()
		if failing && slices.Contains(values, fmt.Sprint(ids[failAt])) {
			return fmt.Errorf("get leads: %w", marketo.ErrDailyQuota)
		}
		return nil
	}}, env.CertainClient)
	env.Clock.Advance(25 * time.Hour)
	begun := env.Clock.Now()
	run := env.RunJob(t, ctx, "sync-vq")
	if run.Outcome != store.RunQuota || run.Counts[jobs.CountIdsChecked] == 0 || run.Counts[jobs.CountIdsChecked] >= n {
		t.Fatalf("run with a failing id check: %s (%s), %v; want quota, some ids checked, not all", run.Outcome, run.Error, run.Counts)
	}
	if got := verifiedAt(); got != fmt.Sprint(first.Unix()) {
		t.Errorf("after the failed verification #idsVerifiedAt = %q, want the first run's %d", got, first.Unix())
	}
	cp, err := env.Store.GetCheckpoint(ctx, "sync-vq")
	if err != nil {
		t.Fatal(err)
	}
	var at struct {
		StartIndex  int
		VerifySince int64
	}
	if err := json.Unmarshal(cp.Data, &at); err != nil {
		t.Fatal(err)
	}
	// The checkpoint never passes the page the failed check's registration
	// was read on (pages of 200).
	if page := failAt / 200 * 200; at.VerifySince != begun.Unix() || at.StartIndex > page {
		t.Fatalf("checkpoint %s; want verifySince %d, startIndex at most %d", cp.Data, begun.Unix(), page)
	}

	mu.Lock()
	failing = false
	mu.Unlock()
	env.Clock.Advance(time.Hour)
	run = env.RunJob(t, ctx, "sync-vq")
	if run.Outcome != store.RunSucceeded || run.Counts[jobs.CountIdsChecked] == 0 || run.Counts[jobs.CountIdsChecked] >= n {
		t.Fatalf("continuation %s (%s), %v; want the rest of the ids checked", run.Outcome, run.Error, run.Counts)
	}
	if got := verifiedAt(); got != fmt.Sprint(begun.Unix()) {
		t.Errorf("after the continuation #idsVerifiedAt = %q, want the start of the verification, %d", got, begun.Unix())
	}
	env.Clock.Advance(22 * time.Hour) // 23h after the verification began
	if run := env.RunJob(t, ctx, "sync-vq"); run.MarketoCalls != 0 || run.Counts[store.OutcomeUnchanged] != n {
		t.Fatalf("run 23h after the verification began: %d Marketo calls, %v; want none", run.MarketoCalls, run.Counts)
	}
	env.Clock.Advance(time.Hour)
	if run := env.RunJob(t, ctx, "sync-vq"); run.Counts[jobs.CountIdsChecked] != n {
		t.Fatalf("run 24h after the verification began: %v; want every id verified", run.Counts)
	}
}
