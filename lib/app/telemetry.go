package app

import (
	"context"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/obs"
)

// The metrics lib/app emits besides the runs' (lib/jobs Reporter): the
// change detector's heartbeat, and each Marketo instance's daily usage
// against the connection's daily share. Namespace CertainMarketo; the
// names and dimensions are documented in docs/operations.md §6.

// Telemetry is where those metrics go: W (os.Stdout in Lambda; nil: none),
// dimensioned by Stage when it is set.
type Telemetry struct {
	W     io.Writer
	Stage string
	Now   func() time.Time
}

func (t Telemetry) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t Telemetry) dims(kv ...string) map[string]string {
	d := map[string]string{}
	if t.Stage != "" {
		d["Stage"] = t.Stage
	}
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i]] = kv[i+1]
	}
	return d
}

// DetectorTick writes the line of one detector tick: DetectorTicks (1),
// DetectorTicksCompleted (1 when every watched scope was queued: the
// heartbeat an alarm watches) and DetectorScopesQueued.
func (t Telemetry) DetectorTick(res jobs.ScopeDispatch, tickErr error) error {
	if t.W == nil {
		return nil
	}
	m := map[string]float64{"DetectorTicks": 1, "DetectorTicksCompleted": 0, "DetectorScopesQueued": float64(res.Queued)}
	if tickErr == nil {
		m["DetectorTicksCompleted"] = 1
	}
	return obs.Line{Namespace: jobs.MetricsNamespace, Dimensions: t.dims(), Metrics: m, Time: t.now()}.Write(t.W)
}

// DetectorPolls writes the line of one batch of scope polls:
// DetectorScopesPolled, DetectorScopesSkipped (polled elsewhere or since
// the message's tick), DetectorScopesFailed, DetectorRegistrationsRead and
// DetectorChangesSent.
func (t Telemetry) DetectorPolls(results []jobs.ScopeResult) error {
	if t.W == nil {
		return nil
	}
	m := map[string]float64{"DetectorScopesPolled": 0, "DetectorScopesSkipped": 0, "DetectorScopesFailed": 0,
		"DetectorRegistrationsRead": 0, "DetectorChangesSent": 0}
	for _, s := range results {
		switch {
		case s.Error != "":
			m["DetectorScopesFailed"]++
		case s.Skipped != "":
			m["DetectorScopesSkipped"]++
		default:
			m["DetectorScopesPolled"]++
		}
		m["DetectorRegistrationsRead"] += float64(s.Read)
		m["DetectorChangesSent"] += float64(s.Sent)
	}
	return obs.Line{Namespace: jobs.MetricsNamespace, Dimensions: t.dims(), Metrics: m, Time: t.now()}.Write(t.W)
}

// BudgetUsage writes the usage line of one Marketo instance (see
// Connector.BudgetUsage); nothing when the count is unknown.
func (t Telemetry) BudgetUsage(instance string, u limit.DailyUsage) error {
	if t.W == nil || !u.Known {
		return nil
	}
	m := map[string]float64{"MarketoDailyCalls": float64(u.Calls)}
	if u.Limit > 0 {
		m["MarketoDailyBudget"] = float64(u.Limit)
		m["MarketoDailyUsedPercent"] = u.Percent()
	}
	return obs.Line{Namespace: jobs.MetricsNamespace, Dimensions: t.dims("MarketoInstance", instance), Metrics: m, Time: t.now()}.Write(t.W)
}

// usageReporter is a budget that knows the day's count (*limit.Shared,
// *limit.InProcess).
type usageReporter interface {
	DailyUsage(now time.Time) limit.DailyUsage
}

// watchedBudget is the budget of one Marketo instance as the Connector
// hands it to clients: it notes that the budget was asked for calls, so
// that the invocation's end reports the usage of the instances it used.
type watchedBudget struct {
	marketo.Budget
	mu   sync.Mutex
	used bool
}

func (w *watchedBudget) Acquire(ctx context.Context) (func(), error) {
	w.mu.Lock()
	w.used = true
	w.mu.Unlock()
	return w.Budget.Acquire(ctx)
}

// Close gives back what the budget holds, when it holds anything across
// calls (a shared budget).
func (w *watchedBudget) Close(ctx context.Context) error {
	if c, ok := w.Budget.(interface{ Close(context.Context) error }); ok {
		return c.Close(ctx)
	}
	return nil
}

// takeUsed reports whether the budget was used since the last call.
func (w *watchedBudget) takeUsed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	u := w.used
	w.used = false
	return u
}

// BudgetUsage writes one line per Marketo instance whose budget was used
// since the last call, dimensioned by Stage and MarketoInstance (munchkin id
// or REST host): MarketoDailyCalls (the instance's calls today, every
// Lambda's, as the budget last saw them) and, when the connection sets a
// daily share, MarketoDailyBudget and MarketoDailyUsedPercent. Call it
// after ReleaseBudgets, whose writes refresh the counts.
func (c *Connector) BudgetUsage(t Telemetry) error {
	if t.W == nil {
		return nil
	}
	c.mu.Lock()
	keys := slices.Sorted(maps.Keys(c.budgets))
	budgets := make([]*watchedBudget, len(keys))
	for i, k := range keys {
		budgets[i] = c.budgets[k]
	}
	c.mu.Unlock()
	now := t.now()
	for i, b := range budgets {
		r, ok := b.Budget.(usageReporter)
		if !b.takeUsed() || !ok {
			continue
		}
		if err := t.BudgetUsage(keys[i], r.DailyUsage(now)); err != nil {
			return err
		}
	}
	return nil
}
