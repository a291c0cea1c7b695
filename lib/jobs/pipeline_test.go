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

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// gateTimeout bounds how long a gated call waits for what it expects; the
// tests never rely on it passing, only on the event it waits for.
const gateTimeout = 10 * time.Second

// spyMarketo wraps the harness's Marketo client: sync, when set, runs
// before each Sync Leads call with its e-mails (and may fail it).
type spyMarketo struct {
	jobs.Marketo
	sync func(emails []string) error
}

func (m spyMarketo) SyncLeads(ctx context.Context, req marketo.SyncLeadsRequest) ([]marketo.SyncResult, error) {
	var emails []string
	for _, l := range req.Input {
		emails = append(emails, strings.ToLower(l.Email()))
	}
	if m.sync != nil {
		if err := m.sync(emails); err != nil {
			return nil, err
		}
	}
	return m.Marketo.SyncLeads(ctx, req)
}

// spyCertain wraps the harness's Certain client: update, when set, runs
// before each profile update.
type spyCertain struct {
	jobs.Certain
	update func(pin string)
}

func (c spyCertain) UpdateProfile(ctx context.Context, acct, pin string, changed map[string]any) error {
	if c.update != nil {
		c.update(pin)
	}
	return c.Certain.UpdateProfile(ctx, acct, pin, changed)
}

// spyOn makes the executor use wrapped clients.
func spyOn(env *jobstest.Env, mk jobs.Marketo, ct jobs.Certain) {
	env.Executor.Connector = jobstest.StaticConnector{Clients: jobs.Clients{Marketo: mk, Certain: ct}, Account: jobstest.Account}
}

func seedNew(env *jobstest.Env, n int, prefix string) []string {
	var emails []string
	for i := range n {
		e := fmt.Sprintf("%s%04d@example.org", prefix, i)
		seedReg(env, map[string]any{"email": e, "firstName": fmt.Sprint("P", i)}, "Attended")
		emails = append(emails, e)
	}
	return emails
}

// TestSyncLeadsOverlapsMarketoAndCertain: the next batch goes to Marketo
// while this batch's write-backs are still in flight (stages overlap). The
// first write-back of the run holds until Marketo receives the second
// batch; a job that finished one batch before starting the next would
// keep it waiting.
func TestSyncLeadsOverlapsMarketoAndCertain(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	seedNew(env, 900, "o")
	env.PutJob(t, syncJob("s1", "Attended"))
	second := make(chan struct{})
	var once, first sync.Once
	calls := 0
	var mu sync.Mutex
	overlapped := false
	mk := spyMarketo{Marketo: env.MarketoClient, sync: func([]string) error {
		mu.Lock()
		calls++
		if calls == 2 {
			once.Do(func() { close(second) })
		}
		mu.Unlock()
		return nil
	}}
	ct := spyCertain{Certain: env.CertainClient, update: func(string) {
		first.Do(func() {
			select {
			case <-second:
				overlapped = true
			case <-time.After(gateTimeout):
			}
		})
	}}
	spyOn(env, mk, ct)
	run := env.RunJob(t, context.Background(), "s1")
	if run.Outcome != store.RunSucceeded || run.Counts[store.OutcomeCreated] != 900 {
		t.Fatalf("run %s %v %s; want succeeded, 900 created", run.Outcome, run.Counts, run.Error)
	}
	if !overlapped {
		t.Error("the second batch reached Marketo only after the first batch's write-backs: the stages did not overlap")
	}
	if n := run.Counts["profilesWrittenBack"]; n != 900 {
		t.Errorf("profilesWrittenBack = %d, want 900", n)
	}
}

// TestSyncLeadsSerialisesBatchesSharingAnEmail: batches run at once, but
// never two holding one e-mail address: the second waits for the first, so
// Marketo updates the lead the first created instead of creating another.
func TestSyncLeadsSerialisesBatchesSharingAnEmail(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	emails := seedNew(env, 600, "s")
	// The 301st registration (second batch) shares the first's address.
	seedReg(env, map[string]any{"email": strings.ToUpper(emails[0]), "firstName": "Twin"}, "Attended")
	for i := range 290 {
		seedReg(env, map[string]any{"email": fmt.Sprintf("t%04d@example.org", i), "firstName": "T"}, "Attended")
	}
	env.PutJob(t, syncJob("s1", "Attended"))
	var mu sync.Mutex
	inFlight := map[string]int{}
	var clash []string
	mk := spyMarketo{Marketo: env.MarketoClient, sync: func(es []string) error {
		mu.Lock()
		for _, e := range es {
			if inFlight[e] > 0 {
				clash = append(clash, e)
			}
			inFlight[e]++
		}
		mu.Unlock()
		time.Sleep(50 * time.Millisecond) // widen the window a clash would need
		mu.Lock()
		for _, e := range es {
			inFlight[e]--
		}
		mu.Unlock()
		return nil
	}}
	spyOn(env, mk, env.CertainClient)
	run := env.RunJob(t, context.Background(), "s1")
	if run.Outcome != store.RunSucceeded {
		t.Fatalf("run %s: %s", run.Outcome, run.Error)
	}
	if len(clash) > 0 {
		t.Errorf("Sync Leads calls holding the same e-mail ran at once: %v", clash)
	}
	if ids := leadsWithEmail(env, emails[0]); len(ids) != 1 {
		t.Errorf("%d Marketo leads hold %s, want 1", len(ids), emails[0])
	}
}

func leadsWithEmail(env *jobstest.Env, email string) []int {
	var ids []int
	for _, l := range env.Marketo.Leads() {
		if strings.EqualFold(l.Email(), email) {
			ids = append(ids, l.ID())
		}
	}
	return ids
}

// TestSyncLeadsCheckpointStaysBehindAFailedBatch: while batches run at
// once, one of them meets Marketo's daily quota; the others finish. The
// checkpoint never passes the failed batch (a checkpoint covers only work
// that is done), and the next run sends what is missing, each registration
// exactly once in all.
func TestSyncLeadsCheckpointStaysBehindAFailedBatch(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	emails := seedNew(env, 900, "c")
	env.PutJob(t, syncJob("s1", "Attended"))
	var mu sync.Mutex
	sent := map[string]int{}
	failing := true
	mk := spyMarketo{Marketo: env.MarketoClient, sync: func(es []string) error {
		mu.Lock()
		defer mu.Unlock()
		if failing && slices.Contains(es, emails[300]) {
			return fmt.Errorf("sync leads: %w", marketo.ErrDailyQuota)
		}
		for _, e := range es {
			sent[e]++
		}
		return nil
	}}
	spyOn(env, mk, env.CertainClient)
	ctx := context.Background()
	run := env.RunJob(t, ctx, "s1")
	if run.Outcome != store.RunQuota {
		t.Fatalf("first run %s (%s), want quota", run.Outcome, run.Error)
	}
	cp, err := env.Store.GetCheckpoint(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	var at struct{ StartIndex int }
	if err := json.Unmarshal(cp.Data, &at); err != nil {
		t.Fatal(err)
	}
	// Registration 300 is on the page starting at 200 (pages of 200).
	if at.StartIndex > 200 {
		t.Fatalf("checkpoint at %d passes the failed batch, whose first registration was read at offset 200", at.StartIndex)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	run = env.RunJob(t, ctx, "s1")
	if run.Outcome != store.RunSucceeded {
		t.Fatalf("second run %s: %s", run.Outcome, run.Error)
	}
	for _, e := range emails {
		if sent[e] != 1 {
			t.Fatalf("%s sent %d times over both runs, want 1", e, sent[e])
		}
	}
	if n := len(env.Marketo.Leads()); n != 900 {
		t.Fatalf("Marketo holds %d leads, want 900", n)
	}
}

// gatedStore wraps the harness's store: hold, when set, runs before each
// read of hashes with its keys.
type gatedStore struct {
	store.Store
	hold func(keys []string)
}

func (s gatedStore) GetHashes(ctx context.Context, scope string, keys []string) (map[string]string, error) {
	if s.hold != nil {
		s.hold(keys)
	}
	return s.Store.GetHashes(ctx, scope, keys)
}

func containsSuffix(keys []string, suffix string) bool {
	return slices.ContainsFunc(keys, func(k string) bool { return strings.HasSuffix(k, suffix) })
}

// TestMetricsBatchesClaimInCertainsOrder: metrics batches upload at once,
// but a custom object record two registrations share (one lead registered
// twice) still belongs to the first in Certain's order, even when the
// later one's batch is ready first: the first batch's read of its records'
// hashes is held until the second batch has read its own.
func TestMetricsBatchesClaimInCertainsOrder(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeEngagementMetrics, jobs.EngagementMetrics))
	engagementObject(env.Marketo, jobs.MetricSessionsRegistered, jobs.MetricSessionsAttended)
	seedLinked(env, 320)
	// R-00310 (second batch) is the same lead as R-00000 (first batch).
	var first, twin map[string]any
	for _, p := range env.Certain.Profiles(jobstest.Account) {
		switch p["email"] {
		case "att00000@example.org":
			first = p
		case "att00310@example.org":
			twin = p
		}
	}
	if err := env.CertainClient.UpdateProfile(context.Background(), jobstest.Account, fmt.Sprint(twin["pin"]), map[string]any{"externalKey": first["externalKey"]}); err != nil {
		t.Fatal(err)
	}
	lead0, lead1, lead311 := fmt.Sprint(first["externalKey"]), "", ""
	for _, l := range env.Marketo.Leads() {
		switch l.Email() {
		case "att00001@example.org":
			lead1 = fmt.Sprint(l.ID())
		case "att00311@example.org":
			lead311 = fmt.Sprint(l.ID())
		}
	}
	secondAsked := make(chan struct{})
	var once sync.Once
	env.Executor.Store = gatedStore{Store: env.Store, hold: func(keys []string) {
		switch {
		case containsSuffix(keys, ":"+lead311):
			once.Do(func() { close(secondAsked) })
		case containsSuffix(keys, ":"+lead1):
			select {
			case <-secondAsked:
				time.Sleep(100 * time.Millisecond) // room for the second batch to upload, were it allowed
			case <-time.After(gateTimeout):
				t.Error("the second batch never read its hashes while the first was held: batches did not run at once")
			}
		}
	}}
	env.PutJob(t, engagementJob("eng", config.ModuleAgenda))
	run := env.RunJob(t, context.Background(), "eng")
	if run.Outcome != store.RunSucceeded {
		t.Fatalf("run %s: %s", run.Outcome, run.Error)
	}
	for _, o := range env.Outcomes(t, run.ID) {
		if o.Key == "R-00310" && (o.Outcome != store.OutcomeSkipped || !strings.Contains(o.Reason, "R-00000")) {
			t.Errorf("R-00310 (lead %s, also R-00000's) = %s %q; want skipped, owned by R-00000", lead0, o.Outcome, o.Reason)
		}
		if o.Key == "R-00000" && o.Outcome != store.OutcomeCreated {
			t.Errorf("R-00000 = %s %q, want created (it owns the record)", o.Outcome, o.Reason)
		}
	}
}
