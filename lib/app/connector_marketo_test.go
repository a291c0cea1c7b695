package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/secrets"
	"github.com/certain-marketo/certain-marketo/lib/store/memstore"
)

// connectorWorld is a Connector over both simulators, with the secrets a
// deployment would hold; budgets records what each budget was sized with.
type connectorWorld struct {
	mk   *marketotest.Server
	conn config.Connection
	c    *Connector
	got  []budgetAsked
}

type budgetAsked struct {
	key    string
	budget config.Budget
	zone   marketo.QuotaZone
}

func newConnectorWorld(t *testing.T, marketoSecret string) *connectorWorld {
	t.Helper()
	w := &connectorWorld{mk: marketotest.NewServer(t)}
	ct := certaintest.NewServer(t)
	ct.AddAccount("ACME")
	ct.AddEvent("ACME", map[string]any{"eventCode": "HS26", "eventName": "Harbour Summit"})
	marketoSecret = strings.ReplaceAll(marketoSecret, "SIM", w.mk.URL)
	marketoSecret = strings.ReplaceAll(marketoSecret, "CID", w.mk.ClientID())
	marketoSecret = strings.ReplaceAll(marketoSecret, "CSECRET", w.mk.ClientSecret())
	cc := ct.Config()
	src := secrets.Static{
		"m": marketoSecret,
		"c": `{"username":"` + cc.Username + `","password":"` + cc.Password + `"}`,
	}
	w.c = &Connector{Secrets: secrets.New(src, time.Minute, nil), Budgets: func(key string, b config.Budget, z marketo.QuotaZone) (marketo.Budget, error) {
		w.got = append(w.got, budgetAsked{key, b, z})
		return InProcessBudgets(key, b, z)
	}}
	w.conn = config.Connection{Account: "ACME", CertainBaseURL: cc.BaseURL, CertainSecret: "c", MarketoSecret: "m", AllowHTTP: true,
		FieldMapping: []config.FieldMap{{Certain: "email", Marketo: "email"}}}
	return w
}

// A secret's identityURL is the identity service as Marketo's Admin shows
// it, ending in /identity, and lib/secrets keeps it as given: the token is
// asked for at …/identity/oauth/token, never …/identity/identity/….
func TestConnectorIdentityURLAsAdminShowsIt(t *testing.T) {
	for name, secret := range map[string]string{
		"as Admin shows it":   `{"baseURL":"SIM","identityURL":"SIM/identity","clientId":"CID","clientSecret":"CSECRET"}`,
		"with trailing slash": `{"baseURL":"SIM/rest/","identityURL":"SIM/identity/","clientId":"CID","clientSecret":"CSECRET"}`,
		"the host only":       `{"baseURL":"SIM","identityURL":"SIM","clientId":"CID","clientSecret":"CSECRET"}`,
		"not given":           `{"baseURL":"SIM","clientId":"CID","clientSecret":"CSECRET"}`,
	} {
		t.Run(name, func(t *testing.T) {
			w := newConnectorWorld(t, secret)
			cl, err := w.c.Connect(context.Background(), w.conn)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cl.Marketo.DescribeLeads(context.Background()); err != nil {
				t.Fatalf("describe through the connector's client: %v", err)
			}
			var identity []string
			for _, c := range w.mk.Calls() {
				if strings.Contains(c.Path, "identity") {
					identity = append(identity, c.Path)
				}
			}
			if len(identity) != 1 || identity[0] != "/identity/oauth/token" {
				t.Fatalf("identity calls %v, want one to /identity/oauth/token", identity)
			}
		})
	}
}

// The connection's defaults (the daily budget share of 10,000, the quota
// zone) are applied where clients are built, so a scheduled job run by the
// executor gets them as trigger-campaign and the detector do.
func TestConnectorAppliesConnectionDefaultsForScheduledJobs(t *testing.T) {
	w := newConnectorWorld(t, `{"munchkinId":"123-abc-456","clientId":"CID","clientSecret":"CSECRET"}`)
	st := memstore.New()
	ctx := context.Background()
	if err := st.PutConnection(ctx, w.conn); err != nil { // as stored: no budget, no zone
		t.Fatal(err)
	}
	job := config.Job{ID: "j", Account: "ACME", Event: "HS26", Type: config.TypeSyncLeads, Enabled: true,
		Schedule: config.Schedule{Interval: config.Duration(15 * time.Minute)}, Params: config.Params{Statuses: []string{"Attended"}}}
	if err := st.PutJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	ran := false
	ex := &jobs.Executor{Store: st, Connector: w.c, Funcs: map[string]jobs.JobFunc{config.TypeSyncLeads: func(context.Context, *jobs.RunContext) error {
		ran = true
		return nil
	}}}
	res, err := ex.Tick(ctx, config.TypeSyncLeads)
	if err != nil || !ran || len(res.Ran) != 1 {
		t.Fatalf("tick: %+v %v (ran %t)", res, err, ran)
	}
	if len(w.got) != 1 {
		t.Fatalf("budgets built: %+v, want one", w.got)
	}
	b := w.got[0]
	if b.budget.Daily != config.DefaultDaily || b.budget.CallsPer20s != config.DefaultCallsPer20s || b.budget.Concurrent != config.DefaultConcurrent {
		t.Errorf("the executor's budget was sized %+v, want the defaults (daily %d)", b.budget, config.DefaultDaily)
	}
	if b.zone != marketo.DefaultQuotaZone || b.key != "123-ABC-456" {
		t.Errorf("budget key %q zone %q", b.key, b.zone)
	}
}

// The connection's quota zone reaches both the budget and the client.
func TestConnectorPassesQuotaZone(t *testing.T) {
	w := newConnectorWorld(t, `{"baseURL":"SIM","clientId":"CID","clientSecret":"CSECRET"}`)
	w.conn.QuotaZone = string(marketo.QuotaZoneUTCMinus6)
	if _, err := w.c.Connect(context.Background(), w.conn); err != nil {
		t.Fatal(err)
	}
	if len(w.got) != 1 || w.got[0].zone != marketo.QuotaZoneUTCMinus6 {
		t.Fatalf("budgets %+v, want one on UTC-6", w.got)
	}
}
