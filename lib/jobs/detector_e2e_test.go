package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// queue records sent changes, 10 per batch like SQS, and can fail the
// batches after the first failAfter.
type queue struct {
	mu        sync.Mutex
	got       []jobs.ChangeMessage
	failAfter int // batches accepted before failing; <0 never fails
	batches   int
}

func (q *queue) SendChanges(_ context.Context, msgs []jobs.ChangeMessage) ([]bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	sent := make([]bool, len(msgs))
	for start := 0; start < len(msgs); start += 10 {
		if q.failAfter >= 0 && q.batches >= q.failAfter {
			return sent, errors.New("queue unavailable")
		}
		q.batches++
		for i := start; i < min(start+10, len(msgs)); i++ {
			if _, err := msgs[i].Encode(); err != nil {
				return sent, err
			}
			q.got = append(q.got, msgs[i])
			sent[i] = true
		}
	}
	return sent, nil
}

func (q *queue) take() []jobs.ChangeMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	g := q.got
	q.got = nil
	return g
}

func TestDetectorEndToEnd(t *testing.T) {
	for _, dyn := range []bool{false, true} {
		t.Run(map[bool]string{false: "memstore", true: "dynamodb"}[dyn], func(t *testing.T) {
			env := newTriggerEnv(t, dyn)
			ctx := context.Background()
			q := &queue{failAfter: -1}
			d := &jobs.Detector{Store: env.Store, Sender: q, Now: env.Clock.Now,
				Connector: jobstest.StaticConnector{Clients: env.Clients, Account: jobstest.Account}}
			var codes []string
			for i := range 30 {
				_, c := seedReg(env.Env, map[string]any{"email": fmt.Sprintf("d%02d@example.org", i)}, "Invited")
				codes = append(codes, c)
			}
			env.PutJob(t, triggerJob("trig-d", nil))
			tick := func() (jobs.DetectorResult, error) {
				env.Clock.Advance(time.Minute)
				return d.Tick(ctx)
			}

			// First tick: baseline, nothing sent.
			res, err := tick()
			if err != nil || len(res.Scopes) != 1 || !res.Scopes[0].Baseline || res.Scopes[0].Read != 30 {
				t.Fatalf("baseline %+v, %v", res, err)
			}
			if got := q.take(); len(got) != 0 {
				t.Fatalf("baseline sent %d changes", len(got))
			}

			// One change: one message, with the right shape; not repeated by
			// the next ticks although it is inside the overlap.
			env.Certain.SetRegistrationStatus(jobstest.Account, syncEvent, codes[0], "Pre-Registered")
			if _, err := tick(); err != nil {
				t.Fatal(err)
			}
			got := q.take()
			if len(got) != 1 || got[0].RegistrationCode != codes[0] || got[0].PreviousStatus != "Invited" || got[0].NewStatus != "Pre-Registered" ||
				got[0].Account != jobstest.Account || got[0].Event != syncEvent || got[0].ChangedAt.IsZero() || got[0].Version != 1 {
				t.Fatalf("changes %+v", got)
			}
			for range 2 {
				if _, err := tick(); err != nil {
					t.Fatal(err)
				}
				if again := q.take(); len(again) != 0 {
					t.Fatalf("change re-sent: %+v", again)
				}
			}

			// 25 changes, and the queue fails after the first batch of 10:
			// the tick reports the error, the next tick sends the other 15,
			// and none is sent twice.
			for _, c := range codes[1:26] {
				env.Certain.SetRegistrationStatus(jobstest.Account, syncEvent, c, "Pre-Registered")
			}
			q.failAfter, q.batches = 1, 0
			if _, err := tick(); err == nil {
				t.Fatal("failed send not reported")
			}
			q.failAfter = -1
			if _, err := tick(); err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, m := range q.take() {
				seen[m.RegistrationCode]++
			}
			for _, c := range codes[1:26] {
				if seen[c] != 1 {
					t.Fatalf("registration %s sent %d times (all: %v)", c, seen[c], seen)
				}
			}
			if len(seen) != 25 {
				t.Fatalf("%d registrations sent, want 25", len(seen))
			}

			// A registration created after the baseline is a change from "".
			pin := env.Certain.AddProfile(jobstest.Account, map[string]any{"email": "late@example.org"})
			late := env.Certain.AddRegistration(jobstest.Account, syncEvent, pin, map[string]any{"registrationStatusLabel": "Pre-Registered"})
			if _, err := tick(); err != nil {
				t.Fatal(err)
			}
			if got := q.take(); len(got) != 1 || got[0].RegistrationCode != late || got[0].PreviousStatus != "" {
				t.Fatalf("new registration: %+v", got)
			}
		})
	}
}

// TestDetectorEmptyEventBaseline: an event with no registrations yet still
// gets a baseline, so its first registrations are reported.
func TestDetectorEmptyEventBaseline(t *testing.T) {
	env := newTriggerEnv(t, false)
	ctx := context.Background()
	q := &queue{failAfter: -1}
	d := &jobs.Detector{Store: env.Store, Sender: q, Now: env.Clock.Now,
		Connector: jobstest.StaticConnector{Clients: env.Clients, Account: jobstest.Account}}
	env.PutJob(t, triggerJob("trig-e", nil))
	if _, err := d.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Minute)
	_, code := seedReg(env.Env, map[string]any{"email": "first@example.org"}, "Invited")
	if _, err := d.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := q.take(); len(got) != 1 || got[0].RegistrationCode != code {
		t.Fatalf("changes %+v", got)
	}
}

// TestDetectorEmitBaseline: with EmitBaseline the first run reports every
// registration as a change from "".
func TestDetectorEmitBaseline(t *testing.T) {
	env := newTriggerEnv(t, false)
	q := &queue{failAfter: -1}
	d := &jobs.Detector{Store: env.Store, Sender: q, Now: env.Clock.Now, EmitBaseline: true,
		Connector: jobstest.StaticConnector{Clients: env.Clients, Account: jobstest.Account}}
	env.PutJob(t, triggerJob("trig-b", nil))
	for i := range 3 {
		seedReg(env.Env, map[string]any{"email": fmt.Sprintf("b%d@example.org", i)}, "Attended")
	}
	if _, err := d.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := q.take()
	if len(got) != 3 {
		t.Fatalf("%d changes, want 3", len(got))
	}
	for _, m := range got {
		if m.PreviousStatus != "" || m.NewStatus != "Attended" {
			t.Fatalf("change %+v", m)
		}
	}
}
