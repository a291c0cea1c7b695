package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// The scale scenario: N accounts x M events, every event with a sync-leads
// job (due at once) and a trigger-campaign job fed by the change detector,
// through the real handlers (app.JobHandler, app.DetectorHandler,
// app.SQSChangeHandler) with K concurrent instances per queue, on the
// simulators; the queues in memory with SQS's delivery semantics
// (memqueue), the Marketo and Certain budgets shared through a DynamoDB
// stand-in (memDynamo; moto_server with BudgetsOnMoto). Everything runs on
// the wall clock: a simulated clock would count the jobs' CPU time, scaled,
// as waiting time.

// ScaleOptions size the scale scenario.
type ScaleOptions struct {
	Accounts, Events, Registrations int
	Consumers                       int // K: concurrent instances per queue
	TickInterval                    time.Duration
	MarketoLatencyMin               time.Duration
	MarketoLatencyMax               time.Duration
	CertainLatencyMin               time.Duration
	CertainLatencyMax               time.Duration
	StoreDelay                      time.Duration // per state-store call (DynamoDB's)
	Deadline                        time.Duration // give up after this long
	// TriggerWindow is TriggerCampaignFunction's batching window
	// (MaximumBatchingWindowInSeconds, 20 s).
	TriggerWindow time.Duration
	// BudgetsOnMoto holds the shared budgets on a moto_server instead of
	// in memory (memDynamo says why that is not the default).
	BudgetsOnMoto bool
}

// DefaultScale is the 20 x 50 = 1,000 events; quick is 4 x 25.
func DefaultScale(quick bool) ScaleOptions {
	o := ScaleOptions{Accounts: 20, Events: 50, Registrations: 4, Consumers: 25, TickInterval: 5 * time.Minute,
		MarketoLatencyMin: 150 * time.Millisecond, MarketoLatencyMax: 400 * time.Millisecond,
		CertainLatencyMin: 40 * time.Millisecond, CertainLatencyMax: 120 * time.Millisecond,
		StoreDelay: 5 * time.Millisecond, Deadline: 8 * time.Minute, TriggerWindow: 20 * time.Second}
	if quick {
		o.Accounts, o.Events, o.Consumers = 4, 25, 10
	}
	return o
}

// Scale is what the scale scenario measured (report.json's "scale").
type Scale struct {
	Events    int `json:"events"`
	Jobs      int `json:"jobs"`
	Consumers int `json:"consumers"`

	MakespanSeconds      float64 `json:"makespanSeconds"` // t0 (all due) to the last run's end
	IdealSeconds         float64 `json:"idealSeconds"`
	IdealRule            string  `json:"idealRule"`
	StartDelayP50Seconds float64 `json:"startDelayP50Seconds"` // due (t0) to run start, every job
	StartDelayP99Seconds float64 `json:"startDelayP99Seconds"`
	StartDelayMaxSeconds float64 `json:"startDelayMaxSeconds"`

	DetectorScopesPerMinute      float64 `json:"detectorScopesPerMinute"`      // the baseline tick, the detector alone
	DetectorSeconds              float64 `json:"detectorSeconds"`              // its tick to its last poll
	DetectorScopesPerMinuteMixed float64 `json:"detectorScopesPerMinuteMixed"` // at t0, beside the jobs

	Answers606 int `json:"answers606"`
	Answers615 int `json:"answers615"`

	MarketoCalls        int                `json:"marketoCalls"`
	MarketoFloorSeconds float64            `json:"marketoFloorSeconds"` // the busiest instance's calls at the budget's rate
	CertainCalls        int                `json:"certainCalls"`
	WorkSeconds         map[string]float64 `json:"workSeconds"` // invocation time per queue
	Invocations         map[string]int     `json:"invocations"`
	StoreCalls          int64              `json:"storeCalls"`
	BudgetStoreCalls    int64              `json:"budgetStoreCalls"` // the budgets' DynamoDB calls (moto_server)
	BudgetStoreFailures int64              `json:"budgetStoreFailures"`
	CampaignLeads       int                `json:"campaignLeads"` // leads in campaign requests (want one per event)
	LeadsCreated        int                `json:"leadsCreated"`
	CPUCoresBusy        float64            `json:"cpuCoresBusy"` // bench + moto CPU over the phase's wall time
	Cores               int                `json:"cores"`

	Goals  ScaleGoals `json:"goals"`
	Bound  string     `json:"bound"`
	Setup  string     `json:"setup"`
	Errors []string   `json:"errors,omitempty"`
}

// ScaleGoals are the goals, met or not.
type ScaleGoals struct {
	MakespanWithin125PctOfIdeal bool `json:"makespanWithin125PctOfIdeal"`
	P99StartWithinTick          bool `json:"p99StartDelayWithinTick"`
	ThousandScopesPerMinute     bool `json:"thousandScopesWithinAMinute"`
	No606Or615                  bool `json:"no606or615"`
}

// RunScale runs the scale scenario, its budgets in memory (memDynamo) or,
// when endpoint is set, on the moto_server there (motoPID: its process,
// for the CPU figure).
func RunScale(ctx context.Context, o ScaleOptions, endpoint string, motoPID int, logf func(string, ...any)) (*Scale, error) {
	if o.Accounts <= 0 || o.Events <= 0 || o.Registrations <= 0 || o.Consumers <= 0 {
		return nil, fmt.Errorf("scale sizes must be positive: %d accounts, %d events, %d registrations, %d instances", o.Accounts, o.Events, o.Registrations, o.Consumers)
	}
	var ddb limit.DynamoAPI = newMemDynamo(o.StoreDelay)
	table, where := "scale-state", fmt.Sprintf("in memory with DynamoDB's per-item atomic conditional writes, %v per call", o.StoreDelay)
	if endpoint != "" {
		db, t, err := motoTable(ctx, endpoint)
		if err != nil {
			return nil, err
		}
		ddb, table, where = &itemSerial{db: db}, t, "on moto_server"
	}
	logf("scale: seeding %d accounts x %d events x %d registrations", o.Accounts, o.Events, o.Registrations)
	w, err := newScaleWorld(ctx, o, ddb, table)
	if err != nil {
		return nil, err
	}
	defer w.close()
	sc := &Scale{Events: o.Accounts * o.Events, Consumers: o.Consumers, Cores: cores(), WorkSeconds: map[string]float64{}, Invocations: map[string]int{}}
	sc.Jobs = 2 * sc.Events
	sc.Setup = scaleSetup(o, where)

	pools := map[string]*pool{
		"sync":     {name: "sync-leads", q: w.queues["sync"], batch: 1, timeout: 900 * time.Second},
		"detector": {name: "registration-changes", q: w.queues["detector"], batch: 10, timeout: 60 * time.Second},
		"changes":  {name: "trigger-campaign", q: w.queues["changes"], batch: 100, window: o.TriggerWindow, timeout: 120 * time.Second},
	}
	for range o.Consumers {
		pools["sync"].procs = append(pools["sync"].procs, w.syncProcess())
		pools["detector"].procs = append(pools["detector"].procs, w.detectorProcess())
		pools["changes"].procs = append(pools["changes"].procs, w.triggerProcess())
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, p := range pools {
		wg.Go(func() { p.run(runCtx) })
	}
	defer func() { stop(); wg.Wait() }()
	deadline, cancel := context.WithTimeout(ctx, o.Deadline)
	defer cancel()

	// Phase A: the detector's first tick takes every event's baseline.
	logf("scale: detector baseline tick over %d events", sc.Events)
	detProc := w.detectorProcess()
	if err := w.baseline(deadline, sc, detProc, pools["detector"], logf); err != nil {
		return nil, err
	}

	// One registration of every event changes status in Certain.
	for a := range o.Accounts {
		for e := range o.Events {
			w.certain.SetRegistrationStatus(scaleAccount(a), scaleEvent(e), scaleChanged(scaleEvent(e)), "Pre-Registered")
		}
	}
	for _, p := range pools {
		p.busy.Store(0)
		p.invokes.Store(0)
	}
	cpu0 := cpuTicks(os.Getpid()) + cpuTicks(motoPID)
	m0 := w.marketoCalls()
	storeCalls0, budgetCalls0, budgetFailed0 := w.store.calls.Load(), w.budgetDB.calls.Load(), w.budgetDB.failed.Load()

	// Phase B, t0: every sync-leads job is due; the sync-leads tick and the
	// detector tick at once.
	logf("scale: t0: %d sync-leads jobs due, the detector ticks; %d instances per queue", sc.Events, o.Consumers)
	t0 := time.Now()
	var tickErr [2]error
	var tg sync.WaitGroup
	tg.Go(func() {
		_, tickErr[0] = w.syncProcess().h.Invoke(deadline, fmt.Appendf(nil, `{"jobType":%q,"scheduledTime":%q}`, config.TypeSyncLeads, t0.UTC().Format(time.RFC3339)))
	})
	tg.Go(func() { _, tickErr[1] = detProc.h.Invoke(deadline, []byte(`{}`)) })
	tg.Wait()
	if err := errors.Join(tickErr[:]...); err != nil {
		return nil, fmt.Errorf("ticks at t0: %w", err)
	}
	if err := drained(deadline, logf, w.status, pools["sync"], pools["detector"], pools["changes"]); err != nil {
		sc.Errors = append(sc.Errors, err.Error())
	}
	tEnd := time.Now()
	wall := tEnd.Sub(t0).Seconds()
	if wall > 0 {
		sc.CPUCoresBusy = float64(cpuTicks(os.Getpid())+cpuTicks(motoPID)-cpu0) / clkTck / wall
	}
	sc.StoreCalls = w.store.calls.Load() - storeCalls0
	sc.BudgetStoreCalls = w.budgetDB.calls.Load() - budgetCalls0
	sc.BudgetStoreFailures = w.budgetDB.failed.Load() - budgetFailed0
	sc.collect(pools)
	if n, last := w.takePolls(); n > 0 {
		sc.DetectorScopesPerMinuteMixed = float64(n) / last.Sub(t0).Seconds() * 60
	}
	w.measure(ctx, sc, t0, m0)
	sc.judge(o, pools)
	return sc, nil
}

// scaleSetup describes the scenario's set-up for the report.
func scaleSetup(o ScaleOptions, where string) string {
	return fmt.Sprintf("%d accounts (one Marketo instance each: limits %d calls/20 s and %d at once, the connection's budget %d and %d) x %d events x %d registrations; "+
		"K=%d instances per queue (sync-leads 1 job per invocation, detector 10 events, trigger-campaign up to 100 changes in a %v window); "+
		"Marketo %v-%v per call, Certain %v-%v; budgets shared through DynamoDB %s; queues in memory with SQS's semantics; "+
		"state store in process with %v per call; wall clock",
		o.Accounts, CallsPer20s, Concurrent, config.DefaultCallsPer20s, config.DefaultConcurrent, o.Events, o.Registrations, o.Consumers, o.TriggerWindow,
		o.MarketoLatencyMin, o.MarketoLatencyMax, o.CertainLatencyMin, o.CertainLatencyMax, where, o.StoreDelay)
}

// collect takes each queue's figures and errors.
func (sc *Scale) collect(pools map[string]*pool) {
	for _, p := range pools {
		sc.WorkSeconds[p.name] = time.Duration(p.busy.Load()).Seconds()
		sc.Invocations[p.name] = int(p.invokes.Load())
		sc.Errors = append(sc.Errors, p.errs...)
		if dead := p.q.DeadLetters(); len(dead) > 0 {
			sc.Errors = append(sc.Errors, fmt.Sprintf("%s: %d messages in the dead-letter queue", p.name, len(dead)))
		}
	}
}

// baseline runs the detector's first tick (every event's baseline) and
// measures how fast its scopes were polled.
func (w *scaleWorld) baseline(ctx context.Context, sc *Scale, det process, p *pool, logf func(string, ...any)) error {
	tA := time.Now()
	if _, err := det.h.Invoke(ctx, []byte(`{}`)); err != nil {
		return fmt.Errorf("detector tick: %w", err)
	}
	if err := drained(ctx, logf, w.status, p); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	n, last := w.takePolls()
	if n != sc.Events {
		sc.Errors = append(sc.Errors, fmt.Sprintf("the baseline tick polled %d events, want %d", n, sc.Events))
	}
	sc.DetectorSeconds = last.Sub(tA).Seconds()
	if sc.DetectorSeconds > 0 {
		sc.DetectorScopesPerMinute = float64(n) / sc.DetectorSeconds * 60
	}
	return nil
}

// status is a progress line: the calls the simulators and the budgets'
// store have seen.
func (w *scaleWorld) status() string {
	n := 0
	for _, c := range w.marketoCalls() {
		n += c
	}
	return fmt.Sprintf("Marketo calls %d, Certain calls %d, budget DynamoDB calls %d (%d failed)",
		n, len(w.certain.Calls()), w.budgetDB.calls.Load(), w.budgetDB.failed.Load())
}

// marketoCalls counts the REST calls every instance received (identity
// excluded).
func (w *scaleWorld) marketoCalls() []int {
	out := make([]int, len(w.marketo))
	for i, mk := range w.marketo {
		for _, c := range mk.Calls() {
			if !strings.HasPrefix(c.Path, "/identity") {
				out[i]++
			}
		}
	}
	return out
}

// measure reads the run records and the simulators.
func (w *scaleWorld) measure(ctx context.Context, sc *Scale, t0 time.Time, m0 []int) {
	var delays []float64
	var end time.Time
	for a := range w.o.Accounts {
		for e := range w.o.Events {
			acct, ev := scaleAccount(a), scaleEvent(e)
			for _, id := range []string{"sync-" + acct + "-" + ev, "trig-" + acct + "-" + ev} {
				runs, err := w.store.Store.ListRuns(ctx, id, 100)
				if err != nil || len(runs) == 0 {
					sc.Errors = append(sc.Errors, fmt.Sprintf("job %s: no run (%v)", id, err))
					continue
				}
				first, last := runs[len(runs)-1], runs[0]
				delays = append(delays, first.Started.Sub(t0).Seconds())
				if last.Finished.After(end) {
					end = last.Finished
				}
				if last.Outcome != store.RunSucceeded && last.Outcome != store.RunPartial {
					sc.Errors = append(sc.Errors, fmt.Sprintf("job %s: last run %s (%s)", id, last.Outcome, last.Error))
				}
			}
		}
	}
	sc.MakespanSeconds = end.Sub(t0).Seconds()
	slices.Sort(delays)
	sc.StartDelayP50Seconds, sc.StartDelayP99Seconds = percentile(delays, 0.50), percentile(delays, 0.99)
	if len(delays) > 0 {
		sc.StartDelayMaxSeconds = delays[len(delays)-1]
	}
	busiest := 0
	for i, n := range w.marketoCalls() {
		calls := n - m0[i]
		sc.MarketoCalls += calls
		busiest = max(busiest, calls)
		sc.Answers606 += w.marketo[i].CountCode("606")
		sc.Answers615 += w.marketo[i].CountCode("615")
		for _, r := range w.marketo[i].CampaignRequests() {
			sc.CampaignLeads += len(r.LeadIDs)
		}
		sc.LeadsCreated += len(w.marketo[i].Leads())
	}
	// The shared budget paces an instance's calls at one per (20 s window +
	// 0.5 s clock margin) / callsPer20s (lib/limit's Pace: the window
	// refills as it empties), so k calls need about k times that.
	sc.MarketoFloorSeconds = float64(busiest) * 20.5 / float64(config.DefaultCallsPer20s)
	sc.CertainCalls = len(w.certain.Calls())
	if sc.CampaignLeads != sc.Events {
		sc.Errors = append(sc.Errors, fmt.Sprintf("%d leads in campaign requests, want %d (one per event's change)", sc.CampaignLeads, sc.Events))
	}
	if want := sc.Events * w.o.Registrations; sc.LeadsCreated != want {
		sc.Errors = append(sc.Errors, fmt.Sprintf("%d Marketo leads, want %d (one per registration)", sc.LeadsCreated, want))
	}
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted)-1) + 0.5)
	return sorted[min(i, len(sorted)-1)]
}

// judge sets the ideal, the goals and what bounded the result.
func (sc *Scale) judge(o ScaleOptions, pools map[string]*pool) {
	k := float64(o.Consumers)
	syncWork := sc.WorkSeconds[pools["sync"].name] / k
	chain := (sc.WorkSeconds[pools["detector"].name] + sc.WorkSeconds[pools["changes"].name]) / k
	sc.IdealSeconds, sc.IdealRule = syncWork, fmt.Sprintf("sync-leads work %.0f s / %d instances", sc.WorkSeconds[pools["sync"].name], o.Consumers)
	if chain > sc.IdealSeconds {
		sc.IdealSeconds, sc.IdealRule = chain, fmt.Sprintf("detector + trigger-campaign work %.0f s / %d instances",
			sc.WorkSeconds[pools["detector"].name]+sc.WorkSeconds[pools["changes"].name], o.Consumers)
	}
	if sc.MarketoFloorSeconds > sc.IdealSeconds {
		sc.IdealSeconds, sc.IdealRule = sc.MarketoFloorSeconds, "the busiest Marketo instance's calls at the budget's pace, 50 per 20.5 s"
	}
	sc.Goals = ScaleGoals{
		MakespanWithin125PctOfIdeal: sc.IdealSeconds > 0 && sc.MakespanSeconds <= 1.25*sc.IdealSeconds,
		P99StartWithinTick:          sc.StartDelayP99Seconds <= o.TickInterval.Seconds(),
		ThousandScopesPerMinute:     sc.DetectorScopesPerMinute >= 1000,
		No606Or615:                  sc.Answers606 == 0 && sc.Answers615 == 0,
	}
	switch {
	case sc.CPUCoresBusy >= 0.85*float64(sc.Cores):
		sc.Bound = fmt.Sprintf("CPU: this machine kept %.1f of %d cores busy (simulators, queues, budgets, the jobs' own work), so invocations took longer than their waits alone", sc.CPUCoresBusy, sc.Cores)
	case sc.MarketoFloorSeconds >= 0.9*sc.IdealSeconds:
		sc.Bound = fmt.Sprintf("the Marketo budget: the busiest instance's %.0f s of calls at the connection's share (50 per 20 s; Marketo allows 100) "+
			"is %.0f%% of the ideal; the invocations' time is mostly waiting for it, so more instances per queue would only wait longer",
			sc.MarketoFloorSeconds, 100*sc.MarketoFloorSeconds/sc.IdealSeconds)
	default:
		sc.Bound = "the instances per queue (K): each invocation's work is mostly waiting for Marketo, Certain and the store"
	}
}

// cpuTicks is the user+system CPU time of a process in clock ticks (0 when
// unknown: not Linux, or no such process).
func cpuTicks(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

// clkTck is Linux's USER_HZ.
const clkTck = 100

func cores() int { return runtime.NumCPU() }
