package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/secrets"
	"github.com/certain-marketo/certain-marketo/lib/store/dynamostore"
	"github.com/certain-marketo/certain-marketo/lib/store/memstore"
	"github.com/certain-marketo/certain-marketo/lib/testkit/awstest"
	"github.com/certain-marketo/certain-marketo/lib/testkit/memqueue"
)

// TestDetectorFanOutStaysWithinTheCertainBudget: one tick queues 24 watched
// events of one account; four detector processes (Lambda instances, each
// with its own clients) poll them at once, ten at a time each. With the
// shared budget in the state table, the account's Certain tenant never sees
// more than the connection's certainBudget.concurrent (3) calls at once,
// and every event is polled. With a budget per process (the in-process
// mode) the same fan-out goes past it: the bound is the shared budget's.
func TestDetectorFanOutStaysWithinTheCertainBudget(t *testing.T) {
	m := awstest.StartMoto(t)
	cfg := m.Config(t)
	names := dynamostore.TableNames{Config: "cm-config", State: "cm-state"}
	if err := awstest.CreateTables(context.Background(), cfg, names); err != nil {
		t.Fatal(err)
	}
	db := awstest.NewSerial(dynamodb.NewFromConfig(cfg))
	shared := app.CertainBudgets(limit.Factory{Mode: limit.ModeShared, DB: db, Table: names.State})
	peak, polled := detectorFanOut(t, shared)
	if peak > 3 || polled != 24 {
		t.Fatalf("shared budget: the tenant saw %d calls at once and %d of 24 events were polled; want at most 3 and all", peak, polled)
	}
	t.Logf("shared budget: peak %d in flight", peak)
	peak, polled = detectorFanOut(t, app.InProcessCertainBudgets)
	if peak <= 3 || polled != 24 {
		t.Fatalf("a budget per process: peak %d, %d polled; want more than 3 at once (else this test cannot tell the bound)", peak, polled)
	}
	t.Logf("a budget per process: peak %d in flight", peak)
}

// detectorFanOut runs one tick and four processes polling its messages; it
// returns the tenant's peak calls in flight and the events polled.
func detectorFanOut(t *testing.T, budgets app.CertainBudgetFactory) (peak, polled int) {
	t.Helper()
	ctx := context.Background()
	mk := marketotest.NewServer(t)
	ce := certaintest.NewServer(t, certaintest.WithLatency(40*time.Millisecond))
	ce.AddAccount("ACME")
	st := memstore.New()
	sec := secrets.Static{}
	b, _ := json.Marshal(map[string]string{"baseURL": mk.URL, "clientId": mk.ClientID(), "clientSecret": mk.ClientSecret()})
	sec["m"] = string(b)
	b, _ = json.Marshal(map[string]string{"username": ce.Config().Username, "password": ce.Config().Password})
	sec["c"] = string(b)
	conn := config.Connection{Account: "ACME", CertainBaseURL: ce.URL, CertainSecret: "c", MarketoSecret: "m", AllowHTTP: true,
		CertainFields: ce.Fields(), CertainBudget: config.CertainBudget{Concurrent: 3, CallsPerSecond: 1000},
		FieldMapping: []config.FieldMap{{Certain: "email", Marketo: "email"}}}
	if err := st.PutConnection(ctx, conn); err != nil {
		t.Fatal(err)
	}
	for i := range 24 {
		ev := fmt.Sprintf("EV%02d", i)
		ce.AddEvent("ACME", map[string]any{"eventCode": ev, "eventName": ev})
		for r := range 3 {
			pin := ce.AddProfile("ACME", map[string]any{"email": fmt.Sprintf("p%02d-%d@example.org", i, r)})
			ce.AddRegistration("ACME", ev, pin, map[string]any{"registrationCode": fmt.Sprintf("R-%s-%d", ev, r), "registrationStatusLabel": "Invited"})
		}
		if err := st.PutJob(ctx, config.Job{ID: "trig-" + ev, Account: "ACME", Event: ev, Type: config.TypeTriggerCampaign, Name: ev, Enabled: true,
			Schedule: config.Schedule{Interval: config.Duration(time.Hour)}, Params: config.Params{CampaignID: 5150, ToStatus: "Pre-Registered"}}); err != nil {
			t.Fatal(err)
		}
	}
	broker := memqueue.NewBroker(nil)
	work, changes := broker.Queue("detector-work"), broker.Queue("changes")
	var procs []lambda.Handler
	var conns []*app.Connector
	for range 4 {
		c := &app.Connector{Secrets: secrets.New(sec, app.SecretsTTL, nil), Budgets: app.InProcessBudgets, CertainBudgets: budgets}
		conns = append(conns, c)
		d := &jobs.Detector{Store: st, Connector: c, Queue: &app.WorkQueue{Client: broker, QueueURL: work.URL},
			Sender: &app.SQSSender{Client: broker, QueueURL: changes.URL}}
		procs = append(procs, lambda.NewHandler(app.DetectorHandler(d, app.Telemetry{}, nil)))
	}
	if _, err := procs[0].Invoke(ctx, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, h := range procs {
		wg.Go(func() {
			defer func() { _ = conns[i].ReleaseBudgets(ctx) }()
			for {
				ev := work.Receive(app.DetectorPollsAtOnce)
				if len(ev.Records) == 0 {
					return
				}
				raw, _ := json.Marshal(ev)
				out, err := h.Invoke(ctx, raw)
				var resp events.SQSEventResponse
				if err == nil {
					err = json.Unmarshal(out, &resp)
				}
				if err != nil || len(resp.BatchItemFailures) > 0 {
					t.Errorf("process %d: %v %+v", i, err, resp)
					return
				}
				work.Settle(ev, resp)
			}
		})
	}
	wg.Wait()
	for i := range 24 {
		if _, ok, _ := st.GetWatermark(ctx, jobs.DetectorScope("ACME", fmt.Sprintf("EV%02d", i))); ok {
			polled++
		}
	}
	return ce.LimitStats().PeakInFlight["ACME"], polled
}
