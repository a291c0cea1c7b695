package app

import (
	"context"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/secrets"
)

type fixedSecrets struct{}

func (fixedSecrets) Marketo(context.Context, string) (secrets.MarketoCredentials, error) {
	return secrets.MarketoCredentials{BaseURL: "https://123-ABC-456.mktorest.test", MunchkinID: "123-ABC-456", ClientID: "id", ClientSecret: "secret"}, nil
}

func (fixedSecrets) Certain(context.Context, string) (secrets.CertainCredentials, error) {
	return secrets.CertainCredentials{Username: "api", Password: "pw"}, nil
}

// TestConnectorBuildsOneCertainBudgetPerAccount: the Certain client of a
// connection takes from the budget of its account (host and account code),
// sized by certainBudget with its defaults, built once per process and
// anew when the size changes; ReleaseBudgets gives it back like Marketo's.
func TestConnectorBuildsOneCertainBudgetPerAccount(t *testing.T) {
	type made struct {
		key  string
		size config.CertainBudget
	}
	var built []made
	var budgets []*closingBudget
	c := &Connector{Secrets: fixedSecrets{},
		CertainBudgets: func(key string, size config.CertainBudget) (certain.Budget, error) {
			built = append(built, made{key, size})
			b := &closingBudget{}
			budgets = append(budgets, b)
			return b, nil
		}}
	conn := config.Connection{Account: "ACME", CertainBaseURL: "https://App.Certain.test", CertainSecret: "c", MarketoSecret: "m"}
	ctx := context.Background()
	if _, err := c.Connect(ctx, conn); err != nil {
		t.Fatal(err)
	}
	conn.FieldMapping = []config.FieldMap{{Certain: "email", Marketo: "email"}} // new clients, same budget
	if _, err := c.Connect(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if len(built) != 1 || built[0] != (made{"app.certain.test/ACME", config.CertainBudget{Concurrent: 16, CallsPerSecond: 50}}) {
		t.Fatalf("budgets built %+v, want one for app.certain.test/ACME at 16 in flight and 50/s", built)
	}
	conn.CertainBudget = config.CertainBudget{Concurrent: 4, CallsPerSecond: 10}
	if _, err := c.Connect(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if len(built) != 2 || built[1].size != conn.CertainBudget {
		t.Fatalf("budgets built %+v, want a second one sized 4 and 10/s", built)
	}
	if err := c.ReleaseBudgets(ctx); err != nil || budgets[1].closed != 1 {
		t.Fatalf("the current Certain budget closed %d times, err %v; want once", budgets[1].closed, err)
	}
}
