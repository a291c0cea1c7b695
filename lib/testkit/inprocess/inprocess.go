// Package local runs the whole product in one process, on the two simulators
// and the embedded store, through the same handler code the Lambdas use.
//
// It exists so that `make demo`, benchmarks and end-to-end tests exercise the
// real wiring (app.JobHandler, app.DetectorHandler, app.SQSChangeHandler,
// app.WorkQueue, the secrets manager and app.Connector) rather than a test
// shortcut: only the AWS services are replaced, by the embedded store, a
// static secret source, an in-memory change queue and in-memory work queues
// (memqueue), one per function as the template declares them; Deliver plays
// each work queue's event source mapping. Everything runs on the wall
// clock, as a deployed function does.
package inprocess

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/secrets"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/memstore"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
	"github.com/certain-marketo/certain-marketo/lib/testkit/memqueue"
)

// Function names, as the directories under functions/ name them.
const (
	FnImportLeads         = "import-leads"
	FnTriggerCampaign     = "trigger-campaign"
	FnSyncLeads           = "sync-leads"
	FnEngagementMetrics   = "engagement-metrics"
	FnInterestMetrics     = "interest-metrics"
	FnRegistrationChanges = "registration-changes"
)

// Options configures Start.
type Options struct {
	// Data is seeded into both simulators; nil means demodata.Demo().
	Data *demodata.Dataset
	// Logger receives the functions' logs; nil discards them.
	Logger *slog.Logger
	// Jobs are stored with the connection; nil means demodata.DemoJobs(Data).
	Jobs []config.Job
	// WrapStore, when set, wraps the store the functions use (a test
	// counting writes, say); Env.Store stays the embedded store itself.
	WrapStore func(store.Store) store.Store
}

// Env is a running product: simulators, store, connector, queue and one
// Lambda handler per function.
type Env struct {
	Data    *demodata.Dataset
	Marketo *marketotest.Server
	Certain *certaintest.Server
	Store   *memstore.Store
	Conn    config.Connection
	Jobs    []config.Job
	// Queue is the registration-change queue between the detector and
	// trigger-campaign.
	Queue *Queue
	// Work holds each function's work queue (WorkQueue names it).
	Work   *memqueue.Broker
	Logger *slog.Logger

	handlers map[string]lambda.Handler
	detector *scopeRecorder
}

// scopeRecorder keeps what the detector's scope polls found, for callers
// that want the figures a deployed function only logs.
type scopeRecorder struct {
	*jobs.Detector
	mu      sync.Mutex
	results []jobs.ScopeResult
}

func (r *scopeRecorder) PollScope(ctx context.Context, m jobs.ScopeMessage) (jobs.ScopeResult, error) {
	sr, err := r.Detector.PollScope(ctx, m)
	r.mu.Lock()
	r.results = append(r.results, sr)
	r.mu.Unlock()
	return sr, err
}

// TakeScopeResults returns the results of the scope polls since the last
// call.
func (e *Env) TakeScopeResults() []jobs.ScopeResult {
	e.detector.mu.Lock()
	defer e.detector.mu.Unlock()
	out := e.detector.results
	e.detector.results = nil
	return out
}

// WorkQueue is the work queue of a job function or of the detector.
func (e *Env) WorkQueue(function string) *memqueue.Queue { return e.Work.Queue(function + "-work") }

// Start seeds the simulators with the data set, stores the connection and
// the jobs, and builds each function's handler. Call Close when done.
func Start(ctx context.Context, o Options) (env *Env, err error) {
	d := o.Data
	if d == nil {
		d = demodata.Demo()
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// Fresh credentials per run: they reach the clients only through the
	// secret source, as in a deployment.
	mSecret, err := randomSecret()
	if err != nil {
		return nil, err
	}
	cPass, err := randomSecret()
	if err != nil {
		return nil, err
	}
	env = &Env{Data: d, Logger: log, Queue: &Queue{}}
	env.Marketo = marketotest.NewServer(nil, marketotest.WithCredentials("local-client", mSecret))
	env.Certain = certaintest.NewServer(nil, certaintest.WithCredentials("local-user", cPass), certaintest.WithFieldNames(d.Options.Fields))
	defer func() {
		if err != nil {
			env.Close()
		}
	}()
	env.Certain.AddAccount(d.Account)
	if err := d.SeedCertain(env.Certain); err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	if err := d.SeedMarketo(env.Marketo); err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	env.Marketo.AddList(demodata.ProfilesListID, demodata.ProfilesListName, demodata.ProfilesListLeads(d))

	sec := secrets.Static{}
	if sec[demodata.MarketoSecretID], err = jsonString(map[string]string{"baseURL": env.Marketo.URL, "clientId": "local-client", "clientSecret": mSecret}); err != nil {
		return nil, err
	}
	if sec[demodata.CertainSecretID], err = jsonString(map[string]string{"username": "local-user", "password": cPass}); err != nil {
		return nil, err
	}

	env.Store = memstore.New()
	env.Conn = demodata.DemoConnection(d, env.Certain.URL, env.Certain.Fields())
	if err := env.Store.PutConnection(ctx, env.Conn); err != nil {
		return nil, fmt.Errorf("local: store connection: %w", err)
	}
	env.Jobs = o.Jobs
	if env.Jobs == nil {
		env.Jobs = demodata.DemoJobs(d)
	}
	for _, j := range env.Jobs {
		if err := env.Store.PutJob(ctx, j); err != nil {
			return nil, fmt.Errorf("local: store job %q: %w", j.ID, err)
		}
	}

	// One connector for the process, as one warm Lambda keeps one: the
	// Marketo budget of the instance is shared by every function here.
	conn := &app.Connector{Secrets: secrets.New(sec, app.SecretsTTL, nil), Budgets: app.InProcessBudgets, Logger: log}
	var st store.Store = env.Store
	if o.WrapStore != nil {
		st = o.WrapStore(st)
	}
	env.Work = memqueue.NewBroker(nil)
	jobFn := func(fn string, funcs map[string]jobs.JobFunc) lambda.Handler {
		wq := env.WorkQueue(fn)
		wq.Visibility = 90 * time.Minute // as the template's work queues
		q := &app.WorkQueue{Client: env.Work, QueueURL: wq.URL}
		ex := &jobs.Executor{Store: st, Connector: conn, Funcs: funcs, Logger: log, Queue: q}
		var served []string
		for t := range funcs {
			served = append(served, t)
		}
		return lambda.NewHandler(app.JobHandler(ex, q, log, served...))
	}
	dq := env.WorkQueue(FnRegistrationChanges)
	env.detector = &scopeRecorder{Detector: &jobs.Detector{Store: st, Connector: conn, Sender: env.Queue, Logger: log,
		Queue: &app.WorkQueue{Client: env.Work, QueueURL: dq.URL}}}
	env.handlers = map[string]lambda.Handler{
		FnImportLeads: jobFn(FnImportLeads, map[string]jobs.JobFunc{
			config.TypeImportLeads: jobs.ImportLeads, config.TypeImportProfiles: jobs.ImportProfiles}),
		FnSyncLeads:           jobFn(FnSyncLeads, map[string]jobs.JobFunc{config.TypeSyncLeads: jobs.SyncLeads}),
		FnEngagementMetrics:   jobFn(FnEngagementMetrics, map[string]jobs.JobFunc{config.TypeEngagementMetrics: jobs.EngagementMetrics}),
		FnInterestMetrics:     jobFn(FnInterestMetrics, map[string]jobs.JobFunc{config.TypeInterestMetrics: jobs.InterestMetrics}),
		FnRegistrationChanges: lambda.NewHandler(app.DetectorHandler(env.detector, app.Telemetry{}, log)),
		FnTriggerCampaign: lambda.NewHandler(func() any {
			t := &jobs.Trigger{Store: st, Connector: conn, Logger: log}
			return app.TriggerHandler(t, t, log)
		}()),
	}
	return env, nil
}

// Functions lists the function names Invoke accepts.
func Functions() []string {
	return []string{FnImportLeads, FnTriggerCampaign, FnSyncLeads, FnEngagementMetrics, FnInterestMetrics, FnRegistrationChanges}
}

// Invoke runs one function with a JSON payload, as the Lambda runtime
// would: the payload is decoded by the function's handler and the response
// comes back encoded.
func (e *Env) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	h, ok := e.handlers[function]
	if !ok {
		return nil, fmt.Errorf("local: no function %q (have %v)", function, Functions())
	}
	out, err := h.Invoke(ctx, payload)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", function, err)
	}
	return out, nil
}

// Delivery says what DeliverChanges did.
type Delivery struct {
	Messages int // messages handed to trigger-campaign
	Batches  int // trigger-campaign invocations
	Deleted  int // messages done (triggered, duplicate or matching no job)
	Failed   int // messages reported as batch item failures (back on the queue)
}

// DeliverChanges hands every message waiting on the queue to
// trigger-campaign, in SQS batches of up to batchSize (<= 0 means 10), once
// each; failed messages stay queued for a later call.
func (e *Env) DeliverChanges(ctx context.Context, batchSize int) (Delivery, error) {
	var d Delivery
	if batchSize <= 0 {
		batchSize = 10
	}
	for left := e.Queue.Len(); left > 0; {
		ev := e.Queue.Receive(min(batchSize, left))
		payload, err := json.Marshal(ev)
		if err != nil {
			return d, fmt.Errorf("local: encode SQS event: %w", err)
		}
		out, err := e.Invoke(ctx, FnTriggerCampaign, payload)
		if err != nil {
			return d, err
		}
		var resp events.SQSEventResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			return d, fmt.Errorf("local: decode trigger-campaign response: %w", err)
		}
		del, kept := e.Queue.Settle(ev, resp)
		d.Messages += len(ev.Records)
		d.Batches++
		d.Deleted += del
		d.Failed += kept
		left -= len(ev.Records)
	}
	return d, nil
}

// FunctionTimeout is the deadline Deliver gives each invocation, as a
// Lambda's timeout would.
const FunctionTimeout = 5 * time.Minute

// Deliver plays the event source mapping of a function's work queue: it
// hands the queue's messages to the function (one per invocation for a job
// function, as the template's BatchSize 1; up to 10 for the detector) until
// the queue is empty, waiting for messages that are delayed (continuations)
// or hidden after a failure, but not for longer than maxWait in all.
func (e *Env) Deliver(ctx context.Context, function string, maxWait time.Duration) (Delivery, error) {
	var d Delivery
	q := e.WorkQueue(function)
	batch := 1
	if function == FnRegistrationChanges {
		batch = app.DetectorPollsAtOnce
	}
	deadline := time.Now().Add(maxWait)
	for q.Len() > 0 {
		ev := q.Receive(batch)
		if len(ev.Records) == 0 {
			wait := time.Until(q.NextVisible())
			if time.Now().Add(wait).After(deadline) {
				return d, fmt.Errorf("local: %d messages still on %s's work queue (next in %v)", q.Len(), function, wait.Round(time.Millisecond))
			}
			select {
			case <-ctx.Done():
				return d, ctx.Err()
			case <-time.After(wait):
			}
			continue
		}
		payload, err := json.Marshal(ev)
		if err != nil {
			return d, fmt.Errorf("local: encode SQS event: %w", err)
		}
		ictx, cancel := context.WithTimeout(ctx, FunctionTimeout)
		out, err := e.Invoke(ictx, function, payload)
		cancel()
		if err != nil {
			return d, err
		}
		var resp events.SQSEventResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			return d, fmt.Errorf("local: decode %s response: %w", function, err)
		}
		del := q.Settle(ev, resp)
		d.Messages += len(ev.Records)
		d.Batches++
		d.Deleted += del
		d.Failed += len(ev.Records) - del
	}
	return d, nil
}

// Close stops both simulators.
func (e *Env) Close() {
	if e.Marketo != nil {
		e.Marketo.Close()
	}
	if e.Certain != nil {
		e.Certain.Close()
	}
}

func randomSecret() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("local: random credential: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("local: encode secret: %w", err)
	}
	return string(b), nil
}
