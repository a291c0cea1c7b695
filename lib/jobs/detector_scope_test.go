package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// scopeQueue records the scope messages a tick queues.
type scopeQueue struct {
	mu  sync.Mutex
	got []jobs.ScopeMessage
}

func (q *scopeQueue) SendScopes(_ context.Context, msgs []jobs.ScopeMessage) ([]bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ok := make([]bool, len(msgs))
	for i, m := range msgs {
		if _, err := m.Encode(); err != nil {
			return ok, err
		}
		q.got = append(q.got, m)
		ok[i] = true
	}
	return ok, nil
}

func (q *scopeQueue) take() []jobs.ScopeMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	g := q.got
	q.got = nil
	return g
}

// The tick queues the accounts' scopes in turn, a batch (ten) of one
// account at a time, so the first batches spread over the accounts'
// Certain budgets and each polls one account.
func TestDetectorDispatchTakesAccountsInTurn(t *testing.T) {
	env := newTriggerEnv(t, false)
	sq := &scopeQueue{}
	d := &jobs.Detector{Store: env.Store, Sender: &queue{failAfter: -1}, Queue: sq, Now: env.Clock.Now,
		Connector: jobstest.StaticConnector{Clients: env.Clients, Account: jobstest.Account}}
	var want []string
	put := func(acct string, events int) {
		for e := range events {
			j := triggerJob(fmt.Sprintf("trig-%s-%02d", acct, e), nil)
			j.Account, j.Event = acct, fmt.Sprintf("E%02d", e)
			env.PutJob(t, j)
		}
	}
	put("A", 23)
	put("B", 12)
	put("C", 3)
	for _, run := range []struct {
		acct     string
		from, to int
	}{{"A", 0, 10}, {"B", 0, 10}, {"C", 0, 3}, {"A", 10, 20}, {"B", 10, 12}, {"A", 20, 23}} {
		for e := run.from; e < run.to; e++ {
			want = append(want, fmt.Sprintf("%s/E%02d", run.acct, e))
		}
	}
	res, err := d.DispatchScopes(context.Background())
	if err != nil || res.Queued != len(want) {
		t.Fatalf("dispatch = %+v, %v; want %d scopes queued", res, err, len(want))
	}
	var got []string
	for _, m := range sq.take() {
		got = append(got, m.Account+"/"+m.Event)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("queued\n%s\nwant\n%s", strings.Join(got, ","), strings.Join(want, ","))
	}
}

// A tick queues one message per watched scope; each message polls its
// scope once, however many copies arrive at once, and a change found is
// sent once.
func TestDetectorScopesFanOut(t *testing.T) {
	env := newTriggerEnv(t, false)
	ctx := context.Background()
	changes := &queue{failAfter: -1}
	sq := &scopeQueue{}
	d := &jobs.Detector{Store: env.Store, Sender: changes, Queue: sq, Now: env.Clock.Now,
		Connector: jobstest.StaticConnector{Clients: env.Clients, Account: jobstest.Account}}
	var codes []string
	for i := range 12 {
		_, c := seedReg(env.Env, map[string]any{"email": fmt.Sprintf("s%02d@example.org", i)}, "Invited")
		codes = append(codes, c)
	}
	env.PutJob(t, triggerJob("trig-a", nil))
	env.PutJob(t, triggerJob("trig-b", func(p *config.Params) { p.CampaignID = campaignID })) // the same scope again
	off := triggerJob("trig-off", nil)
	off.Enabled, off.Event = false, "OTHER"
	env.PutJob(t, off)

	tick := func() []jobs.ScopeMessage {
		t.Helper()
		env.Clock.Advance(time.Minute)
		res, err := d.DispatchScopes(ctx)
		if err != nil || res.Scopes != 1 || res.Queued != 1 {
			t.Fatalf("dispatch = %+v, %v; want the one watched scope queued", res, err)
		}
		msgs := sq.take()
		if len(msgs) != 1 || msgs[0].Account != jobstest.Account || msgs[0].Event != syncEvent || !msgs[0].Tick.Equal(env.Clock.Now()) {
			t.Fatalf("queued %+v, want one message for %s/%s at the tick", msgs, jobstest.Account, syncEvent)
		}
		return msgs
	}
	// The baseline.
	base := tick()[0]
	sr, err := d.PollScope(ctx, base)
	if err != nil || !sr.Baseline || sr.Read != 12 || sr.Sent != 0 {
		t.Fatalf("baseline poll = %+v, %v", sr, err)
	}
	// Polled since that tick: a copy does nothing.
	if again, err := d.PollScope(ctx, base); err != nil || again.Skipped != "polled since this tick" || again.Read != 0 {
		t.Fatalf("a copy of the baseline message = %+v, %v; want skipped", again, err)
	}

	// Two registrations change; five copies of the next message at once.
	env.Certain.SetRegistrationStatus(jobstest.Account, syncEvent, codes[0], "Pre-Registered")
	env.Certain.SetRegistrationStatus(jobstest.Account, syncEvent, codes[1], "Pre-Registered")
	m := tick()[0]
	var wg sync.WaitGroup
	results := make([]jobs.ScopeResult, 5)
	for i := range results {
		wg.Go(func() {
			r, err := d.PollScope(ctx, m)
			if err != nil {
				t.Errorf("copy %d: %v", i, err)
			}
			results[i] = r
		})
	}
	wg.Wait()
	polled, sent := 0, 0
	for _, r := range results {
		if r.Skipped == "" {
			polled++
		}
		sent += r.Sent
	}
	if polled != 1 || sent != 2 {
		t.Fatalf("5 copies: %d polled, %d changes sent (%+v); want 1 poll sending 2", polled, sent, results)
	}
	got := changes.take()
	if len(got) != 2 {
		t.Fatalf("changes queued %+v, want 2", got)
	}
	for _, c := range got {
		if c.NewStatus != "Pre-Registered" || (c.RegistrationCode != codes[0] && c.RegistrationCode != codes[1]) {
			t.Errorf("change %+v, want one of the two changed registrations", c)
		}
	}
}

// A scope being polled is skipped by another message until its lease ends;
// a poll that fails releases the scope, and the next tick polls it.
func TestDetectorScopeLeaseAndFailure(t *testing.T) {
	env := newTriggerEnv(t, false)
	ctx := context.Background()
	sq := &scopeQueue{}
	d := &jobs.Detector{Store: env.Store, Sender: &queue{failAfter: -1}, Queue: sq, Now: env.Clock.Now,
		Connector: jobstest.StaticConnector{Clients: env.Clients, Account: jobstest.Account}}
	env.PutJob(t, triggerJob("trig", nil))
	seedReg(env.Env, map[string]any{"email": "l@example.org"}, "Invited")
	s := jobs.Scope{Account: jobstest.Account, Event: syncEvent}
	key := "detector:" + s.String()
	// Another invocation holds the scope.
	if ok, err := env.Store.ClaimJob(ctx, key, "other", 0, env.Clock.Now().Add(2*time.Minute), env.Clock.Now()); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	env.Clock.Advance(time.Second)
	m := jobs.ScopeMessage{Version: 1, Account: s.Account, Event: s.Event, Tick: env.Clock.Now()}
	if sr, err := d.PollScope(ctx, m); err != nil || sr.Skipped != "being polled by another invocation" {
		t.Fatalf("poll while leased = %+v, %v; want skipped", sr, err)
	}
	// The lease expires (its holder died): the next tick's message polls.
	env.Clock.Advance(3 * time.Minute)
	m.Tick = env.Clock.Now()
	if sr, err := d.PollScope(ctx, m); err != nil || sr.Skipped != "" || !sr.Baseline {
		t.Fatalf("poll after the lease expired = %+v, %v; want the baseline", sr, err)
	}
	// The account's connection goes: the poll fails, naming the scope, and
	// releases the lease.
	bad := &jobs.Detector{Store: env.Store, Sender: &queue{failAfter: -1}, Now: env.Clock.Now,
		Connector: jobstest.StaticConnector{Clients: env.Clients, Account: "SOMEONE-ELSE"}}
	env.Clock.Advance(time.Minute)
	m.Tick = env.Clock.Now()
	sr, err := bad.PollScope(ctx, m)
	if err == nil || !strings.Contains(err.Error(), s.String()) || sr.Error == "" {
		t.Fatalf("failing poll = %+v, %v; want an error naming %s", sr, err, s)
	}
	if st, _ := env.Store.GetJobState(ctx, key); st.LeaseUntil.After(env.Clock.Now()) || st.LastOutcome != "failed" {
		t.Fatalf("scope state after a failed poll %+v, want released, outcome failed", st)
	}
	env.Clock.Advance(time.Minute)
	m.Tick = env.Clock.Now()
	if sr, err := d.PollScope(ctx, m); err != nil || sr.Skipped != "" {
		t.Fatalf("the next tick's poll = %+v, %v; want polled", sr, err)
	}
}

func TestDecodeScope(t *testing.T) {
	m, err := jobs.DecodeScope([]byte(`{"version":1,"account":"ACME","event":"HS26","tick":"2026-04-01T08:03:00Z"}`))
	if err != nil || m.Account != "ACME" || m.Event != "HS26" || m.Tick.IsZero() {
		t.Fatalf("DecodeScope = %+v, %v", m, err)
	}
	for body, want := range map[string]string{
		`{"version":1,"account":"ACME","event":"HS26"}`:                                  "tick is required",
		`{"version":1,"account":"","event":"HS26","tick":"2026-04-01T08:03:00Z"}`:        "account is required",
		`{"version":3,"account":"A","event":"E","tick":"2026-04-01T08:03:00Z"}`:          "version 3",
		`{"version":1,"account":"A","event":"E","tick":"2026-04-01T08:03:00Z","x":true}`: "unknown field",
	} {
		if _, err := jobs.DecodeScope([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeScope(%s) = %v, want %q", body, err, want)
		}
	}
}
