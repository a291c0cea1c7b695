// Package bench measures what users of certain-marketo pay for: Marketo calls
// per job against the optimum, throughput against the configured budget,
// Certain calls, memory while a job streams 100,000 registrations, and the
// Lambda cold start. It drives the real jobs (lib/jobs) through the real
// clients against the in-process simulators, on one accelerated clock, so
// that Marketo's 20 s windows pass in a fraction of a second while the
// limits keep their real values (100 calls / 20 s, 10 in flight).
//
// It wires its own world instead of importing lib/testkit/jobstest, because a
// product command must not depend on a test harness (jobstest takes a
// testing.TB and starts moto through lib/testkit/awstest).
//
// Why the run is shaped as it is: the 4-worker rows give each worker its
// own lib/limit.Shared on one item in moto_server, as separate Lambdas
// would, through a serialising DynamoAPI (moto's conditional writes are not
// atomic under concurrency; see awstest.Serial) and closed after every
// invocation, as lib/app does. Scenarios run one at a time by default:
// the simulators run in process and are CPU-bound, and on two cores a
// concurrent scenario slowed them enough to lower the throughput figures
// by a third or more (Options.Parallel remains for quick looks; the memory
// scenario and the cold start always run alone). The cold start is timed from exec of each
// bootstrap to its first poll of a Runtime API stub, because
// aws-lambda-rie's Init Duration covers only the emulator's own set-up.
package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/memstore"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
)

// Event is the one event code every worker's account uses.
const Event = "HS26"

// importEvent receives the import-leads registrations.
const importEvent = "IMP26"

// Marketo's documented limits (docs/marketo.md §2), used for both the
// simulator and the budget.
const (
	CallsPer20s = 100
	Concurrent  = 10
)

// latencyHandler adds a uniform random transit delay in [0, spread) of clock
// time before the simulator, which itself holds each REST call for its fixed
// latency: together a call takes min..min+spread, as seen by the client.
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
		d := time.Duration(h.rng.Int64N(int64(h.spread)))
		h.mu.Unlock()
		_ = h.clock.Sleep(r.Context(), d)
	}
	h.next.ServeHTTP(w, r)
}

// BudgetKind says how the workers share the Marketo budget.
type BudgetKind string

const (
	BudgetInProcess BudgetKind = "in-process" // one limit.InProcess shared by the workers
	BudgetShared    BudgetKind = "shared"     // one lib/limit.Shared per worker on one item in moto_server
)

// world is one Marketo instance, one Certain tenant, one store and W
// workers (each with its own clients, as separate Lambdas would have),
// all on one fast clock.
type world struct {
	clock   *marketotest.FastClock
	mk      *marketotest.Server
	mkHTTP  *httptest.Server
	ce      *certaintest.Server
	store   store.Store
	workers []*worker
	budget  string // description for the report
	// progress receives the steps' progress lines; nil: none.
	progress io.Writer
}

type worker struct {
	account string
	data    *demodata.Dataset
	mc      *marketo.Client
	budget  marketo.Budget
	cc      *certain.Client
	exec    *jobs.Executor
	trigger *jobs.Trigger
	listID  int
	listLen int
}

type connector struct{ w *worker }

func (c connector) Connect(_ context.Context, conn config.Connection) (jobs.Clients, error) {
	if conn.Account != c.w.account {
		return jobs.Clients{}, fmt.Errorf("bench: worker %s has no clients for account %q", c.w.account, conn.Account)
	}
	return jobs.Clients{Marketo: c.w.mc, Certain: c.w.cc}, nil
}

// multiConnector serves every worker's account (the trigger function reads
// all accounts' jobs).
type multiConnector map[string]*worker

func (m multiConnector) Connect(ctx context.Context, conn config.Connection) (jobs.Clients, error) {
	w, ok := m[conn.Account]
	if !ok {
		return jobs.Clients{}, fmt.Errorf("bench: no worker for account %q", conn.Account)
	}
	return connector{w}.Connect(ctx, conn)
}

type worldConfig struct {
	registrations int // total over all workers
	workers       int
	speed         float64
	latencyMin    time.Duration
	latencyMax    time.Duration
	seed          int64
	newBudget     func(now func() time.Time, sleep func(context.Context, time.Duration) error) (func() (marketo.Budget, error), string, error)
	simOptions    []marketotest.Option
}

func httpClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: tr, Timeout: 10 * time.Minute}
}

// offsetDataset moves one worker's lead ids and e-mails out of the way of
// the other workers' (they share one Marketo instance).
func offsetDataset(d *demodata.Dataset, w int) {
	if w == 0 {
		return
	}
	off := w * 10_000_000
	prefix := "w" + strconv.Itoa(w) + "."
	for i := range d.Profiles {
		p := &d.Profiles[i]
		p.Email = prefix + p.Email
		if p.ExternalKey != "" {
			if id, err := strconv.Atoi(p.ExternalKey); err == nil {
				p.ExternalKey = strconv.Itoa(id + off)
			}
		}
	}
	for i := range d.Marketo.Leads {
		d.Marketo.Leads[i].ID += off
		d.Marketo.Leads[i].Email = prefix + d.Marketo.Leads[i].Email
	}
	for i := range d.Marketo.List.LeadIDs {
		d.Marketo.List.LeadIDs[i] += off
	}
	d.Marketo.List.ID += w
}

func newWorld(ctx context.Context, wc worldConfig) (*world, error) {
	clk := marketotest.NewFastClock(wc.speed)
	opts := append([]marketotest.Option{marketotest.WithClock(clk), marketotest.WithRateLimit(CallsPer20s, 20*time.Second),
		marketotest.WithConcurrencyLimit(Concurrent), marketotest.WithLatency(wc.latencyMin)}, wc.simOptions...)
	mk := marketotest.NewUnstarted(opts...)
	spread := max(wc.latencyMax-wc.latencyMin, 0)
	hs := httptest.NewServer(&latencyHandler{next: mk, clock: clk, spread: spread, rng: rand.New(rand.NewPCG(uint64(wc.seed), 7))})
	mk.URL = hs.URL
	ce := certaintest.NewServer(nil, certaintest.WithClock(clk.Now))
	w := &world{clock: clk, mk: mk, mkHTTP: hs, ce: ce, store: memstore.New(memstore.WithClock(clk.Now))}
	fail := func(err error) (*world, error) { w.close(); return nil, err }

	budgetFor, desc, err := wc.newBudget(clk.Now, clk.Sleep)
	if err != nil {
		return fail(err)
	}
	w.budget = desc
	per := wc.registrations / wc.workers
	hc := httpClient()
	for i := range wc.workers {
		acct := "ACME"
		if wc.workers > 1 {
			acct = fmt.Sprintf("ACME%d", i+1)
		}
		d := demodata.Generate(demodata.Options{Seed: wc.seed + int64(i), Registrations: per, Account: acct, Events: []string{Event}, Fields: ce.Fields()})
		offsetDataset(d, i)
		ce.AddAccount(acct)
		if err := d.SeedCertain(ce); err != nil {
			return fail(fmt.Errorf("seed certain %s: %w", acct, err))
		}
		if err := d.SeedMarketo(mk); err != nil {
			return fail(fmt.Errorf("seed marketo %s: %w", acct, err))
		}
		b, err := budgetFor()
		if err != nil {
			return fail(err)
		}
		mc, err := mk.NewClient(func(c *marketo.Config) { c.Budget = b; c.HTTPClient = hc })
		if err != nil {
			return fail(err)
		}
		ccfg := ce.Config()
		ccfg.Now = clk.Now
		ccfg.HTTPClient = hc
		cc, err := certain.New(ccfg)
		if err != nil {
			return fail(fmt.Errorf("certain client: %w", err))
		}
		wk := &worker{account: acct, data: d, mc: mc, budget: b, cc: cc}
		conn := config.Connection{
			Account: acct, CertainBaseURL: ce.URL, CertainSecret: "bench/certain", MarketoSecret: "bench/marketo",
			AllowHTTP: true, FieldMapping: fieldMapping(), CertainFields: ce.Fields(),
		}
		if err := w.store.PutConnection(ctx, conn); err != nil {
			return fail(fmt.Errorf("put connection %s: %w", acct, err))
		}
		wk.exec = &jobs.Executor{Store: w.store, Connector: connector{wk}, Now: clk.Now, Logger: discardLogger(),
			Funcs: map[string]jobs.JobFunc{
				config.TypeSyncLeads: jobs.SyncLeads, config.TypeImportLeads: jobs.ImportLeads,
				config.TypeEngagementMetrics: jobs.EngagementMetrics, config.TypeInterestMetrics: jobs.InterestMetrics,
			}}
		w.workers = append(w.workers, wk)
	}
	mc := multiConnector{}
	for _, wk := range w.workers {
		mc[wk.account] = wk
	}
	for _, wk := range w.workers {
		wk.trigger = &jobs.Trigger{Store: w.store, Connector: mc, Now: clk.Now, Logger: discardLogger()}
	}
	if err := w.putJobs(ctx); err != nil {
		return fail(err)
	}
	return w, nil
}

// endInvocation does what lib/app does after every Lambda invocation: a
// budget that holds shared capacity (lib/limit.Shared) gives back its
// slots and unused calls, so that a frozen Lambda holds nothing.
func (wk *worker) endInvocation(ctx context.Context) error {
	cl, ok := wk.budget.(interface{ Close(context.Context) error })
	if !ok {
		return nil // in-process budgets hold nothing across invocations
	}
	if err := cl.Close(ctx); err != nil {
		return fmt.Errorf("worker %s: close budget: %w", wk.account, err)
	}
	return nil
}

func (w *world) close() {
	if w.mkHTTP != nil {
		w.mkHTTP.CloseClientConnections()
		w.mkHTTP.Close()
	}
	if w.ce != nil {
		w.ce.Close()
	}
}

func fieldMapping() []config.FieldMap {
	return []config.FieldMap{
		{Certain: "email", Marketo: "email"}, {Certain: "firstName", Marketo: "firstName"},
		{Certain: "lastName", Marketo: "lastName"}, {Certain: "organization", Marketo: "company"},
		{Certain: "position", Marketo: "title"}, {Certain: "phone", Marketo: "phone"},
		{Certain: "address.city", Marketo: "city"}, {Certain: "address.country", Marketo: "country"},
	}
}

// Job ids per worker.
func jobID(kind, acct string) string { return kind + "-" + strings.ToLower(acct) }

const triggerCampaign = demodata.CampaignRegistered

func (w *world) putJobs(ctx context.Context) error {
	hourly := config.Schedule{Interval: config.Duration(time.Hour)}
	for i, wk := range w.workers {
		// import-leads reads a list of new leads, as many as the worker's
		// registrations, into an empty event.
		wk.listID = 50_000 + i
		wk.listLen = len(wk.data.Registrations)
		ids := make([]int, 0, wk.listLen)
		for j := range wk.listLen {
			ids = append(ids, w.mk.AddLead(marketo.Lead{"email": fmt.Sprintf("imp%d.%07d@prospect.example", i, j), "firstName": "Imp", "lastName": strconv.Itoa(j), "company": "Prospect"}))
		}
		w.mk.AddList(wk.listID, "bench import "+wk.account, ids)
		w.ce.AddEvent(wk.account, map[string]any{"eventCode": importEvent, "eventName": "Import 2026", "isActive": true})
		all := demodata.Statuses()
		jobsToPut := []config.Job{
			{ID: jobID("sync", wk.account), Type: config.TypeSyncLeads, Params: config.Params{Statuses: all}},
			{ID: jobID("import", wk.account), Type: config.TypeImportLeads, Event: importEvent,
				Params: config.Params{ListID: wk.listID, RegistrationStatus: "Invited", AttendeeType: "ATT"}},
			{ID: jobID("engagement", wk.account), Type: config.TypeEngagementMetrics,
				Params: config.Params{CustomObject: demodata.EngagementObject,
					Fields:  map[string]string{jobs.FieldKey: jobs.FieldDisabled, jobs.FieldProgramName: jobs.FieldDisabled, jobs.MetricAvgSessionRating: "averageSessionRating"},
					Modules: []string{config.ModuleAgenda, config.ModuleSSA, config.ModuleAppointmentMatching}}},
			{ID: jobID("interest", wk.account), Type: config.TypeInterestMetrics,
				Params: config.Params{CustomObject: demodata.InterestObject, Fields: map[string]string{jobs.FieldKey: jobs.FieldDisabled}, Include: []string{"registered", "attended"}}},
			{ID: jobID("trigger", wk.account), Type: config.TypeTriggerCampaign,
				Params: config.Params{CampaignID: triggerCampaign, ToStatus: "Pre-Registered", FromStatus: "Invited",
					Tokens: []config.TokenSpec{{Name: "{{my.EventName}}", Value: "Horizon Summit 2026"}}}},
		}
		for _, j := range jobsToPut {
			j.Account, j.Name, j.Enabled, j.Schedule = wk.account, j.ID, true, hourly
			if j.Event == "" {
				j.Event = Event
			}
			if err := w.store.PutJob(ctx, j); err != nil {
				return fmt.Errorf("put job %s: %w", j.ID, err)
			}
		}
	}
	return nil
}
