package reliability

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
)

// StepMetrics runs engagement and interest metrics at the same time, as
// two Lambdas would, sharing the Marketo budget.
const StepMetrics = "engagement+interest"

// AllSteps is the order a day of the product runs in: import invitees,
// sync leads, trigger campaigns on status changes, upload metrics.
func AllSteps() []string { return []string{JobImport, JobSync, StepTrigger, StepMetrics} }

// Fault is one kind of misbehaviour. Setup runs once on the new world;
// Before runs before every attempt of every step (attempt 0 is the
// scheduled run; later ones are the next invocations).
type Fault struct {
	Name   string
	Setup  func(w *World)
	Before func(w *World, step string, attempt int)
}

// Scenario is a set of faults over the demo world.
type Scenario struct {
	Name   string
	Faults []Fault
	Steps  []string // default AllSteps()
	Seed   uint64
	// World adjusts the world configuration (simulator options, budget).
	World func(*Config)
}

// Result is one row of the figures table.
type Result struct {
	Scenario   string
	Faults     string         // what was injected, by kind
	Injected   int            // faults injected in total
	Outcomes   []string       // per step: the outcomes of its attempts, in order
	Codes      map[string]int // Marketo error codes the simulator answered
	Violations []Violation
}

// Held reports whether every invariant held.
func (r Result) Held() bool { return len(r.Violations) == 0 }

// Outcome summarises the steps' outcomes.
func (r Result) Outcome() string { return strings.Join(r.Outcomes, "; ") }

// maxAttempts bounds the invocations of one step under faults.
const maxAttempts = 12

// RunScenario runs the scenario's steps under its faults until each step
// finishes (continuing after checkpoints, the quota reset, crashes and
// failed runs as the schedule would), then once more without faults (the
// "next run" that retries recorded failures), and checks every invariant:
// against the seeded state, against a fault-free reference world, and each
// run record against the simulators.
func RunScenario(t testing.TB, sc Scenario) Result {
	t.Helper()
	steps := sc.Steps
	if steps == nil {
		steps = AllSteps()
	}
	cfg := Config{Seed: sc.Seed}
	if sc.World != nil {
		sc.World(&cfg)
	}
	ref := referenceOf(t, cfg.Data, steps)

	w := NewWorld(t, cfg)
	base := w.Observe()
	var names []string
	for _, f := range sc.Faults {
		names = append(names, f.Name)
		if f.Setup != nil {
			f.Setup(w)
		}
	}
	res := Result{Scenario: sc.Name}
	for _, step := range steps {
		res.Outcomes = append(res.Outcomes, step+": "+w.drive(t, step, sc.Faults))
	}
	// The next runs: faults gone, every step again until it settles.
	w.Net.Clear()
	w.Net.ClearHooks()
	w.InterruptWhen(nil)
	w.Marketo.SetLatency(0)
	for _, step := range steps {
		w.drive(t, step, nil)
	}
	got := w.Observe()
	res.Violations = append(res.Violations, w.Violations()...)
	res.Violations = append(res.Violations, CheckUnique(base, got)...)
	res.Violations = append(res.Violations, CheckSame(ref, got)...)
	inj := w.Net.Injected()
	res.Injected = w.Net.Total()
	var parts []string
	for _, k := range sortedKeys(inj) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, inj[k]))
	}
	res.Faults = strings.Join(parts, ", ")
	if res.Faults == "" {
		res.Faults = strings.Join(names, ", ")
	}
	res.Codes = map[string]int{}
	for _, c := range w.Marketo.Calls() {
		if c.Code != "" {
			res.Codes[c.Code]++
		}
	}
	return res
}

// drive runs one step until it finishes or maxAttempts invocations were
// used, and returns its outcomes ("checkpointed→succeeded").
func (w *World) drive(t testing.TB, step string, faults []Fault) string {
	t.Helper()
	var outs []string
	for attempt := range maxAttempts {
		for _, f := range faults {
			if f.Before != nil {
				f.Before(w, step, attempt)
			}
		}
		out, err := w.runStep(step)
		if err != nil {
			t.Fatalf("step %s attempt %d: %v", step, attempt, err)
		}
		outs = append(outs, out)
		switch {
		case out == "crashed":
			// A new process after the dead one's lease and locks expired.
			// Requests the dead process had on the wire still land (the
			// servers do not see the cancellation): let them, before the
			// next invocation's run record starts counting.
			time.Sleep(50 * time.Millisecond)
			w.Store.Recover()
			w.Clock.Advance(17 * time.Minute)
			continue
		case strings.Contains(out, store.RunQuota) || out == "redelivery" && w.lastMarketoCode() == "607":
			next := marketo.NextDailyReset(w.Clock.Now(), marketo.ChicagoLocation())
			w.Clock.Advance(next.Sub(w.Clock.Now()) + time.Minute)
			continue
		case finished(out):
			return compact(outs)
		}
		w.Clock.Advance(time.Minute)
	}
	return compact(outs) + " (unfinished)"
}

// finished reports whether every run of a step's outcome ended its work.
func finished(out string) bool {
	for _, p := range strings.Split(out, "+") {
		if p != store.RunSucceeded && p != store.RunPartial {
			return false
		}
	}
	return true
}

// runStep runs one step; StepMetrics runs its two jobs concurrently.
func (w *World) runStep(step string) (string, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.mu.Lock()
	w.cancelRun = cancel
	w.mu.Unlock()
	if step != StepMetrics {
		return w.Run(ctx, step)
	}
	outs, err := w.RunTogether(ctx, JobEngagement, JobInterest)
	if err != nil {
		return "", err
	}
	if outs[0] == "crashed" || outs[1] == "crashed" {
		return "crashed", nil
	}
	// Both finished: report one word when they agree.
	sort.Strings(outs)
	return outs[0] + "+" + outs[1], nil
}

// CancelRun cancels the context of the running step (the process died).
func (w *World) CancelRun() {
	w.mu.Lock()
	c := w.cancelRun
	w.mu.Unlock()
	if c != nil {
		c()
	}
}

// compact turns [checkpointed checkpointed succeeded] into
// "checkpointed×2→succeeded".
func compact(outs []string) string {
	var parts []string
	for i := 0; i < len(outs); {
		j := i
		for j < len(outs) && outs[j] == outs[i] {
			j++
		}
		if j-i > 1 {
			parts = append(parts, fmt.Sprintf("%s×%d", outs[i], j-i))
		} else {
			parts = append(parts, outs[i])
		}
		i = j
	}
	return strings.Join(parts, "→")
}

// Reference runs the steps on a fault-free world and returns what the
// simulators hold afterwards.
func Reference(t testing.TB, steps []string) State {
	t.Helper()
	return referenceOf(t, nil, steps)
}

// referenceOf is Reference over the data set d (nil: the demo data set).
func referenceOf(t testing.TB, d *demodata.Dataset, steps []string) State {
	t.Helper()
	w := NewWorld(t, Config{Data: d})
	for range 2 {
		for _, s := range steps {
			if out := w.drive(t, s, nil); strings.Contains(out, "unfinished") {
				t.Fatalf("reference world: step %s did not finish: %s", s, out)
			}
		}
	}
	if vs := w.Violations(); len(vs) > 0 {
		t.Errorf("reference world broke invariants: %v", vs)
	}
	return w.Observe()
}

// lastMarketoCode is the code of the simulator's last answer.
func (w *World) lastMarketoCode() string {
	calls := w.Marketo.Calls()
	for i := len(calls) - 1; i >= 0; i-- {
		if !strings.HasPrefix(calls[i].Path, "/identity/") {
			return calls[i].Code
		}
	}
	return ""
}
