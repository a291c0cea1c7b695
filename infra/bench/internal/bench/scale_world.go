package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dyntypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/secrets"
	"github.com/certain-marketo/certain-marketo/lib/store/memstore"
	"github.com/certain-marketo/certain-marketo/lib/testkit/memqueue"
)

// scaleWorld is N accounts (each its own Marketo instance, one Certain
// tenant for all) with M events each, every event watched by a
// trigger-campaign job and synced by a sync-leads job; the three queues
// (sync-leads work, detector work, registration changes) in memory
// (lib/testkit/memqueue: SQS's delays, visibility and partial batch
// responses); and the Marketo and Certain budgets shared through DynamoDB
// (memDynamo, or moto_server), as deployed.
type scaleWorld struct {
	o       ScaleOptions
	marketo []*marketotest.Server
	mkHTTP  []*httptest.Server
	certain *certaintest.Server
	store   *slowStore
	broker  *memqueue.Broker
	budgets limit.Factory
	secrets secrets.Static
	queues  map[string]*memqueue.Queue // "sync", "detector", "changes"
	log     *slog.Logger

	budgetDB *countingDB

	mu       sync.Mutex
	polls    int
	lastPoll time.Time
}

func scaleAccount(i int) string { return fmt.Sprintf("ACME%02d", i+1) }
func scaleEvent(i int) string   { return fmt.Sprintf("EV%03d", i+1) }

// scaleChanged is the registration of each event whose status changes
// (Invited -> Pre-Registered) between the detector's baseline and t0.
func scaleChanged(ev string) string { return "R-" + ev + "-X" }

// scaleQueues are the queues' settings as template.yaml declares them:
// visibility timeout and maxReceiveCount.
var scaleQueues = []struct {
	name        string
	visibility  time.Duration
	maxReceives int
}{
	{"sync", 5400 * time.Second, 10},
	{"detector", 360 * time.Second, 5},
	{"changes", 900 * time.Second, 5},
}

func newScaleWorld(ctx context.Context, o ScaleOptions, ddb limit.DynamoAPI, table string) (*scaleWorld, error) {
	w := &scaleWorld{o: o, broker: memqueue.NewBroker(nil), secrets: secrets.Static{}, queues: map[string]*memqueue.Queue{},
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	w.budgetDB = &countingDB{DynamoAPI: ddb}
	w.budgets = limit.Factory{Mode: limit.ModeShared, DB: w.budgetDB, Table: table}
	w.store = &slowStore{Store: memstore.New(), delay: o.StoreDelay}
	w.certain = certaintest.NewServer(nil, certaintest.WithLatencyRange(o.CertainLatencyMin, o.CertainLatencyMax))
	for _, qs := range scaleQueues {
		q := w.broker.Queue("scale-" + qs.name)
		q.Visibility, q.MaxReceives = qs.visibility, qs.maxReceives
		w.queues[qs.name] = q
	}
	cb, _ := json.Marshal(map[string]string{"username": w.certain.Username(), "password": w.certain.Password()})
	w.secrets["certain"] = string(cb)
	for a := range o.Accounts {
		if err := w.seedAccount(ctx, a); err != nil {
			w.close()
			return nil, err
		}
	}
	return w, nil
}

// seedAccount gives account a its Marketo instance, its Certain events and
// registrations, its connection and its two jobs per event.
func (w *scaleWorld) seedAccount(ctx context.Context, a int) error {
	acct := scaleAccount(a)
	mk := marketotest.NewUnstarted(marketotest.WithRateLimit(CallsPer20s, 20*time.Second), marketotest.WithConcurrencyLimit(Concurrent),
		marketotest.WithLatency(w.o.MarketoLatencyMin))
	spread := max(w.o.MarketoLatencyMax-w.o.MarketoLatencyMin, 0)
	hs := httptest.NewServer(&latencyHandler{next: mk, clock: marketotest.NewFastClock(1), spread: spread, rng: rand.New(rand.NewPCG(uint64(a), 11))})
	mk.URL = hs.URL
	w.marketo, w.mkHTTP = append(w.marketo, mk), append(w.mkHTTP, hs)
	mk.AddCampaign(marketotest.Campaign{ID: triggerCampaign, Name: "Registered", Type: "trigger", Active: true, Requestable: true})
	mb, _ := json.Marshal(map[string]string{"baseURL": hs.URL, "clientId": mk.ClientID(), "clientSecret": mk.ClientSecret()})
	w.secrets["marketo-"+acct] = string(mb)
	w.certain.AddAccount(acct)
	conn := config.Connection{Account: acct, CertainBaseURL: w.certain.URL, CertainSecret: "certain", MarketoSecret: "marketo-" + acct,
		AllowHTTP: true, CertainFields: w.certain.Fields(), FieldMapping: []config.FieldMap{
			{Certain: "email", Marketo: "email"}, {Certain: "firstName", Marketo: "firstName"}, {Certain: "lastName", Marketo: "lastName"}}}
	if err := w.store.PutConnection(ctx, conn); err != nil {
		return fmt.Errorf("connection %s: %w", acct, err)
	}
	for e := range w.o.Events {
		ev := scaleEvent(e)
		w.certain.AddEvent(acct, map[string]any{"eventCode": ev, "eventName": "Event " + ev})
		for r := range w.o.Registrations {
			code, status := fmt.Sprintf("R-%s-%d", ev, r), "Pre-Registered"
			if r == 0 {
				code, status = scaleChanged(ev), "Invited"
			}
			pin := w.certain.AddProfile(acct, map[string]any{"email": fmt.Sprintf("%s.%s.%d@scale.example", acct, ev, r),
				"firstName": "Ada", "lastName": strconv.Itoa(r)})
			w.certain.AddRegistration(acct, ev, pin, map[string]any{"registrationCode": code, "registrationStatusLabel": status})
		}
		for _, j := range []config.Job{
			{ID: "sync-" + acct + "-" + ev, Type: config.TypeSyncLeads, Params: config.Params{Statuses: []string{"Pre-Registered", "Invited"}}},
			{ID: "trig-" + acct + "-" + ev, Type: config.TypeTriggerCampaign, Params: config.Params{CampaignID: triggerCampaign, ToStatus: "Pre-Registered", FromStatus: "Invited",
				Tokens: []config.TokenSpec{{Name: "{{my.EventName}}", Value: "Event " + ev}}}},
		} {
			j.Account, j.Event, j.Name, j.Enabled = acct, ev, j.ID, true
			j.Schedule = config.Schedule{Interval: config.Duration(time.Hour)}
			if err := w.store.PutJob(ctx, j); err != nil {
				return fmt.Errorf("job %s: %w", j.ID, err)
			}
		}
	}
	return nil
}

func (w *scaleWorld) close() {
	for _, hs := range w.mkHTTP {
		hs.CloseClientConnections()
		hs.Close()
	}
	if w.certain != nil {
		w.certain.Close()
	}
}

// process is one Lambda instance of one function: its own connector
// (clients, budgets' local state) over the shared store, queues and
// budget items.
type process struct {
	h    lambda.Handler
	conn *app.Connector
}

func (w *scaleWorld) connector() *app.Connector {
	hc := httpClient()
	return &app.Connector{Secrets: secrets.New(w.secrets, app.SecretsTTL, nil), HTTPClient: hc, Logger: w.log,
		Budgets: app.Budgets(w.budgets), CertainBudgets: app.CertainBudgets(w.budgets)}
}

func (w *scaleWorld) workQueue(name string) *app.WorkQueue {
	return &app.WorkQueue{Client: w.broker, QueueURL: w.queues[name].URL}
}

// syncProcess is an instance of the sync-leads function.
func (w *scaleWorld) syncProcess() process {
	c := w.connector()
	q := w.workQueue("sync")
	ex := &jobs.Executor{Store: w.store, Connector: c, Logger: w.log, Margin: 90 * time.Second, Queue: q,
		Funcs: map[string]jobs.JobFunc{config.TypeSyncLeads: jobs.SyncLeads}}
	return process{h: lambda.NewHandler(app.JobHandler(ex, q, w.log, config.TypeSyncLeads)), conn: c}
}

// detectorProcess is an instance of registration-changes.
func (w *scaleWorld) detectorProcess() process {
	c := w.connector()
	d := &jobs.Detector{Store: w.store, Connector: c, Logger: w.log, Margin: 8 * time.Second, Queue: w.workQueue("detector"),
		Sender: &app.SQSSender{Client: w.broker, QueueURL: w.queues["changes"].URL}}
	return process{h: lambda.NewHandler(app.DetectorHandler(&timedPoller{Detector: d, w: w}, app.Telemetry{}, w.log)), conn: c}
}

// timedPoller notes when each scope poll ends.
type timedPoller struct {
	*jobs.Detector
	w *scaleWorld
}

func (p *timedPoller) PollScope(ctx context.Context, m jobs.ScopeMessage) (jobs.ScopeResult, error) {
	sr, err := p.Detector.PollScope(ctx, m)
	if err == nil && sr.Skipped == "" {
		p.w.polled(time.Now())
	}
	return sr, err
}

// polled records a poll's end.
func (w *scaleWorld) polled(at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.polls++
	if at.After(w.lastPoll) {
		w.lastPoll = at
	}
}

// takePolls returns the polls since the last call and when the last ended.
func (w *scaleWorld) takePolls() (int, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, at := w.polls, w.lastPoll
	w.polls = 0
	return n, at
}

// triggerProcess is an instance of trigger-campaign.
func (w *scaleWorld) triggerProcess() process {
	c := w.connector()
	tr := &jobs.Trigger{Store: w.store, Connector: c, Logger: w.log, Margin: 15 * time.Second}
	post := &app.Postponer{Client: w.broker, QueueURL: w.queues["changes"].URL}
	return process{h: lambda.NewHandler(app.SQSChangeHandler(tr, w.log, post)), conn: c}
}

// itemSerial serialises the budget's DynamoDB calls per item, as DynamoDB
// applies conditional writes atomically per item while moto_server does
// not (see awstest.Serial, which serialises every call: here unrelated
// items would wait for each other, which DynamoDB does not make them do).
type itemSerial struct {
	db    limit.DynamoAPI
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func (s *itemSerial) lock(key map[string]dyntypes.AttributeValue) func() {
	pk, _ := key["pk"].(*dyntypes.AttributeValueMemberS)
	k := ""
	if pk != nil {
		k = pk.Value
	}
	s.mu.Lock()
	if s.locks == nil {
		s.locks = map[string]*sync.Mutex{}
	}
	l, ok := s.locks[k]
	if !ok {
		l = &sync.Mutex{}
		s.locks[k] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (s *itemSerial) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	defer s.lock(in.Key)()
	return s.db.GetItem(ctx, in, o...)
}

func (s *itemSerial) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	defer s.lock(in.Item)()
	return s.db.PutItem(ctx, in, o...)
}

func (s *itemSerial) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	defer s.lock(in.Key)()
	return s.db.UpdateItem(ctx, in, o...)
}
