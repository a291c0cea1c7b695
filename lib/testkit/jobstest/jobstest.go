// Package jobstest is the end-to-end harness of the job tests: both
// simulators, a store (embedded, or DynamoDB on moto_server), a connection
// and an Executor, all on one manual clock, so a test drives a job exactly
// as a Lambda invocation would and then inspects what each side saw.
package jobstest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/dynamostore"
	"github.com/certain-marketo/certain-marketo/lib/store/memstore"
	"github.com/certain-marketo/certain-marketo/lib/testkit/awstest"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
)

// Account is the Certain account code of the harness's connection.
const Account = "ACME"

// Start is where the harness clock starts: a Wednesday morning in Chicago,
// far from the daily quota reset.
func Start() time.Time { return time.Date(2026, 4, 1, 14, 0, 0, 0, time.UTC) }

// Env is one harness.
type Env struct {
	Marketo  *marketotest.Server
	Certain  *certaintest.Server
	Store    store.Store
	Conn     config.Connection
	Executor *jobs.Executor
	Clients  jobs.Clients
	Clock    *marketotest.ManualClock

	// MarketoClient and CertainClient are the concrete clients behind Clients.
	MarketoClient *marketo.Client
	CertainClient *certain.Client

	mu        sync.Mutex
	interrupt func(jobID string) bool
}

type options struct {
	funcs      map[string]jobs.JobFunc
	dynamo     bool
	mOpts      []marketotest.Option
	cOpts      []certaintest.Option
	editConn   []func(*config.Connection)
	editClient []func(*marketo.Config)
	editCert   []func(*certain.Config)
}

// Option configures New.
type Option func(*options)

// WithFunc registers a job function with the executor.
func WithFunc(jobType string, f jobs.JobFunc) Option {
	return func(o *options) { o.funcs[jobType] = f }
}

// WithDynamo runs the store on DynamoDB: a moto_server started for the test.
func WithDynamo() Option { return func(o *options) { o.dynamo = true } }

// WithMarketo passes options to the Marketo simulator.
func WithMarketo(opts ...marketotest.Option) Option {
	return func(o *options) { o.mOpts = append(o.mOpts, opts...) }
}

// WithCertain passes options to the Certain simulator.
func WithCertain(opts ...certaintest.Option) Option {
	return func(o *options) { o.cOpts = append(o.cOpts, opts...) }
}

// WithConnection edits the connection before it is stored.
func WithConnection(edit func(*config.Connection)) Option {
	return func(o *options) { o.editConn = append(o.editConn, edit) }
}

// WithMarketoClient edits the Marketo client configuration (budget, ...).
func WithMarketoClient(edit func(*marketo.Config)) Option {
	return func(o *options) { o.editClient = append(o.editClient, edit) }
}

// WithCertainClient edits the Certain client configuration (read-ahead, ...)
// after it is built from the connection.
func WithCertainClient(edit func(*certain.Config)) Option {
	return func(o *options) { o.editCert = append(o.editCert, edit) }
}

// DefaultMapping is the harness connection's field mapping: the demo's.
func DefaultMapping() []config.FieldMap { return demodata.DemoMapping() }

// New builds a harness. The Certain simulator serves account ACME.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	o := options{funcs: map[string]jobs.JobFunc{}}
	for _, f := range opts {
		f(&o)
	}
	clk := marketotest.NewManualClock(Start())
	env := &Env{Clock: clk}
	env.Marketo = marketotest.NewServer(t, append([]marketotest.Option{marketotest.WithClock(clk)}, o.mOpts...)...)
	env.Certain = certaintest.NewServer(t, append([]certaintest.Option{certaintest.WithClock(clk.Now)}, o.cOpts...)...)
	env.Certain.AddAccount(Account)

	mc, err := env.Marketo.NewClient(o.editClient...)
	if err != nil {
		t.Fatalf("jobstest: marketo client: %v", err)
	}

	if o.dynamo {
		env.Store = newDynamo(t, clk.Now)
	} else {
		env.Store = memstore.New(memstore.WithClock(clk.Now))
	}

	env.Conn = config.Connection{
		Account:        Account,
		CertainBaseURL: env.Certain.URL,
		CertainSecret:  "certain-marketo/test/certain",
		MarketoSecret:  "certain-marketo/test/marketo",
		AllowHTTP:      true,
		FieldMapping:   DefaultMapping(),
		CertainFields:  env.Certain.Fields(),
		PagingMode:     env.Certain.PagingMode(),
	}
	for _, e := range o.editConn {
		e(&env.Conn)
	}
	// The Certain client is the connection's, as lib/app builds it: a
	// test that edits the connection's Certain settings reads the
	// simulator with them.
	ccfg, err := env.Conn.CertainConfig(env.Certain.Username(), env.Certain.Password())
	if err != nil {
		t.Fatalf("jobstest: certain client: %v", err)
	}
	ccfg.Now, ccfg.Sleep = clk.Now, env.Certain.Config().Sleep
	for _, e := range o.editCert {
		e(&ccfg)
	}
	cc, err := certain.New(ccfg)
	if err != nil {
		t.Fatalf("jobstest: certain client: %v", err)
	}
	env.MarketoClient, env.CertainClient = mc, cc
	env.Clients = jobs.Clients{Marketo: mc, Certain: cc}
	ctx := context.Background()
	if err := env.Store.PutConnection(ctx, env.Conn); err != nil {
		t.Fatalf("jobstest: put connection: %v", err)
	}
	if env.Conn, err = env.Store.GetConnection(ctx, Account); err != nil {
		t.Fatalf("jobstest: get connection: %v", err)
	}
	env.Executor = &jobs.Executor{
		Store:     env.Store,
		Connector: StaticConnector{Clients: env.Clients, Account: Account},
		Funcs:     o.funcs,
		Now:       clk.Now,
		Interrupt: env.interrupted,
	}
	return env
}

func newDynamo(t testing.TB, now func() time.Time) store.Store {
	t.Helper()
	m := awstest.StartMoto(t)
	cfg := m.Config(t)
	names := dynamostore.TableNames{Config: "cm-config", State: "cm-state"}
	ctx := context.Background()
	if err := awstest.CreateTables(ctx, cfg, names); err != nil {
		t.Fatalf("jobstest: create tables: %v", err)
	}
	// awstest.Serial: moto applies concurrent conditional writes to one item
	// non-atomically; DynamoDB does not (see its doc).
	s, err := dynamostore.New(awstest.NewSerial(dynamodb.NewFromConfig(cfg)), names.Config, names.State, dynamostore.WithClock(now))
	if err != nil {
		t.Fatalf("jobstest: dynamostore: %v", err)
	}
	return s
}

func (e *Env) interrupted(jobID string) bool {
	e.mu.Lock()
	f := e.interrupt
	e.mu.Unlock()
	return f != nil && f(jobID)
}

// InterruptWhen makes every job's ShouldStop report true once f does: a
// deterministic stand-in for the Lambda deadline. nil removes it.
func (e *Env) InterruptWhen(f func(jobID string) bool) {
	e.mu.Lock()
	e.interrupt = f
	e.mu.Unlock()
}

// InterruptAfter makes ShouldStop report true from its (n+1)th call on, for
// every job, until InterruptWhen(nil).
func (e *Env) InterruptAfter(n int) {
	var mu sync.Mutex
	calls := 0
	e.InterruptWhen(func(string) bool {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return calls > n
	})
}

// PutJob stores a job (validated by the store).
func (e *Env) PutJob(t testing.TB, j config.Job) {
	t.Helper()
	if err := e.Store.PutJob(context.Background(), j); err != nil {
		t.Fatalf("jobstest: put job %q: %v", j.ID, err)
	}
}

// RunJob runs a job now through the executor and returns the stored run.
func (e *Env) RunJob(t testing.TB, ctx context.Context, jobID string) store.Run {
	t.Helper()
	sum, err := e.Executor.RunNow(ctx, jobID, false)
	if err != nil {
		t.Fatalf("jobstest: run %q: %v", jobID, err)
	}
	run, err := e.Store.GetRun(ctx, sum.RunID)
	if err != nil {
		t.Fatalf("jobstest: get run %s: %v", sum.RunID, err)
	}
	return run
}

// Outcomes returns a run's kept per-record outcomes.
func (e *Env) Outcomes(t testing.TB, runID string) []store.RecordOutcome {
	t.Helper()
	outs, err := e.Store.ListOutcomes(context.Background(), runID, "")
	if err != nil {
		t.Fatalf("jobstest: outcomes of %s: %v", runID, err)
	}
	return outs
}

// StaticConnector returns the same clients for its account.
type StaticConnector struct {
	Clients jobs.Clients
	Account string
}

// Connect implements jobs.Connector.
func (s StaticConnector) Connect(_ context.Context, conn config.Connection) (jobs.Clients, error) {
	if conn.Account != s.Account {
		return jobs.Clients{}, fmt.Errorf("jobstest: no clients for account %q", conn.Account)
	}
	if s.Clients.Marketo == nil || s.Clients.Certain == nil {
		return jobs.Clients{}, errors.New("jobstest: connector has no clients")
	}
	return s.Clients, nil
}
