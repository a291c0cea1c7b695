package app

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// sharedBudgets returns the DynamoDB-backed budget shared by every Lambda of
// one Marketo instance. Until lib/limit lands this is the in-process budget.
func sharedBudgets(_ *dynamodb.Client, _ string) BudgetFactory {
	return func(_ string, b config.Budget) (marketo.Budget, error) { return LocalBudgets(b) }
}
