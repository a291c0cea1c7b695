package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Step is one measured job run (all workers of one job type at once).
type Step struct {
	Job      string         `json:"job"`
	Run      string         `json:"run"` // "first" or "second" (nothing changed)
	Size     int            `json:"size"`
	Workers  int            `json:"workers"`
	Budget   string         `json:"budget"`
	Records  int            `json:"records"` // records the job moved (leads upserted, list leads read, CO records written, leads triggered)
	Outcomes map[string]int `json:"outcomes"`

	MarketoCalls   int      `json:"marketoCalls"`  // REST calls the simulator received (identity excluded)
	MarketoWrites  int      `json:"marketoWrites"` // of which writes (sync leads, sync CO, request campaign)
	Optimum        int      `json:"optimum"`       // fewest calls that can do the same work
	OptimumRule    string   `json:"optimumRule"`
	Ratio          float64  `json:"ratio"` // MarketoCalls / Optimum
	CertainCalls   int      `json:"certainCalls"`
	CertainPerRec  float64  `json:"certainPerRecord"`
	Answers606     int      `json:"answers606"`
	Answers615     int      `json:"answers615"`
	SimSeconds     float64  `json:"simSeconds"`  // elapsed on the simulated clock
	WallSeconds    float64  `json:"wallSeconds"` // elapsed wall time
	RecordsPerSec  float64  `json:"recordsPerSec"`
	PerCall        int      `json:"recordsPerCall"`
	BudgetRecPerS  float64  `json:"budgetRecordsPerSec"` // budget calls/s x records per call
	BudgetFraction float64  `json:"budgetFraction"`
	Errors         []string `json:"errors,omitempty"`
}

// Memory is what sync-leads used while streaming its registrations.
type Memory struct {
	Registrations      int     `json:"registrations"`
	BaselineHeapMB     float64 `json:"baselineHeapMB"` // live heap after seeding (simulators' data), after GC
	PeakHeapMB         float64 `json:"peakHeapMB"`     // highest sampled heap during the run
	PeakAboveBaseMB    float64 `json:"peakAboveBaseMB"`
	RetainedAfterMB    float64 `json:"retainedAfterMB"` // live heap after the run and a GC, above baseline (simulator + store growth)
	TransientPeakMB    float64 `json:"transientPeakMB"` // peak above baseline minus what stays: the job's working set, roughly
	AllocBytesPerRec   float64 `json:"allocBytesPerRecord"`
	AllocObjectsPerRec float64 `json:"allocObjectsPerRecord"`
	Note               string  `json:"note"`
}

const mb = 1 << 20

type memSampler struct {
	stop chan struct{}
	done chan struct{}
	peak uint64
}

var memNames = []string{"/memory/classes/heap/objects:bytes", "/gc/heap/allocs:bytes", "/gc/heap/allocs:objects"}

func readMem() (heap, allocB, allocO uint64) {
	s := make([]metrics.Sample, len(memNames))
	for i, n := range memNames {
		s[i].Name = n
	}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()
}

func startSampler() *memSampler {
	m := &memSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			h, _, _ := readMem()
			m.peak = max(m.peak, h)
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *memSampler) finish() uint64 {
	close(m.stop)
	<-m.done
	return m.peak
}

type snapshot struct {
	calls       int
	sim         time.Time
	wall        time.Time
	certain     int
	campaignIDs int
}

func (w *world) snap() snapshot {
	s := snapshot{calls: len(w.mk.Calls()), sim: w.clock.Now(), wall: time.Now()}
	for _, wk := range w.workers {
		s.certain += wk.cc.Stats().Calls
	}
	for _, r := range w.mk.CampaignRequests() {
		s.campaignIDs += len(r.LeadIDs)
	}
	return s
}

func isWrite(c marketotest.CallLog) bool {
	if c.Method != "POST" || strings.Contains(c.URL, "_method=GET") {
		return false
	}
	p := c.Path
	return p == "/rest/v1/leads.json" || strings.HasSuffix(p, "/trigger.json") ||
		(strings.HasPrefix(p, "/rest/v1/customobjects/") && strings.HasSuffix(p, ".json") && !strings.HasSuffix(p, "describe.json") && !strings.Contains(p, "/delete"))
}

// finishStep fills the Marketo-side counts from the call log since before.
func (w *world) finishStep(st *Step, before snapshot) {
	after := w.snap()
	st.SimSeconds = after.sim.Sub(before.sim).Seconds()
	st.WallSeconds = after.wall.Sub(before.wall).Seconds()
	st.CertainCalls = after.certain - before.certain
	for _, c := range w.mk.Calls()[before.calls:] {
		if c.Path == "/identity/oauth/token" {
			continue
		}
		st.MarketoCalls++
		if isWrite(c) && c.Code == "" && c.HTTPStatus < 300 {
			st.MarketoWrites++
		}
		switch c.Code {
		case "606":
			st.Answers606++
		case "615":
			st.Answers615++
		}
	}
	if st.Optimum > 0 {
		st.Ratio = float64(st.MarketoCalls) / float64(st.Optimum)
	}
	if st.Records > 0 {
		st.CertainPerRec = float64(st.CertainCalls) / float64(st.Records)
	}
	if st.SimSeconds > 0 {
		st.RecordsPerSec = float64(st.Records) / st.SimSeconds
	}
	st.BudgetRecPerS = float64(CallsPer20s) / 20 * float64(st.PerCall)
	if st.BudgetRecPerS > 0 {
		st.BudgetFraction = st.RecordsPerSec / st.BudgetRecPerS
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// runScheduled runs one scheduled job type on every worker at once.
func (w *world) runScheduled(ctx context.Context, kind, run string, st *Step) {
	defer w.stepProgress(w.progress, kind+" "+run+" "+fmt.Sprint(st.Size))()
	var mu sync.Mutex
	var wg sync.WaitGroup
	st.Outcomes = map[string]int{}
	perWorker := make([]int, len(w.workers))
	for i, wk := range w.workers {
		wg.Go(func() {
			id := jobID(kind, wk.account)
			var sum jobs.RunSummary
			var err error
			// Continue checkpointed runs, as the next invocation would.
			// Each RunNow is one invocation; the budget is given back
			// after each, as lib/app does.
			var closeErr error
			for range 50 {
				sum, err = wk.exec.RunNow(ctx, id, false)
				closeErr = errors.Join(closeErr, wk.endInvocation(ctx))
				if err != nil || sum.Outcome != store.RunCheckpointed {
					break
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if closeErr != nil {
				st.Errors = append(st.Errors, closeErr.Error())
			}
			if err != nil {
				st.Errors = append(st.Errors, fmt.Sprintf("%s: %v", id, err))
				return
			}
			if sum.Error != "" {
				st.Errors = append(st.Errors, fmt.Sprintf("%s: %s: %s", id, sum.Outcome, sum.Error))
			}
			for k, v := range sum.Counts {
				st.Outcomes[k] += v
			}
			switch kind {
			case "import":
				perWorker[i] = wk.listLen
			default:
				perWorker[i] = sum.Counts[store.OutcomeCreated] + sum.Counts[store.OutcomeUpdated] + sum.Counts[store.OutcomeFailed]
			}
		})
	}
	wg.Wait()
	for _, n := range perWorker {
		st.Records += n
		if kind == "import" {
			st.Optimum += ceilDiv(n, 300)
		} else {
			st.Optimum += ceilDiv(n, 300)
		}
	}
	st.PerCall = 300
	switch kind {
	case "import":
		st.OptimumRule = "ceil(list leads/300) list pages per worker"
	case "sync":
		st.OptimumRule = "ceil(leads sent/300) Sync Leads calls per worker"
	default:
		st.OptimumRule = "ceil(records written/300) Sync Custom Objects calls per worker"
	}
	if run == "second" {
		st.OptimumRule = "0 writes; reads as few as the job needs"
	}
}

// runTrigger sends each worker's changes to the trigger function in SQS
// batches of batchSize (template.yaml's BatchSize), redelivering failed
// messages as SQS would.
func (w *world) runTrigger(ctx context.Context, changesPerWorker, batchSize int, st *Step) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	st.Outcomes = map[string]int{}
	counts := make([]int, len(w.workers))
	for i, wk := range w.workers {
		var msgs []jobs.ChangeMessage
		at := w.clock.Now()
		for _, r := range wk.data.Registrations {
			if len(msgs) == changesPerWorker {
				break
			}
			if r.Status == "Pre-Registered" && r.Active {
				msgs = append(msgs, jobs.NewChange(wk.account, Event, r.Code, "Invited", "Pre-Registered", at))
			}
		}
		counts[i] = len(msgs)
		wg.Go(func() {
			pending := msgs
			for attempt := 0; len(pending) > 0 && attempt < 5; attempt++ {
				var retry []jobs.ChangeMessage
				for start := 0; start < len(pending); start += batchSize {
					batch := pending[start:min(start+batchSize, len(pending))]
					results := wk.trigger.Handle(ctx, batch)
					if err := wk.endInvocation(ctx); err != nil {
						mu.Lock()
						st.Errors = append(st.Errors, err.Error())
						mu.Unlock()
					}
					for j, err := range results {
						if err != nil {
							retry = append(retry, batch[j])
							if attempt == 4 {
								mu.Lock()
								st.Errors = append(st.Errors, err.Error())
								mu.Unlock()
							}
						}
					}
				}
				pending = retry
			}
		})
	}
	wg.Wait()
	for _, n := range counts {
		st.Optimum += ceilDiv(n, 100)
	}
	st.PerCall = 100
	st.OptimumRule = "ceil(changes/100) Request Campaign calls per worker (one campaign, shared literal tokens)"
}

// Scenario is one world: a size and a worker count.
type Scenario struct {
	Size    int
	Workers int
	Memory  bool // sample memory during the first sync-leads run (runs alone)
	// NoSecond skips the second runs (nothing changed); they do not depend
	// on the worker count, so the 1-worker rows carry them.
	NoSecond bool
	// Alone: runs with nothing else in the process (memory is process-wide).
	Alone bool
	// Jobs limits the steps ("sync", "import", "engagement", "interest",
	// "trigger"); nil runs them all.
	Jobs []string
}

func (sc Scenario) has(kind string) bool { return sc.Jobs == nil || slices.Contains(sc.Jobs, kind) }

type scenarioResult struct {
	steps  []Step
	memory *Memory
	budget string
}

func truncErrs(st *Step) {
	if len(st.Errors) > 5 {
		st.Errors = append(st.Errors[:5], fmt.Sprintf("... and %d more", len(st.Errors)-5))
	}
}

func runScenario(ctx context.Context, o Options, sc Scenario, budget budgetFactory) (scenarioResult, error) {
	var res scenarioResult
	setupStart := time.Now()
	w, err := newWorld(ctx, worldConfig{registrations: sc.Size, workers: sc.Workers, speed: o.Speed,
		latencyMin: o.LatencyMin, latencyMax: o.LatencyMax, seed: o.Seed, newBudget: budget})
	if err != nil {
		return res, err
	}
	defer w.close()
	w.progress = o.Progress
	res.budget = w.budget
	newStep := func(job, run string) Step {
		return Step{Job: job, Run: run, Size: sc.Size, Workers: sc.Workers, Budget: w.budget}
	}
	step := func(kind, job, run string) Step {
		st := newStep(job, run)
		var sampler *memSampler
		var baseHeap, a0b, a0o uint64
		if sc.Memory && kind == "sync" && run == "first" {
			runtime.GC()
			baseHeap, a0b, a0o = readMem()
			sampler = startSampler()
		}
		before := w.snap()
		w.runScheduled(ctx, kind, run, &st)
		w.finishStep(&st, before)
		if sampler != nil {
			peak := sampler.finish()
			_, a1b, a1o := readMem()
			runtime.GC()
			after, _, _ := readMem()
			m := &Memory{Registrations: sc.Size, BaselineHeapMB: float64(baseHeap) / mb, PeakHeapMB: float64(peak) / mb}
			m.PeakAboveBaseMB = m.PeakHeapMB - m.BaselineHeapMB
			m.RetainedAfterMB = (float64(after) - float64(baseHeap)) / mb
			m.TransientPeakMB = m.PeakAboveBaseMB - m.RetainedAfterMB
			m.AllocBytesPerRec = float64(a1b-a0b) / float64(sc.Size)
			m.AllocObjectsPerRec = float64(a1o-a0o) / float64(sc.Size)
			m.Note = "whole process: the simulators run in-process, so allocations include their HTTP/JSON work and the leads the Marketo simulator stores; retained = simulator + store growth"
			res.memory = m
		}
		truncErrs(&st)
		return st
	}
	add := func(st Step) {
		res.steps = append(res.steps, st)
		o.Logf("  %-18s %-6s %7d rec  %5d calls (opt %5d)  %6.1fs sim %6.1fs wall  %4.0f%% of budget  606=%d 615=%d  errs=%d",
			st.Job, st.Run, st.Records, st.MarketoCalls, st.Optimum, st.SimSeconds, st.WallSeconds, 100*st.BudgetFraction, st.Answers606, st.Answers615, len(st.Errors))
	}
	o.Logf("scenario %d registrations, %d worker(s), budget %s (set up in %.1f s)", sc.Size, sc.Workers, w.budget, time.Since(setupStart).Seconds())
	for _, k := range []string{"sync", "import", "engagement", "interest"} {
		if !sc.has(k) {
			continue
		}
		name := map[string]string{"sync": "sync-leads", "import": "import-leads"}[k]
		if name == "" {
			name = k + "-metrics"
		}
		add(step(k, name, "first"))
		if !sc.NoSecond {
			w.clock.Advance(2 * time.Hour)
			add(step(k, name, "second"))
		}
	}
	if !sc.has("trigger") {
		return res, ctx.Err()
	}
	changes := max(sc.Size/10/sc.Workers, 1)
	st := newStep("trigger-campaign", "first")
	before := w.snap()
	w.runTrigger(ctx, changes, o.TriggerBatch, &st)
	after := w.snap()
	st.Records = after.campaignIDs - before.campaignIDs
	w.finishStep(&st, before)
	truncErrs(&st)
	add(st)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}
