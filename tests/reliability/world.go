package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/memstore"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
	"github.com/certain-marketo/certain-marketo/lib/testkit/memqueue"
)

// Job ids of the demo jobs every world stores.
const (
	JobImport     = demodata.JobImportLeads
	JobSync       = demodata.JobSyncLeads
	JobTrigger    = demodata.JobTrigger
	JobEngagement = demodata.JobEngagement
	JobInterest   = demodata.JobInterest
)

// StepTrigger is the pseudo job id of one detector tick followed by the
// delivery of its messages to trigger-campaign through the SQS handler.
const StepTrigger = "trigger-campaign"

// Start is the world clock's start: a weekday afternoon in Chicago, far
// from the daily quota reset, after every change in the demo data set.
func Start() time.Time { return time.Date(2026, 6, 3, 15, 0, 0, 0, time.UTC) }

// Config configures NewWorld. Zero values take the defaults.
type Config struct {
	// Data is seeded into both simulators; nil means demodata.Demo().
	Data *demodata.Dataset
	// Seed drives the fault network's random choices.
	Seed uint64
	// MarketoOptions and CertainOptions go to the simulators.
	MarketoOptions []marketotest.Option
	CertainOptions []certaintest.Option
	// Budget is the connection's Marketo budget (default: the product's).
	Budget config.Budget
	// CertainBudget is the connection's Certain budget (default: the
	// product's), held in process and shared by the world's clients.
	CertainBudget config.CertainBudget
	// Log receives every log line of the product at debug level; nil
	// discards them.
	Log *bytes.Buffer
	// HoldMarketo, when set, makes the Marketo simulator hold every call
	// that long in wall time (and a second on the world clock), so that
	// concurrent calls really overlap on its concurrency limit.
	HoldMarketo time.Duration
	// Changes is how many Invited registrations of the main event move to
	// Pre-Registered between the detector's baseline and its next tick.
	Changes int
	// ViaQueue runs the scheduled jobs as deployed: each step is a schedule
	// tick queuing run messages, consumed by two processes at once
	// (workqueue.go); otherwise each step is a direct run in this process.
	ViaQueue bool
}

// World is the whole product on both simulators and the embedded store, on
// one manual clock, with a fault network in front of both APIs and a
// store that can "crash". Every run it makes goes through Run, which checks
// that the run record tells the truth.
type World struct {
	T        testing.TB
	Data     *demodata.Dataset
	Clock    *marketotest.ManualClock
	Marketo  *marketotest.Server
	Certain  *certaintest.Server
	Mem      *memstore.Store
	Store    *CrashStore
	Net      *FaultNet
	Executor *jobs.Executor
	// Executor2 is another function's process (own clients, same budget).
	Executor2 *jobs.Executor
	Trigger   *jobs.Trigger
	Detector  *jobs.Detector
	Queue     *Queue
	Logger    *slog.Logger
	Conn      config.Connection
	Jobs      []config.Job

	MarketoClient *marketo.Client
	CertainClient *certain.Client

	// SQS is trigger-campaign's Lambda handler (the real app.SQSChangeHandler).
	SQS func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

	// With Config.ViaQueue: the work queue of the scheduled jobs and the
	// job function's handler in each of two processes (Executor's and
	// Executor2's).
	Broker    *memqueue.Broker
	Work      *memqueue.Queue
	Consumers []lambda.Handler
	viaQueue  bool

	mu        sync.Mutex
	interrupt func(jobID string) bool
	cancelRun context.CancelFunc
	// beforeDeliver runs between the detector's tick and the delivery.
	beforeDeliver func()
	budget        marketo.Budget
	cbudget       certain.Budget
	certainWait   []time.Duration
	violations    []Violation
	runs          []store.Run
	// Changed are the registration codes whose status the world changed.
	Changed []string
}

// NewWorld builds a world over the data set: simulators seeded, connection
// and the five demo jobs stored, the detector's baseline taken.
func NewWorld(t testing.TB, cfg Config) *World {
	t.Helper()
	d := cfg.Data
	if d == nil {
		d = demodata.Demo()
	}
	clk := marketotest.NewManualClock(Start())
	w := &World{T: t, Data: d, Clock: clk, Queue: &Queue{}}
	var out = cfg.Log
	if out == nil {
		out = &bytes.Buffer{}
	}
	w.Logger = slog.New(slog.NewJSONHandler(&lockedWriter{b: out}, &slog.HandlerOptions{Level: slog.LevelDebug}))

	var simClock marketotest.Clock = clk
	if cfg.HoldMarketo > 0 {
		simClock = holdClock{ManualClock: clk, hold: cfg.HoldMarketo}
	}
	w.Marketo = marketotest.NewServer(t, append([]marketotest.Option{marketotest.WithClock(simClock)}, cfg.MarketoOptions...)...)
	if cfg.HoldMarketo > 0 {
		w.Marketo.SetLatency(time.Second)
	}
	w.Certain = certaintest.NewServer(t, append([]certaintest.Option{certaintest.WithClock(clk.Now), certaintest.WithFieldNames(d.Options.Fields)}, cfg.CertainOptions...)...)
	w.Certain.AddAccount(d.Account)
	if err := d.SeedCertain(w.Certain); err != nil {
		t.Fatalf("reliability: %v", err)
	}
	if err := d.SeedMarketo(w.Marketo); err != nil {
		t.Fatalf("reliability: %v", err)
	}
	w.Net = NewFaultNet(cfg.Seed, http.DefaultTransport)

	budget := cfg.Budget
	if budget == (config.Budget{}) {
		budget = config.Budget{CallsPer20s: config.DefaultCallsPer20s, Concurrent: config.DefaultConcurrent, Daily: config.DefaultDaily}
	}
	lb, err := limit.NewInProcess(limit.Config{CallsPer20s: budget.CallsPer20s, Concurrent: budget.Concurrent, Daily: budget.Daily, Now: clk.Now, Sleep: clk.Sleep})
	if err != nil {
		t.Fatalf("reliability: budget: %v", err)
	}
	w.budget = lb
	cb := config.Connection{CertainBudget: cfg.CertainBudget}.WithDefaults().CertainBudget
	if w.cbudget, err = limit.NewInProcessCertain(limit.CertainConfig{Concurrent: cb.Concurrent, CallsPerSecond: cb.CallsPerSecond, Now: clk.Now, Sleep: clk.Sleep}); err != nil {
		t.Fatalf("reliability: certain budget: %v", err)
	}
	mc, cc := w.newClients(w.cbudget)
	w.MarketoClient, w.CertainClient = mc, cc
	clients := jobs.Clients{Marketo: mc, Certain: cc}
	conn := jobstest.StaticConnector{Clients: clients, Account: d.Account}

	w.Mem = memstore.New(memstore.WithClock(clk.Now))
	w.Store = &CrashStore{Store: w.Mem}
	w.Conn = demodata.DemoConnection(d, w.Certain.URL, w.Certain.Fields())
	w.Conn.MarketoBudget = budget
	w.Conn.CertainBudget = cb
	ctx := context.Background()
	if err := w.Mem.PutConnection(ctx, w.Conn); err != nil {
		t.Fatalf("reliability: connection: %v", err)
	}
	w.Jobs = eventJobs(d)
	for _, j := range w.Jobs {
		if err := w.Mem.PutJob(ctx, j); err != nil {
			t.Fatalf("reliability: job %s: %v", j.ID, err)
		}
	}
	w.Executor = w.NewExecutor(w.MarketoClient, w.CertainClient)
	// A second function's process: its own clients, the same budget.
	w.Executor2 = w.NewExecutor(w.newClients(w.cbudget))
	if cfg.ViaQueue {
		w.viaQueue = true
		w.setupWorkQueue()
	}
	w.Trigger = &jobs.Trigger{Store: w.Store, Connector: conn, Now: clk.Now, Logger: w.Logger}
	w.Detector = &jobs.Detector{Store: w.Store, Connector: conn, Sender: w.Queue, Now: clk.Now, Logger: w.Logger}
	w.SQS = app.SQSChangeHandler(w.Trigger, w.Logger)

	// The detector's baseline, then the status changes it will report.
	if _, err := w.Detector.Tick(ctx); err != nil {
		t.Fatalf("reliability: detector baseline: %v", err)
	}
	w.Clock.Advance(time.Minute)
	n := cfg.Changes
	if n == 0 {
		n = 12
	}
	ev := d.Events[0].Code
	for _, r := range d.Registrations {
		if len(w.Changed) == n {
			break
		}
		if r.Event == ev && r.Status == demodata.TriggerFrom && r.Active {
			w.Certain.SetRegistrationStatus(d.Account, ev, r.Code, demodata.TriggerTo)
			w.Changed = append(w.Changed, r.Code)
		}
	}
	w.Clock.Advance(time.Minute)
	return w
}

// newClients returns a Marketo and a Certain client of the world: through
// the fault network, on the world clock, sharing the Marketo budget; the
// Certain client takes from cb.
func (w *World) newClients(cb certain.Budget) (*marketo.Client, *certain.Client) {
	mc, err := w.Marketo.NewClient(func(c *marketo.Config) {
		c.HTTPClient = &http.Client{Transport: w.Net.For(APIMarketo)}
		c.Budget = w.budget
		c.Logger = w.Logger.With("api", "marketo")
	})
	if err != nil {
		w.T.Fatalf("reliability: %v", err)
	}
	ccfg := w.Certain.Config()
	ccfg.Now = w.Clock.Now
	ccfg.HTTPClient = &http.Client{Transport: w.Net.For(APICertain)}
	ccfg.Logger = w.Logger.With("api", "certain")
	ccfg.Budget = cb
	ccfg.Sleep = func(ctx context.Context, d time.Duration) error {
		w.mu.Lock()
		w.certainWait = append(w.certainWait, d)
		w.mu.Unlock()
		return w.Clock.Sleep(ctx, d)
	}
	cc, err := certain.New(ccfg)
	if err != nil {
		w.T.Fatalf("reliability: %v", err)
	}
	return mc, cc
}

// NewProcess returns the executor of a new process of the world, whose
// Certain client takes from cb (its own shared budget, as a new Lambda's).
func (w *World) NewProcess(cb certain.Budget) (*jobs.Executor, *certain.Client) {
	mc, cc := w.newClients(cb)
	return w.NewExecutor(mc, cc), cc
}

// NewExecutor returns an executor of the four scheduled jobs over the
// world's store with the given clients, as one function's warm process
// holds them.
func (w *World) NewExecutor(mc *marketo.Client, cc *certain.Client) *jobs.Executor {
	return &jobs.Executor{
		Store: w.Store, Connector: jobstest.StaticConnector{Clients: jobs.Clients{Marketo: mc, Certain: cc}, Account: w.Data.Account},
		Funcs: map[string]jobs.JobFunc{
			config.TypeImportLeads: jobs.ImportLeads, config.TypeSyncLeads: jobs.SyncLeads,
			config.TypeEngagementMetrics: jobs.EngagementMetrics, config.TypeInterestMetrics: jobs.InterestMetrics,
		},
		Now: w.Clock.Now, Logger: w.Logger, Interrupt: w.interrupted,
	}
}

func (w *World) interrupted(jobID string) bool {
	w.mu.Lock()
	f := w.interrupt
	w.mu.Unlock()
	return f != nil && f(jobID)
}

// InterruptWhen makes ShouldStop report true once f does (the Lambda's soft
// deadline, placed exactly). nil removes it.
func (w *World) InterruptWhen(f func(jobID string) bool) {
	w.mu.Lock()
	w.interrupt = f
	w.mu.Unlock()
}

// InterruptAfter stops every job at its (n+1)th safe point.
func (w *World) InterruptAfter(n int) {
	var mu sync.Mutex
	calls := 0
	w.InterruptWhen(func(string) bool {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return calls > n
	})
}

// CertainWaits returns the back-off waits the Certain client asked for.
func (w *World) CertainWaits() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.certainWait...)
}

// Violations returns every invariant violation found so far.
func (w *World) Violations() []Violation {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Violation(nil), w.violations...)
}

func (w *World) addViolations(vs ...Violation) {
	w.mu.Lock()
	w.violations = append(w.violations, vs...)
	w.mu.Unlock()
}

// Runs returns every run record the world's runs produced.
func (w *World) Runs() []store.Run {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]store.Run(nil), w.runs...)
}

// Run runs one job now (or, for StepTrigger, one detector tick and the
// delivery of the queue) and checks the run record against what the
// simulators saw. A crash (the store refusing writes) is not an error:
// the outcome is then "crashed".
func (w *World) Run(ctx context.Context, jobID string) (string, error) {
	if jobID == StepTrigger {
		return w.runTrigger(ctx)
	}
	if w.viaQueue {
		outs, err := w.runViaQueue(ctx, jobID)
		if err != nil {
			return "", err
		}
		return outs[0], nil
	}
	return w.RunOn(ctx, w.Executor, jobID)
}

// RunOn runs one scheduled job now in the process of ex (see NewProcess)
// and checks its run record as Run does.
func (w *World) RunOn(ctx context.Context, ex *jobs.Executor, jobID string) (string, error) {
	before := w.observe()
	run, out, err := w.runJobOn(ctx, ex, jobID)
	if err != nil || out == "crashed" {
		return out, err
	}
	w.addViolations(checkRunTruth(w, []store.Run{run}, before, w.observe())...)
	return out, nil
}

// RunTogether runs jobs at the same time, as separate Lambdas would, and
// checks their run records together.
func (w *World) RunTogether(ctx context.Context, jobIDs ...string) ([]string, error) {
	if w.viaQueue {
		return w.runViaQueue(ctx, jobIDs...)
	}
	before := w.observe()
	var wg sync.WaitGroup
	runs := make([]store.Run, len(jobIDs))
	outs := make([]string, len(jobIDs))
	errs := make([]error, len(jobIDs))
	for i, id := range jobIDs {
		ex := w.Executor
		if i%2 == 1 {
			ex = w.Executor2
		}
		wg.Go(func() { runs[i], outs[i], errs[i] = w.runJobOn(ctx, ex, id) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return outs, err
	}
	for _, o := range outs {
		if o == "crashed" {
			return outs, nil
		}
	}
	w.addViolations(checkRunTruth(w, runs, before, w.observe())...)
	return outs, nil
}

func (w *World) runJob(ctx context.Context, jobID string) (store.Run, string, error) {
	return w.runJobOn(ctx, w.Executor, jobID)
}

func (w *World) runJobOn(ctx context.Context, ex *jobs.Executor, jobID string) (store.Run, string, error) {
	sum, err := ex.RunNow(ctx, jobID, false)
	if w.Store.Crashed() {
		return store.Run{}, "crashed", nil
	}
	if err != nil {
		return store.Run{}, "", err
	}
	run, gerr := w.Mem.GetRun(context.Background(), sum.RunID)
	if gerr != nil {
		return store.Run{}, "", fmt.Errorf("run %s: %w", sum.RunID, gerr)
	}
	w.mu.Lock()
	w.runs = append(w.runs, run)
	w.mu.Unlock()
	return run, run.Outcome, nil
}

// runTrigger ticks the detector and hands the queue to the SQS handler
// until it is empty or a delivery fails (the rest waits for the next
// step, as SQS would redeliver after the visibility timeout).
func (w *World) runTrigger(ctx context.Context) (string, error) {
	if _, err := w.Detector.Tick(ctx); err != nil && !w.Store.Crashed() {
		return "detector: " + err.Error(), nil
	}
	if w.Store.Crashed() {
		return "crashed", nil
	}
	if w.beforeDeliver != nil {
		w.beforeDeliver()
	}
	before := w.observe()
	outcome := store.RunSucceeded
	for range 10 {
		ev := w.Queue.Receive(10)
		if len(ev.Records) == 0 {
			break
		}
		resp, err := w.SQS(ctx, ev)
		if err != nil {
			return "", fmt.Errorf("sqs handler returned an error for the batch: %w", err)
		}
		if w.Store.Crashed() {
			w.Queue.Nack(ev, nil, true)
			return "crashed", nil
		}
		w.Queue.Nack(ev, resp.BatchItemFailures, false)
		if len(resp.BatchItemFailures) > 0 {
			outcome = "redelivery"
			break
		}
	}
	w.addViolations(checkTriggerTruth(w, before, w.observe())...)
	if w.Queue.Len() > 0 {
		return "redelivery", nil
	}
	return outcome, nil
}

// Terminal reports whether a run outcome ends a job's attempts.
func Terminal(outcome string) bool {
	switch outcome {
	case store.RunSucceeded, store.RunPartial, store.RunFailed:
		return true
	}
	return false
}

// lockedWriter serialises writes to the log buffer.
type lockedWriter struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// ErrCrashed is what a crashed store answers to every write.
var ErrCrashed = errors.New("reliability: process crashed (store write refused)")

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// holdClock is the world clock whose Sleep also waits a little wall time.
type holdClock struct {
	*marketotest.ManualClock
	hold time.Duration
}

func (h holdClock) Sleep(ctx context.Context, d time.Duration) error {
	if d > 0 {
		time.Sleep(min(d, h.hold))
	}
	return h.ManualClock.Sleep(ctx, d)
}
