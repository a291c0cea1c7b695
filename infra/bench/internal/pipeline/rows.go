package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/store"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Figures is what TestPipelineFigures writes (make bench runs it in its own
// process and reads the file).
type Figures struct {
	Setup      Setup       `json:"setup"`
	Rows       []Row       `json:"rows"`
	SideBySide *SideBySide `json:"sideBySide,omitempty"`
}

// Row is one measured run: every invocation of one job kind at once, each
// continued (as the next tick would) until it finished.
type Row struct {
	Job           string `json:"job"`
	Registrations int    `json:"registrations"`
	Invocations   int    `json:"invocations"`
	// WallSeconds is the run's elapsed time on the simulated clock, from
	// the first invocation's start to the last one's end.
	WallSeconds float64 `json:"wallSeconds"`
	// FloorSeconds is the largest of: Marketo calls ÷ the budget's rate,
	// Certain calls ÷ the tenant's rate, and Certain calls × their mean
	// latency ÷ the tenant's concurrency.
	FloorSeconds float64 `json:"floorSeconds"`
	Bound        string  `json:"bound"` // "certain" or "marketo": which term is the floor
	Certain429   int     `json:"certain429"`
	Marketo606   int     `json:"marketo606"`
	Marketo615   int     `json:"marketo615"`

	Ratio                float64        `json:"ratio"` // WallSeconds / FloorSeconds
	MarketoCalls         int            `json:"marketoCalls"`
	CertainCalls         int            `json:"certainCalls"`
	CertainMeanLatencyMs float64        `json:"certainMeanLatencyMs"`
	MarketoFloorSeconds  float64        `json:"marketoFloorSeconds"`
	CertainRateSeconds   float64        `json:"certainRateFloorSeconds"`
	CertainConcSeconds   float64        `json:"certainConcurrencyFloorSeconds"`
	CertainPeakInFlight  int            `json:"certainPeakInFlight"`
	CertainPausedSeconds float64        `json:"certainPausedSeconds"` // time the clients held every call for Retry-After
	Invocations2         int            `json:"invocationsRun"`       // Lambda invocations, continuations included
	Outcomes             map[string]int `json:"outcomes"`
	// CPUSeconds is the process CPU time (user + system) the run cost:
	// the jobs and the simulators together, never part of WallSeconds.
	CPUSeconds float64 `json:"cpuSeconds"`
	// RealSeconds is how long the run took to compute on this machine.
	RealSeconds float64  `json:"realSeconds"`
	Errors      []string `json:"errors,omitempty"`
}

// invocationTimeout is a Lambda invocation's limit (template.yaml: 900 s).
const invocationTimeout = 900 * time.Second

// Run measures one row inside the caller's synctest bubble.
func Run(ctx context.Context, s Setup, kind string, registrations, invocations int) (Row, error) {
	row := Row{Job: kind, Registrations: registrations, Invocations: invocations, Outcomes: map[string]int{}}
	w, err := newWorld(ctx, s, registrations, invocations)
	if err != nil {
		return row, err
	}
	ids, err := w.putJobs(ctx, kind, registrations)
	if err != nil {
		return row, err
	}
	t0 := w.clock.Now()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, wk := range w.workers {
		wg.Go(func() {
			n, sum, err := w.runToEnd(ctx, wk, ids[i])
			mu.Lock()
			defer mu.Unlock()
			row.Invocations2 += n
			for k, v := range sum {
				row.Outcomes[k] += v
			}
			if err != nil {
				row.Errors = append(row.Errors, err.Error())
			}
		})
	}
	wg.Wait()
	row.WallSeconds = w.clock.Now().Sub(t0).Seconds()
	w.figures(&row)
	return row, nil
}

// runToEnd runs a job in invocations of at most 900 s until it ends.
func (w *world) runToEnd(ctx context.Context, wk *worker, jobID string) (int, map[string]int, error) {
	counts := map[string]int{}
	for n := 1; n <= 50; n++ {
		ictx, cancel := context.WithTimeout(ctx, invocationTimeout)
		sum, err := wk.exec.RunNow(ictx, jobID, false)
		cancel()
		if err != nil {
			return n, counts, fmt.Errorf("%s: %w", jobID, err)
		}
		for k, v := range sum.Counts {
			counts[k] += v
		}
		switch sum.Outcome {
		case store.RunCheckpointed:
			continue
		case store.RunSucceeded, store.RunPartial:
			return n, counts, nil
		default:
			return n, counts, fmt.Errorf("%s: %s: %s", jobID, sum.Outcome, sum.Error)
		}
	}
	return 50, counts, errors.New(jobID + ": not finished after 50 invocations")
}

// figures fills in the calls, the answers and the floor.
func (w *world) figures(row *Row) {
	s := w.setup
	var busy time.Duration
	for _, wk := range w.workers {
		st := wk.cc.Stats()
		row.CertainCalls += st.Calls
		busy += st.CallTime
		row.CertainPeakInFlight = max(row.CertainPeakInFlight, st.PeakInFlight)
		row.CertainPausedSeconds += st.Paused.Seconds()
	}
	row.Certain429 = w.ce.LimitStats().Throttled
	for _, c := range w.mk.Calls() {
		if c.Path == "/identity/oauth/token" {
			continue
		}
		row.MarketoCalls++
		switch c.Code {
		case "606":
			row.Marketo606++
		case "615":
			row.Marketo615++
		}
	}
	mean := (s.CertainLatencyMin + s.CertainLatencyMax) / 2
	if row.CertainCalls > 0 {
		mean = busy / time.Duration(row.CertainCalls)
	}
	row.CertainMeanLatencyMs = float64(mean) / float64(time.Millisecond)
	row.MarketoFloorSeconds = float64(row.MarketoCalls) / (float64(s.MarketoCallsPer20s) / 20)
	row.CertainRateSeconds = float64(row.CertainCalls) / float64(s.CertainRate)
	row.CertainConcSeconds = float64(row.CertainCalls) * mean.Seconds() / float64(s.CertainConcurrent)
	row.FloorSeconds, row.Bound = row.MarketoFloorSeconds, "marketo"
	if c := max(row.CertainRateSeconds, row.CertainConcSeconds); c > row.FloorSeconds {
		row.FloorSeconds, row.Bound = c, "certain"
	}
	if row.FloorSeconds > 0 {
		row.Ratio = row.WallSeconds / row.FloorSeconds
	}
}
