// Package pipeline measures where a job's time goes against simulators with
// real latencies and limits: each run is compared with its floor, the time
// its busiest service needs at best (Marketo calls at the budget's rate,
// Certain calls at the tenant's rate, or at its concurrency and latency).
//
// Why the runs are shaped as they are: a run at 10,000 registrations takes
// minutes of simulated time (a Certain tenant of 50 calls/s is the floor),
// too long to run at wall speed, and a faster wall clock counts every
// millisecond of CPU as many simulated ones, so that the jobs' and the
// simulators' CPU would inflate the figures on a loaded machine. A run here
// lives in a testing/synctest bubble instead: its clock moves only when
// every goroutine of the run is blocked (waiting for a simulated call, a
// budget, a back-off), so the simulated time holds the modelled latencies
// and waits and no CPU at all, whatever the machine's load. The clients
// reach the simulators through handlerTransport (no socket: a goroutine
// blocked on a socket would stop the bubble's clock). The CPU a run costs
// is measured separately (process CPU time) and reported beside it.
package pipeline

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

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
)

// Setup is what every run uses: the limits and latencies of the issue's
// benchmark.
type Setup struct {
	MarketoLatencyMin, MarketoLatencyMax  time.Duration
	MarketoCallsPer20s, MarketoConcurrent int
	CertainLatencyMin, CertainLatencyMax  time.Duration
	CertainRate, CertainConcurrent        int // the tenant's limits (429 beyond)
	Seed                                  int64
}

// DefaultSetup: Marketo 300–800 ms at its documented limits (the budget is
// the full limits, as in the rest of make bench), Certain 100–300 ms with a
// tenant limit of 50 calls/s and 16 in flight, which the product's default
// certainBudget matches.
func DefaultSetup() Setup {
	return Setup{MarketoLatencyMin: 300 * time.Millisecond, MarketoLatencyMax: 800 * time.Millisecond, MarketoCallsPer20s: 100, MarketoConcurrent: 10,
		CertainLatencyMin: 100 * time.Millisecond, CertainLatencyMax: 300 * time.Millisecond, CertainRate: 50, CertainConcurrent: 16, Seed: 2026}
}

// Account is the one Certain account every invocation works on.
const Account = "ACME"

// start is where the bubble's clock is moved to (it starts at 2000-01-01),
// so that the demo data's dates lie in the past as they would.
var start = time.Date(2026, 4, 1, 14, 0, 0, 0, time.UTC)

// world is one Marketo instance and one Certain account, a store, and one
// executor per invocation with its own clients (as separate Lambdas have),
// sharing the two budgets as Lambdas share the DynamoDB-held ones.
type world struct {
	setup   Setup
	clock   *marketotest.FastClock
	mk      *marketotest.Server
	ce      *certaintest.Server
	store   store.Store
	events  []string
	data    *demodata.Dataset
	workers []*worker
}

type worker struct {
	event string
	mc    *marketo.Client
	cc    *certain.Client
	exec  *jobs.Executor
}

// latencyHandler spreads Marketo's latency uniformly over [min, max]: the
// simulator holds each call for min, this adds up to max-min before it.
type latencyHandler struct {
	next   http.Handler
	clock  marketotest.Clock
	spread time.Duration
	mu     sync.Mutex
	rng    *rand.Rand
}

func (h *latencyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.spread > 0 && !strings.HasPrefix(r.URL.Path, "/identity") {
		h.mu.Lock()
		d := time.Duration(h.rng.Int64N(int64(h.spread) + 1))
		h.mu.Unlock()
		_ = h.clock.Sleep(r.Context(), d)
	}
	h.next.ServeHTTP(w, r)
}

// newWorld builds the world of one run inside the bubble: registrations
// spread evenly over one event per invocation.
func newWorld(ctx context.Context, s Setup, registrations, invocations int) (*world, error) {
	clk := marketotest.NewFastClock(1)
	clk.Advance(start.Sub(clk.Now()))
	w := &world{setup: s, clock: clk, store: memstore.New(memstore.WithClock(clk.Now))}
	w.ce = certaintest.New(certaintest.WithClock(clk.Now), certaintest.WithSleep(clk.Sleep),
		certaintest.WithRateLimit(s.CertainRate), certaintest.WithConcurrencyLimit(s.CertainConcurrent),
		certaintest.WithLatencyRange(s.CertainLatencyMin, s.CertainLatencyMax))
	w.ce.URL = "http://certain.sim"
	w.ce.AddAccount(Account)
	w.mk = marketotest.NewUnstarted(marketotest.WithClock(clk), marketotest.WithRateLimit(s.MarketoCallsPer20s, 20*time.Second),
		marketotest.WithConcurrencyLimit(s.MarketoConcurrent), marketotest.WithLatency(s.MarketoLatencyMin))
	w.mk.URL = "http://marketo.sim"
	mkHandler := &latencyHandler{next: w.mk, clock: clk, spread: s.MarketoLatencyMax - s.MarketoLatencyMin, rng: rand.New(rand.NewPCG(uint64(s.Seed), 7))}
	for i := range invocations {
		w.events = append(w.events, fmt.Sprintf("EV%d", i+1))
	}
	w.data = demodata.Generate(demodata.Options{Seed: s.Seed, Registrations: registrations, Account: Account, Events: w.events,
		EvenEvents: true, Fields: w.ce.Fields()})
	if err := w.data.SeedCertain(w.ce); err != nil {
		return nil, fmt.Errorf("seed certain: %w", err)
	}
	if err := w.data.SeedMarketo(w.mk); err != nil {
		return nil, fmt.Errorf("seed marketo: %w", err)
	}
	mb, err := limit.NewInProcess(limit.Config{CallsPer20s: s.MarketoCallsPer20s, Concurrent: s.MarketoConcurrent, Now: clk.Now, Sleep: clk.Sleep})
	if err != nil {
		return nil, err
	}
	conn := config.Connection{
		Account: Account, CertainBaseURL: w.ce.URL, CertainSecret: "bench/certain", MarketoSecret: "bench/marketo",
		AllowHTTP: true, FieldMapping: demodata.DemoMapping(), CertainFields: w.ce.Fields(),
		MarketoBudget: config.Budget{CallsPer20s: s.MarketoCallsPer20s, Concurrent: s.MarketoConcurrent},
	}
	if err := w.store.PutConnection(ctx, conn); err != nil {
		return nil, err
	}
	if conn, err = w.store.GetConnection(ctx, Account); err != nil {
		return nil, err
	}
	cb := conn.WithDefaults().CertainBudget
	cbud, err := limit.NewInProcessCertain(limit.CertainConfig{Concurrent: cb.Concurrent, CallsPerSecond: cb.CallsPerSecond, Now: clk.Now, Sleep: clk.Sleep})
	if err != nil {
		return nil, err
	}
	for _, ev := range w.events {
		wk := &worker{event: ev}
		if wk.mc, err = w.mk.NewClient(func(c *marketo.Config) { c.Budget = mb; c.HTTPClient = client(mkHandler) }); err != nil {
			return nil, err
		}
		ccfg, err := conn.CertainConfig(w.ce.Username(), w.ce.Password())
		if err != nil {
			return nil, err
		}
		ccfg.Now, ccfg.Sleep, ccfg.Budget, ccfg.HTTPClient = clk.Now, clk.Sleep, cbud, client(w.ce)
		if wk.cc, err = certain.New(ccfg); err != nil {
			return nil, err
		}
		wk.exec = &jobs.Executor{Store: w.store, Connector: staticConnector{jobs.Clients{Marketo: wk.mc, Certain: wk.cc}}, Now: clk.Now,
			Logger: discardLogger(), Funcs: map[string]jobs.JobFunc{
				config.TypeSyncLeads: jobs.SyncLeads, config.TypeImportLeads: jobs.ImportLeads,
				config.TypeEngagementMetrics: jobs.EngagementMetrics, config.TypeInterestMetrics: jobs.InterestMetrics,
			}}
		w.workers = append(w.workers, wk)
	}
	return w, nil
}

type staticConnector struct{ cl jobs.Clients }

func (s staticConnector) Connect(context.Context, config.Connection) (jobs.Clients, error) {
	return s.cl, nil
}

// Job kinds of the pipeline rows.
const (
	KindSync       = "sync-leads"
	KindImport     = "import-leads"
	KindEngagement = "engagement-metrics"
	KindInterest   = "interest-metrics"
)

// putJobs stores one job of kind per invocation; import-leads gets, per
// invocation, a list of new leads as long as its event's registrations,
// to import into an empty event.
func (w *world) putJobs(ctx context.Context, kind string, registrations int) ([]string, error) {
	var ids []string
	per := registrations / len(w.workers)
	for i, wk := range w.workers {
		j := config.Job{ID: fmt.Sprintf("%s-%d", kind, i+1), Account: Account, Event: wk.event, Type: kind, Name: kind,
			Enabled: true, Schedule: config.Schedule{Interval: config.Duration(time.Hour)}}
		switch kind {
		case KindSync:
			j.Params.Statuses = demodata.Statuses()
		case KindImport:
			listID := 60_000 + i
			leads := make([]int, 0, per)
			for k := range per {
				leads = append(leads, w.mk.AddLead(marketo.Lead{"email": fmt.Sprintf("imp%d.%06d@prospect.example", i, k), "firstName": "Imp", "lastName": strconv.Itoa(k), "company": "Prospect"}))
			}
			w.mk.AddList(listID, "import "+wk.event, leads)
			j.Event = "IMP" + strconv.Itoa(i+1)
			w.ce.AddEvent(Account, map[string]any{"eventCode": j.Event, "eventName": "Import " + j.Event, "isActive": true})
			j.Params.ListID, j.Params.RegistrationStatus, j.Params.AttendeeType = listID, "Invited", "ATT"
		case KindEngagement:
			j.Params.CustomObject = demodata.EngagementObject
			j.Params.Fields = map[string]string{jobs.FieldKey: jobs.FieldDisabled, jobs.FieldProgramName: jobs.FieldDisabled, jobs.MetricAvgSessionRating: "averageSessionRating"}
			j.Params.Modules = []string{config.ModuleAgenda, config.ModuleSSA, config.ModuleAppointmentMatching}
		case KindInterest:
			j.Params.CustomObject = demodata.InterestObject
			j.Params.Fields = map[string]string{jobs.FieldKey: jobs.FieldDisabled}
			j.Params.Include = []string{"registered", "attended"}
		default:
			return nil, fmt.Errorf("pipeline: unknown job kind %q", kind)
		}
		if err := w.store.PutJob(ctx, j); err != nil {
			return nil, fmt.Errorf("put job %s: %w", j.ID, err)
		}
		ids = append(ids, j.ID)
	}
	return ids, nil
}
