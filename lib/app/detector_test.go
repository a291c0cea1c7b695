package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
	"github.com/certain-marketo/certain-marketo/lib/testkit/memqueue"
)

// The detector under the real handler: a tick queues one message per
// watched scope on its work queue; the queue's batches poll the scopes
// (concurrently), and the changes found go to the change queue, once.
func TestDetectorHandlerFansOutScopes(t *testing.T) {
	env := jobstest.New(t)
	ctx := context.Background()
	b := memqueue.NewBroker(env.Clock.Now)
	work, changes := b.Queue("detector-work"), b.Queue("changes")
	var events2 []string
	for i := range 12 {
		ev := fmt.Sprintf("EV%02d", i)
		events2 = append(events2, ev)
		env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": ev, "eventName": ev})
		pin := env.Certain.AddProfile(jobstest.Account, map[string]any{"email": fmt.Sprintf("p%02d@example.org", i)})
		env.Certain.AddRegistration(jobstest.Account, ev, pin, map[string]any{"registrationCode": "R-" + ev, "registrationStatusLabel": "Invited"})
		env.PutJob(t, config.Job{ID: "trig-" + ev, Account: jobstest.Account, Event: ev, Type: config.TypeTriggerCampaign, Name: ev, Enabled: true,
			Schedule: config.Schedule{Interval: config.Duration(time.Hour)}, Params: config.Params{CampaignID: 5150, ToStatus: "Pre-Registered"}})
	}
	d := &jobs.Detector{Store: env.Store, Now: env.Clock.Now, Connector: jobstest.StaticConnector{Clients: env.Clients, Account: jobstest.Account},
		Queue:  &app.WorkQueue{Client: b, QueueURL: work.URL, Now: env.Clock.Now},
		Sender: &app.SQSSender{Client: b, QueueURL: changes.URL}}
	var metrics bytes.Buffer
	h := lambda.NewHandler(app.DetectorHandler(d, app.Telemetry{W: &metrics}, nil))
	tick := func() {
		t.Helper()
		env.Clock.Advance(time.Minute)
		out, err := h.Invoke(ctx, readEvent(t, "schedule-tick-registration-changes.json"))
		if err != nil {
			t.Fatal(err)
		}
		var res jobs.ScopeDispatch
		if err := json.Unmarshal(out, &res); err != nil || res.Scopes != 12 || res.Queued != 12 {
			t.Fatalf("tick answered %s (%v), want 12 scopes queued", out, err)
		}
	}
	deliver := func() (polled int) {
		t.Helper()
		for {
			ev := work.Receive(app.DetectorPollsAtOnce)
			if len(ev.Records) == 0 {
				return polled
			}
			raw, _ := json.Marshal(ev)
			out, err := h.Invoke(ctx, raw)
			if err != nil {
				t.Fatal(err)
			}
			var resp events.SQSEventResponse
			if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("batch answered %s, %v; want no failures", out, err)
			}
			work.Settle(ev, resp)
			polled += len(ev.Records)
		}
	}
	tick()
	if n := deliver(); n != 12 || changes.Len() != 0 {
		t.Fatalf("baseline: %d scope messages handled, %d changes; want 12 and none", n, changes.Len())
	}
	for _, ev := range events2[:5] {
		env.Certain.SetRegistrationStatus(jobstest.Account, ev, "R-"+ev, "Pre-Registered")
	}
	tick()
	// The same tick's messages delivered twice (at-least-once).
	for _, body := range work.Bodies() {
		work.Send(body, 0)
	}
	if n := deliver(); n != 24 {
		t.Fatalf("%d scope messages handled, want 24", n)
	}
	got := map[string]int{}
	for _, body := range changes.Bodies() {
		c, err := jobs.DecodeChange([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		got[c.Event]++
	}
	if len(got) != 5 {
		t.Fatalf("changes queued per event %v, want one for each of the 5 changed events", got)
	}
	for ev, n := range got {
		if n != 1 {
			t.Errorf("event %s: %d changes queued, want 1", ev, n)
		}
	}
	if !strings.Contains(metrics.String(), `"DetectorTicksCompleted":1`) || !strings.Contains(metrics.String(), `"DetectorScopesSkipped":`) {
		t.Errorf("metrics lack the tick's heartbeat or the skipped copies:\n%s", metrics.String())
	}
}

type stubPoller struct {
	ticks int
	polls []jobs.ScopeMessage
	err   error
}

func (s *stubPoller) DispatchScopes(context.Context) (jobs.ScopeDispatch, error) {
	s.ticks++
	return jobs.ScopeDispatch{Scopes: 1, Queued: 1}, s.err
}

func (s *stubPoller) PollScope(_ context.Context, m jobs.ScopeMessage) (jobs.ScopeResult, error) {
	s.polls = append(s.polls, m)
	return jobs.ScopeResult{Account: m.Account, Event: m.Event, Error: "boom"}, fmt.Errorf("detector %s/%s: boom", m.Account, m.Event)
}

func TestDetectorHandlerPayloads(t *testing.T) {
	st := &stubPoller{}
	h := lambda.NewHandler(app.DetectorHandler(st, app.Telemetry{}, nil))
	for _, ok := range []string{`{}`, `null`, `{"scheduledTime":"2026-04-01T08:05:00Z"}`} {
		if _, err := h.Invoke(context.Background(), []byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		`{"jobType":"sync-leads"}`:      "serves",
		`{"scheduledTime":"yesterday"}`: "RFC 3339",
		`{"jobId":"summit-sync"}`:       "unknown field",
		`[1]`:                           "invalid registration-changes payload",
	} {
		if _, err := h.Invoke(context.Background(), []byte(bad)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", bad, err, want)
		}
	}
	if st.ticks != 3 {
		t.Fatalf("%d ticks, want 3 (the accepted payloads)", st.ticks)
	}
	// A tick that could not queue every scope is the invocation's error.
	st.err = fmt.Errorf("detector: queued 0 of 1 scopes: boom")
	if _, err := h.Invoke(context.Background(), []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("dispatch error not returned: %v", err)
	}
	// A batch: the malformed message fails; the failing poll does not (the
	// next tick polls the scope again).
	ev := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: `{"version":1,"account":"ACME","event":"HS26","tick":"2026-04-01T08:05:00Z"}`},
		{MessageId: "m2", Body: `{"version":1,"account":"ACME"}`},
	}}
	raw, _ := json.Marshal(ev)
	out, err := h.Invoke(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m2" || len(st.polls) != 1 {
		t.Fatalf("batch answered %s (%d polls), want only m2 failed and m1 polled", out, len(st.polls))
	}
}
