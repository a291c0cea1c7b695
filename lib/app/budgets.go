package app

import (
	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// BudgetFactory returns the Marketo budget of one instance (keyed by
// secrets.MarketoCredentials.InstanceKey) sized by a connection's configured
// share, its daily count on the connection's quota zone.
type BudgetFactory func(instanceKey string, b config.Budget, zone marketo.QuotaZone) (marketo.Budget, error)

// Budgets is the BudgetFactory of f: a connection's configured share (calls
// per 20 s, calls in flight, daily calls) sizes its instance's budget. With
// limit.ModeShared (MARKETO_BUDGET_MODE=shared, the default) the budget is
// held in the state table and shared by every Lambda of the instance: a
// window of calls per 20 s, self-expiring concurrency leases and a daily
// counter.
func Budgets(f limit.Factory) BudgetFactory {
	return func(instanceKey string, b config.Budget, zone marketo.QuotaZone) (marketo.Budget, error) {
		return f.New(instanceKey, limit.Config{CallsPer20s: b.CallsPer20s, Concurrent: b.Concurrent, Daily: b.Daily, QuotaZone: zone})
	}
}

// InProcessBudgets is a BudgetFactory of in-process budgets (one per
// instance and process): for make demo and MARKETO_BUDGET_MODE=in-process.
func InProcessBudgets(instanceKey string, b config.Budget, zone marketo.QuotaZone) (marketo.Budget, error) {
	return Budgets(limit.Factory{Mode: limit.ModeInProcess})(instanceKey, b, zone)
}

// CertainBudgetFactory returns the budget of one Certain account (keyed by
// its host and account code) sized by a connection's certainBudget.
type CertainBudgetFactory func(accountKey string, b config.CertainBudget) (certain.Budget, error)

// CertainBudgets is the CertainBudgetFactory of f: with limit.ModeShared
// (MARKETO_BUDGET_MODE=shared, the default, also decides this) the budget
// is held in the state table and shared by every Lambda calling the
// account: a pace of calls per second and self-expiring concurrency leases.
func CertainBudgets(f limit.Factory) CertainBudgetFactory {
	return func(accountKey string, b config.CertainBudget) (certain.Budget, error) {
		return f.NewCertain(accountKey, limit.CertainConfig{Concurrent: b.Concurrent, CallsPerSecond: b.CallsPerSecond})
	}
}

// InProcessCertainBudgets is a CertainBudgetFactory of in-process budgets
// (one per account and process): for make demo and in-process mode.
func InProcessCertainBudgets(accountKey string, b config.CertainBudget) (certain.Budget, error) {
	return CertainBudgets(limit.Factory{Mode: limit.ModeInProcess})(accountKey, b)
}
