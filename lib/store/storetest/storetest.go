// Package storetest is the conformance suite every store.Store passes.
// Implementations call Run from their own tests with a constructor that
// returns an empty store; the suite covers the rules jobs rely on,
// including the races (concurrent claims, concurrent idempotency begins,
// stale checkpoint writes).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// Run runs the suite; newStore must return an empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Configs", testConfigs},
		{"ClaimRace", testClaimRace},
		{"ClaimLease", testClaimLease},
		{"Runs", testRuns},
		{"OutcomesBound", testOutcomes},
		{"Checkpoints", testCheckpoints},
		{"CheckpointRace", testCheckpointRace},
		{"IdempotencyRace", testIdemRace},
		{"Idempotency", testIdem},
		{"IdempotencyPeek", testIdemPeek},
		{"Detector", testDetector},
		{"Hashes", testHashes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

var t0 = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)

// Connection and Job are valid fixtures.
func Connection(account string) config.Connection {
	return config.Connection{Account: account, CertainBaseURL: "https://certain.example.com", CertainSecret: "cs", MarketoSecret: "ms",
		FieldMapping: []config.FieldMap{{Certain: "firstName", Marketo: "firstName"}}}
}

func Job(id, typ string) config.Job {
	j := config.Job{ID: id, Account: "ACME", Event: "HS26", Type: typ, Name: "n " + id, Enabled: true,
		Schedule: config.Schedule{Interval: config.Duration(15 * time.Minute)}}
	switch typ {
	case config.TypeSyncLeads:
		j.Params.Statuses = []string{"Attended"}
	case config.TypeTriggerCampaign:
		j.Params = config.Params{CampaignID: 7, ToStatus: "Attended", Tokens: []config.TokenSpec{{Name: "{{my.Event}}", Value: "HS26"}}}
	}
	return j
}

func testConfigs(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.GetConnection(ctx, "ACME"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetConnection(missing) = %v, want ErrNotFound", err)
	}
	if err := s.PutConnection(ctx, Connection("ACME")); err != nil {
		t.Fatal(err)
	}
	c, err := s.GetConnection(ctx, "ACME")
	if err != nil || c.Account != "ACME" || len(c.FieldMapping) != 1 || c.FieldMapping[0].Marketo != "firstName" {
		t.Fatalf("GetConnection = %+v, %v", c, err)
	}
	bad := Connection("BAD")
	bad.MarketoBudget.Concurrent = 50
	if err := s.PutConnection(ctx, bad); err == nil || !strings.Contains(err.Error(), "marketoBudget.concurrent") {
		t.Fatalf("PutConnection(invalid) = %v", err)
	}
	badJob := Job("bad", config.TypeSyncLeads)
	badJob.Params.Statuses = nil
	if err := s.PutJob(ctx, badJob); err == nil || !strings.Contains(err.Error(), `job "bad": params.statuses: at least one status required`) {
		t.Fatalf("PutJob(invalid) = %v", err)
	}
	if _, err := s.GetJob(ctx, "bad"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("invalid job was stored: %v", err)
	}
	for _, j := range []config.Job{Job("b", config.TypeSyncLeads), Job("a", config.TypeSyncLeads), Job("c", config.TypeTriggerCampaign)} {
		if err := s.PutJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	j, err := s.GetJob(ctx, "c")
	if err != nil || j.Params.CampaignID != 7 || j.Params.Tokens[0].Value != "HS26" || time.Duration(j.Schedule.Interval) != 15*time.Minute {
		t.Fatalf("GetJob = %+v, %v", j, err)
	}
	list, err := s.ListJobs(ctx, config.TypeSyncLeads)
	if err != nil || len(list) != 2 || list[0].ID != "a" || list[1].ID != "b" {
		t.Fatalf("ListJobs(sync-leads) = %+v, %v", list, err)
	}
	all, err := s.ListJobs(ctx, "")
	if err != nil || len(all) != 3 {
		t.Fatalf("ListJobs(all) = %d jobs, %v", len(all), err)
	}
}

func testClaimRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	st, err := s.GetJobState(ctx, "j1")
	if err != nil || st.Version != 0 || st.LeaseOwner != "" || !st.NextDue.IsZero() {
		t.Fatalf("GetJobState(new) = %+v, %v", st, err)
	}
	const n = 16
	var wg sync.WaitGroup
	wins := make(chan string, n)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := fmt.Sprintf("run-%d", i)
			ok, err := s.ClaimJob(ctx, "j1", run, 0, t0.Add(5*time.Minute), t0)
			if err != nil {
				errs <- err
			}
			if ok {
				wins <- run
			}
		}()
	}
	wg.Wait()
	close(wins)
	close(errs)
	for err := range errs {
		t.Fatalf("ClaimJob: %v", err)
	}
	var winners []string
	for w := range wins {
		winners = append(winners, w)
	}
	if len(winners) != 1 {
		t.Fatalf("%d claimants won, want exactly 1: %v", len(winners), winners)
	}
	st, _ = s.GetJobState(ctx, "j1")
	if st.LeaseOwner != winners[0] || st.Version != 1 || !st.LeaseUntil.Equal(t0.Add(5*time.Minute)) || st.LastRunID != winners[0] {
		t.Fatalf("state after claim = %+v", st)
	}
}

func testClaimLease(t *testing.T, s store.Store) {
	ctx := context.Background()
	if ok, err := s.ClaimJob(ctx, "j", "r1", 0, t0.Add(time.Minute), t0); !ok || err != nil {
		t.Fatalf("first claim = %v, %v", ok, err)
	}
	// Right version but a live lease: refused.
	if ok, _ := s.ClaimJob(ctx, "j", "r2", 1, t0.Add(2*time.Minute), t0.Add(30*time.Second)); ok {
		t.Fatal("claimed over a live lease")
	}
	if err := s.ReleaseJob(ctx, "j", "r2", t0, store.RunSucceeded); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("release by a non-holder = %v, want ErrConflict", err)
	}
	// The holder died: its lease expires and a new claim takes over.
	if ok, err := s.ClaimJob(ctx, "j", "r3", 1, t0.Add(3*time.Minute), t0.Add(90*time.Second)); !ok || err != nil {
		t.Fatalf("claim after lease expiry = %v, %v", ok, err)
	}
	next := t0.Add(15 * time.Minute)
	if err := s.ReleaseJob(ctx, "j", "r3", next, store.RunPartial); err != nil {
		t.Fatal(err)
	}
	st, _ := s.GetJobState(ctx, "j")
	if st.LeaseOwner != "" || !st.NextDue.Equal(next) || st.LastOutcome != store.RunPartial || st.LastRunID != "r3" || st.Version != 3 {
		t.Fatalf("state after release = %+v", st)
	}
	// Stale version: refused even without a lease.
	if ok, _ := s.ClaimJob(ctx, "j", "r4", 2, t0.Add(time.Hour), t0.Add(20*time.Minute)); ok {
		t.Fatal("claimed with a stale version")
	}
	if ok, _ := s.ClaimJob(ctx, "j", "r4", st.Version, t0.Add(time.Hour), t0.Add(20*time.Minute)); !ok {
		t.Fatal("claim with the current version refused")
	}
}

func testRuns(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.GetRun(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetRun(missing) = %v", err)
	}
	for i := range 5 {
		r := store.Run{ID: fmt.Sprintf("r%d", i), JobID: "j", JobType: config.TypeSyncLeads, Account: "ACME", Event: "HS26", Trigger: "schedule",
			Started: t0.Add(time.Duration(i) * time.Minute), Outcome: store.RunRunning}
		if err := s.PutRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutRun(ctx, store.Run{ID: "other", JobID: "k", Started: t0}); err != nil {
		t.Fatal(err)
	}
	done := store.Run{ID: "r2", JobID: "j", JobType: config.TypeSyncLeads, Started: t0.Add(2 * time.Minute), Finished: t0.Add(3 * time.Minute),
		Outcome: store.RunPartial, Counts: map[string]int{store.OutcomeCreated: 3, store.OutcomeFailed: 1}, MarketoCalls: 4, Error: "1 record failed", OutcomesDropped: 2}
	if err := s.PutRun(ctx, done); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRun(ctx, "r2")
	if err != nil || got.Outcome != store.RunPartial || got.Counts[store.OutcomeCreated] != 3 || got.MarketoCalls != 4 || !got.Finished.Equal(done.Finished) || got.OutcomesDropped != 2 {
		t.Fatalf("GetRun = %+v, %v", got, err)
	}
	list, err := s.ListRuns(ctx, "j", 3)
	if err != nil || len(list) != 3 || list[0].ID != "r4" || list[1].ID != "r3" || list[2].ID != "r2" || list[2].Outcome != store.RunPartial {
		t.Fatalf("ListRuns = %+v, %v", list, err)
	}
}

func testOutcomes(t *testing.T, s store.Store) {
	ctx := context.Background()
	batch := func(n, from int, kind string) []store.RecordOutcome {
		out := make([]store.RecordOutcome, n)
		for i := range out {
			out[i] = store.RecordOutcome{Key: fmt.Sprintf("reg-%05d", from+i), Email: "a@example.com", Outcome: kind}
			if kind == store.OutcomeFailed {
				out[i].Code, out[i].Reason = "1006", "field not found"
			}
		}
		return out
	}
	if d, err := s.AddOutcomes(ctx, "run", batch(10, 0, store.OutcomeFailed)); err != nil || d != 0 {
		t.Fatalf("AddOutcomes = %d, %v", d, err)
	}
	if d, err := s.AddOutcomes(ctx, "run", batch(store.MaxOutcomesPerRun-15, 10, store.OutcomeCreated)); err != nil || d != 0 {
		t.Fatalf("AddOutcomes = %d, %v", d, err)
	}
	// 5 slots left: 5 kept, 7 dropped; then everything is dropped.
	if d, err := s.AddOutcomes(ctx, "run", batch(12, store.MaxOutcomesPerRun, store.OutcomeSkipped)); err != nil || d != 7 {
		t.Fatalf("AddOutcomes over the bound dropped %d, %v; want 7", d, err)
	}
	if d, _ := s.AddOutcomes(ctx, "run", batch(3, 9000, store.OutcomeSkipped)); d != 3 {
		t.Fatalf("AddOutcomes when full dropped %d, want 3", d)
	}
	all, err := s.ListOutcomes(ctx, "run", "")
	if err != nil || len(all) != store.MaxOutcomesPerRun {
		t.Fatalf("ListOutcomes = %d, %v; want %d", len(all), err, store.MaxOutcomesPerRun)
	}
	if all[0].Key != "reg-00000" || all[len(all)-1].Key != fmt.Sprintf("reg-%05d", store.MaxOutcomesPerRun+4) {
		t.Fatalf("order: first %q last %q", all[0].Key, all[len(all)-1].Key)
	}
	failed, _ := s.ListOutcomes(ctx, "run", store.OutcomeFailed)
	if len(failed) != 10 || failed[3].Code != "1006" || failed[3].Reason != "field not found" {
		t.Fatalf("failed outcomes = %d %+v", len(failed), failed)
	}
	skipped, _ := s.ListOutcomes(ctx, "run", store.OutcomeSkipped)
	if len(skipped) != 5 {
		t.Fatalf("skipped = %d, want 5", len(skipped))
	}
	if other, _ := s.ListOutcomes(ctx, "other", ""); len(other) != 0 {
		t.Fatalf("other run has %d outcomes", len(other))
	}
}

func testCheckpoints(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.GetCheckpoint(ctx, "j"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetCheckpoint(missing) = %v", err)
	}
	if _, err := s.PutCheckpoint(ctx, "j", store.Checkpoint{RunID: "r", Data: []byte(`{}`)}, 1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("put with version 1 when none exists = %v", err)
	}
	v, err := s.PutCheckpoint(ctx, "j", store.Checkpoint{RunID: "r1", Data: []byte(`{"page":"tok1"}`)}, 0)
	if err != nil || v != 1 {
		t.Fatalf("first put = %d, %v", v, err)
	}
	if v, err = s.PutCheckpoint(ctx, "j", store.Checkpoint{RunID: "r1", Data: []byte(`{"page":"tok2"}`)}, 1); err != nil || v != 2 {
		t.Fatalf("second put = %d, %v", v, err)
	}
	if _, err := s.PutCheckpoint(ctx, "j", store.Checkpoint{RunID: "old", Data: []byte(`{"page":"tok1"}`)}, 1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale put = %v, want ErrConflict", err)
	}
	cp, err := s.GetCheckpoint(ctx, "j")
	if err != nil || cp.Version != 2 || string(cp.Data) != `{"page":"tok2"}` || cp.RunID != "r1" || cp.Updated.IsZero() {
		t.Fatalf("GetCheckpoint = %+v, %v", cp, err)
	}
	if err := s.DeleteCheckpoint(ctx, "j", 1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale delete = %v", err)
	}
	if err := s.DeleteCheckpoint(ctx, "j", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetCheckpoint(ctx, "j"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete = %v", err)
	}
}

func testCheckpointRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.PutCheckpoint(ctx, "race", store.Checkpoint{RunID: fmt.Sprint(i), Data: []byte(fmt.Sprint(i))}, 0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, store.ErrConflict):
				conflicts++
			default:
				t.Errorf("PutCheckpoint: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || conflicts != n-1 {
		t.Fatalf("%d writers won, %d conflicted; want 1 and %d", wins, conflicts, n-1)
	}
}

func testIdemRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	results := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.BeginIdem(ctx, "chg#j#R1#Attended#2026", t0.Add(time.Minute), time.Hour, t0)
			if err != nil {
				t.Errorf("BeginIdem: %v", err)
				return
			}
			results <- r.Status
		}()
	}
	wg.Wait()
	close(results)
	count := map[string]int{}
	for r := range results {
		count[r]++
	}
	if count[store.IdemProceed] != 1 || count[store.IdemInProgress] != n-1 {
		t.Fatalf("begin results %v; want 1 proceed and %d in-progress", count, n-1)
	}
}

func testIdem(t *testing.T, s store.Store) {
	ctx := context.Background()
	begin := func(key string, now time.Time) string {
		t.Helper()
		r, err := s.BeginIdem(ctx, key, now.Add(time.Minute), time.Hour, now)
		if err != nil {
			t.Fatalf("BeginIdem: %v", err)
		}
		return r.Status
	}
	if got := begin("k", t0); got != store.IdemProceed {
		t.Fatalf("first begin = %s", got)
	}
	if got := begin("k", t0.Add(30*time.Second)); got != store.IdemInProgress {
		t.Fatalf("begin under a live lock = %s", got)
	}
	// The holder died: after lockUntil another worker takes over.
	if got := begin("k", t0.Add(2*time.Minute)); got != store.IdemProceed {
		t.Fatalf("begin after the lock expired = %s", got)
	}
	if err := s.CompleteIdem(ctx, "k", []byte(`{"lead":42}`), time.Hour, t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	r, err := s.BeginIdem(ctx, "k", t0.Add(5*time.Minute), time.Hour, t0.Add(4*time.Minute))
	if err != nil || r.Status != store.IdemDuplicate || string(r.Result) != `{"lead":42}` {
		t.Fatalf("begin after complete = %+v, %v", r, err)
	}
	// Past its retention the record no longer counts (TTL deletes late).
	if got := begin("k", t0.Add(2*time.Hour)); got != store.IdemProceed {
		t.Fatalf("begin after retention = %s", got)
	}
	if got := begin("a", t0); got != store.IdemProceed {
		t.Fatal(got)
	}
	if err := s.AbortIdem(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got := begin("a", t0.Add(time.Second)); got != store.IdemProceed {
		t.Fatalf("begin after abort = %s", got)
	}
	// A late abort (its lock expired and another holder completed the work)
	// leaves the completion in place.
	if err := s.CompleteIdem(ctx, "a", []byte("done"), time.Hour, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.AbortIdem(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got := begin("a", t0.Add(3*time.Second)); got != store.IdemDuplicate {
		t.Fatalf("begin after a late abort of a completed key = %s, want duplicate", got)
	}
}

func keys(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return out
}

func testDetector(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, ok, err := s.GetWatermark(ctx, "ACME/HS26"); ok || err != nil {
		t.Fatalf("GetWatermark(missing) = %v, %v", ok, err)
	}
	wm := time.Date(2026, 3, 2, 10, 11, 12, 345000000, time.UTC)
	if err := s.PutWatermark(ctx, "ACME/HS26", wm); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.GetWatermark(ctx, "ACME/HS26"); !ok || err != nil || !got.Equal(wm) {
		t.Fatalf("GetWatermark = %v, %v, %v", got, ok, err)
	}
	if _, ok, _ := s.GetWatermark(ctx, "ACME/OTHER"); ok {
		t.Fatal("watermark leaked across scopes")
	}
	codes := keys("R", 130) // more than one DynamoDB batch
	st := map[string]string{}
	for i, c := range codes {
		st[c] = []string{"New", "Attended", "Cancelled"}[i%3]
	}
	if err := s.PutLastStatuses(ctx, "ACME/HS26", st); err != nil {
		t.Fatal(err)
	}
	if err := s.PutLastStatuses(ctx, "ACME/HS26", map[string]string{"R0000": "Attended"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetLastStatuses(ctx, "ACME/HS26", append(codes, "unknown"))
	if err != nil || len(got) != 130 || got["R0000"] != "Attended" || got["R0001"] != "Attended" || got["R0002"] != "Cancelled" {
		t.Fatalf("GetLastStatuses = %d entries, %v (R0000=%q)", len(got), err, got["R0000"])
	}
	if _, ok := got["unknown"]; ok {
		t.Fatal("unknown registration returned a status")
	}
	if other, _ := s.GetLastStatuses(ctx, "ACME/OTHER", codes[:3]); len(other) != 0 {
		t.Fatal("statuses leaked across scopes")
	}
}

func testHashes(t *testing.T, s store.Store) {
	ctx := context.Background()
	ks := keys("lead", 60)
	h := map[string]string{}
	for _, k := range ks {
		h[k] = "sha256:" + k
	}
	if err := s.PutHashes(ctx, "job:a", h); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetHashes(ctx, "job:a", ks)
	if err != nil || len(got) != 60 || got["lead0042"] != "sha256:lead0042" {
		t.Fatalf("GetHashes = %d, %v", len(got), err)
	}
	if err := s.DeleteHashes(ctx, "job:a", ks[:30]); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetHashes(ctx, "job:a", ks)
	if len(got) != 30 || got["lead0000"] != "" || got["lead0059"] == "" {
		t.Fatalf("after delete: %d hashes", len(got))
	}
	if other, _ := s.GetHashes(ctx, "job:b", ks); len(other) != 0 {
		t.Fatal("hashes leaked across scopes")
	}
	if empty, err := s.GetHashes(ctx, "job:a", nil); err != nil || len(empty) != 0 {
		t.Fatalf("GetHashes(nil) = %v, %v", empty, err)
	}
}

// testIdemPeek: PeekIdem answers what BeginIdem would, and writes nothing
// (a peek never claims a key, however often it is asked).
func testIdemPeek(t *testing.T, s store.Store) {
	ctx := context.Background()
	peek := func(key string, now time.Time) store.IdemResult {
		t.Helper()
		r, err := s.PeekIdem(ctx, key, now)
		if err != nil {
			t.Fatalf("PeekIdem: %v", err)
		}
		return r
	}
	for range 2 {
		if got := peek("p", t0).Status; got != store.IdemProceed {
			t.Fatalf("peek of an absent key = %s", got)
		}
	}
	// The peeks claimed nothing: the first begin still proceeds.
	if r, err := s.BeginIdem(ctx, "p", t0.Add(time.Minute), time.Hour, t0); err != nil || r.Status != store.IdemProceed {
		t.Fatalf("begin after peeks = %+v, %v", r, err)
	}
	if got := peek("p", t0.Add(30*time.Second)).Status; got != store.IdemInProgress {
		t.Fatalf("peek under a live lock = %s", got)
	}
	if got := peek("p", t0.Add(2*time.Minute)).Status; got != store.IdemProceed {
		t.Fatalf("peek after the lock expired = %s", got)
	}
	// The peek after the lock expired took nothing over: the holder can still complete.
	if err := s.CompleteIdem(ctx, "p", []byte("requested"), time.Hour, t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if r := peek("p", t0.Add(4*time.Minute)); r.Status != store.IdemDuplicate || string(r.Result) != "requested" {
		t.Fatalf("peek after complete = %+v", r)
	}
	if got := peek("p", t0.Add(2*time.Hour)).Status; got != store.IdemProceed {
		t.Fatalf("peek after retention = %s", got)
	}
}
