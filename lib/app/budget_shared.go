package app

import (
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// sharedBudgets returns the DynamoDB-backed budget shared by every Lambda of
// one Marketo instance (MARKETO_BUDGET_MODE=shared, the default): a window
// of calls per 20 s, self-expiring concurrency leases and a daily counter,
// all held in the state table.
func sharedBudgets(api limit.DynamoAPI, table string) BudgetFactory {
	return func(instanceKey string, b config.Budget) (marketo.Budget, error) {
		return limit.NewShared(api, table, instanceKey, limit.Config{CallsPer20s: b.CallsPer20s, Concurrent: b.Concurrent, Daily: b.Daily})
	}
}
