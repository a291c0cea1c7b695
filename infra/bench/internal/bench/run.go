package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/testkit/awstest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// Options configure Run.
type Options struct {
	// Scenarios to run; nil: every job at 10,000 registrations with 1 and
	// 4 workers, and the jobs that fit the 10-minute run at 100,000.
	Scenarios  []Scenario
	Speed      float64       // simulated seconds per wall second (default 20)
	LatencyMin time.Duration // simulated Marketo latency, uniform in [min, max]
	LatencyMax time.Duration
	Seed       int64
	// TriggerBatch is how many change messages reach the trigger function
	// per invocation (default 100: template.yaml's SQS BatchSize, with a
	// 20 s batching window).
	TriggerBatch int
	Out          string // output directory
	RepoRoot     string // where functions/ lives; "" skips the cold-start section
	ColdStart    bool
	MotoServer   string // moto_server executable; "" = not installed
	// Parallel runs consecutive scenarios not marked Alone at the same
	// time; otherwise one at a time.
	Parallel bool
	// Scale, when set, runs the scale scenario (scale.go) after the others,
	// on a moto_server of its own; ScaleOnly runs nothing else.
	Scale     *ScaleOptions
	ScaleOnly bool
	// PipelineSize is the registrations of each pipeline row (0: the
	// section is not measured; it needs RepoRoot and the go command).
	PipelineSize int
	// MemorySizes are the registrations of each process-memory run (the
	// sync-leads bootstrap in its own process; empty: not measured; it
	// needs RepoRoot and moto_server).
	MemorySizes []int
	Logf        func(format string, args ...any)
	// Progress receives a progress line while a scheduled step runs (on a
	// terminal redrawn in place, otherwise every 10 s); nil: none.
	Progress io.Writer
}

func (o *Options) defaults() {
	if len(o.Scenarios) == 0 {
		o.Scenarios = DefaultScenarios(false)
	}
	if o.Speed <= 0 {
		o.Speed = 20
	}
	if o.LatencyMin == 0 && o.LatencyMax == 0 {
		o.LatencyMin, o.LatencyMax = 300*time.Millisecond, 800*time.Millisecond
	}
	if o.TriggerBatch <= 0 {
		o.TriggerBatch = 100
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

type budgetFactory = func(now func() time.Time, sleep func(context.Context, time.Duration) error) (func() (marketo.Budget, error), string, error)

// DefaultScenarios is the full run (or, quick, 10,000 registrations only).
// The metrics jobs spend most of their time in the Marketo simulator's
// custom-object lookup, which scans every stored record per record written
// (quadratic in the run's size), so at 100,000 they alone would outlast the
// 10-minute run: they, import-leads and 4-worker trigger are measured at
// 10,000 only. The second runs (nothing changed) do not depend on the
// worker count: the 1-worker scenarios carry them.
func DefaultScenarios(quick bool) []Scenario {
	s := []Scenario{{Size: 10_000, Workers: 1, Memory: quick, Alone: quick}, {Size: 10_000, Workers: 4, NoSecond: true}}
	if quick {
		return s
	}
	return append(s, Scenario{Size: 100_000, Workers: 1, Memory: true, Alone: true, Jobs: []string{"sync", "trigger"}},
		Scenario{Size: 100_000, Workers: 4, NoSecond: true, Jobs: []string{"sync"}})
}

// inProcessShared: one in-process budget (limit.InProcess) for every worker of
// the world.
func inProcessShared(now func() time.Time, sleep func(context.Context, time.Duration) error) (func() (marketo.Budget, error), string, error) {
	b, err := limit.NewInProcess(limit.Config{CallsPer20s: CallsPer20s, Concurrent: Concurrent, Now: now, Sleep: sleep})
	if err != nil {
		return nil, "", err
	}
	return func() (marketo.Budget, error) { return b, nil }, "one limit.InProcess shared by the workers (in process)", nil
}

// dynamoShared: a lib/limit.Shared per worker, all on one item in moto,
// through one awstest.Serial (moto applies concurrent conditional writes
// to one item non-atomically; see its doc).
func dynamoShared(db *dynamodb.Client, table string) budgetFactory {
	api := awstest.NewSerial(db)
	return func(now func() time.Time, sleep func(context.Context, time.Duration) error) (func() (marketo.Budget, error), string, error) {
		instance := fmt.Sprintf("bench-%d", time.Now().UnixNano())
		return func() (marketo.Budget, error) {
			b, err := limit.NewShared(api, table, instance, limit.Config{CallsPer20s: CallsPer20s, Concurrent: Concurrent, Now: now, Sleep: sleep})
			if err != nil {
				return nil, fmt.Errorf("dynamo budget: %w", err)
			}
			return b, nil
		}, "lib/limit DynamoDB budget (moto_server, serialised), one per worker, closed after every invocation", nil
	}
}

// Moto is a moto_server this command started.
type Moto struct {
	cmd      *exec.Cmd
	Endpoint string
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartMoto starts moto_server on a free loopback port and waits for it.
func StartMoto(ctx context.Context, exe string) (*Moto, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", exe, err)
	}
	m := &Moto{cmd: cmd, Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port)}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(m.Endpoint + "/moto-api/"); err == nil {
			resp.Body.Close()
			return m, nil
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	m.Stop()
	return nil, fmt.Errorf("moto_server did not answer on %s within 30 s", m.Endpoint)
}

// Stop ends the moto_server this command started (by its process).
func (m *Moto) Stop() {
	if m != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
		_ = m.cmd.Wait()
	}
}

func motoTable(ctx context.Context, endpoint string) (*dynamodb.Client, string, error) {
	db := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "bench", SecretAccessKey: "bench", Source: "bench dummy"}, nil
		}),
	})
	table := "bench-state"
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange}},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return nil, "", fmt.Errorf("create table in moto: %w", err)
	}
	return db, table, nil
}

// Run measures everything and writes the report files into o.Out.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	start := time.Now()
	rep := &Report{
		Generated: start.UTC().Format(time.RFC3339),
		Setup: Setup{Speed: o.Speed, LatencyMin: o.LatencyMin.String(), LatencyMax: o.LatencyMax.String(),
			CallsPer20s: CallsPer20s, Concurrent: Concurrent, Seed: o.Seed, TriggerBatch: o.TriggerBatch, Scenarios: o.Scenarios},
	}
	rep.Setup.Schedule = "one at a time"
	if o.Parallel {
		rep.Setup.Schedule = "concurrently where not marked alone (the memory scenario and the cold start run alone)"
	}
	var dyn budgetFactory
	motoEndpoint := ""
	switch {
	case o.ScaleOnly:
		rep.SharedBudgetNote = "not measured in this run (-scale-only)"
	case o.MotoServer == "":
		rep.SharedBudgetNote = "not measured: moto_server not installed; the 4-worker rows share one limit.InProcess"
	default:
		m, err := StartMoto(ctx, o.MotoServer)
		if err != nil {
			rep.SharedBudgetNote = "not measured: " + err.Error() + "; the 4-worker rows share one limit.InProcess"
		} else {
			defer m.Stop()
			motoEndpoint = m.Endpoint
			db, table, err := motoTable(ctx, m.Endpoint)
			if err != nil {
				rep.SharedBudgetNote = "not measured: " + err.Error()
			} else {
				dyn = dynamoShared(db, table)
				rep.SharedBudgetNote = "4-worker rows: each worker has its own lib/limit.Shared budget on one DynamoDB item in moto_server " + m.Endpoint
			}
		}
	}
	run := func(sc Scenario) (scenarioResult, error) {
		b := budgetFactory(inProcessShared)
		if sc.Workers > 1 && dyn != nil {
			b = dyn
		}
		res, err := runScenario(ctx, o, sc, b)
		if err != nil {
			return res, fmt.Errorf("scenario %d registrations x %d workers: %w", sc.Size, sc.Workers, err)
		}
		return res, nil
	}
	cold := o.ColdStart && o.RepoRoot != ""
	binDir := filepath.Join(o.Out, "bin")
	if o.ScaleOnly {
		o.Scenarios, cold, o.PipelineSize = nil, false, 0
	}
	results := make([]scenarioResult, len(o.Scenarios))
	for i := 0; i < len(o.Scenarios); {
		// A group: one Alone scenario, or (Parallel) the run of consecutive
		// scenarios that are not Alone.
		j := i + 1
		if o.Parallel && !o.Scenarios[i].Alone {
			for j < len(o.Scenarios) && !o.Scenarios[j].Alone {
				j++
			}
		}
		g, _ := errgroup.WithContext(ctx)
		for k := i; k < j; k++ {
			g.Go(func() (err error) {
				results[k], err = run(o.Scenarios[k])
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		i = j
	}
	for _, res := range results {
		rep.Steps = append(rep.Steps, res.steps...)
		if res.memory != nil {
			rep.Memory = res.memory
		}
	}
	rep.Scale, rep.ScaleNote = runScale(ctx, o)
	// The cold start runs after the scenarios, alone: the builds would
	// take CPU from the simulators, and the inits are timed.
	if cold {
		o.Logf("cold start: building bootstraps (host and arm64)")
		builds := BuildBootstraps(ctx, o.RepoRoot, binDir)
		o.Logf("cold start: init against a Runtime API stub, then aws-lambda-rie")
		rep.ColdStartNote = MeasureInits(ctx, o.RepoRoot, binDir, builds, o.Logf)
		rep.ColdStart = builds
	} else {
		rep.ColdStartNote = "not measured in this run"
	}
	processMemorySection(ctx, o, rep, motoEndpoint, binDir)
	pipelineSection(ctx, o, rep)
	rep.Seconds = time.Since(start).Seconds()
	if err := rep.Write(o.Out); err != nil {
		return rep, err
	}
	return rep, nil
}

// runScale runs the scale scenario (its budgets on a moto_server of its
// own when asked), or says why not.
func runScale(ctx context.Context, o Options) (*Scale, string) {
	if o.Scale == nil {
		return nil, "not measured in this run"
	}
	endpoint, pid := "", 0
	if o.Scale.BudgetsOnMoto {
		if o.MotoServer == "" {
			return nil, "not measured: moto_server is not installed (-scale-moto needs it)"
		}
		m, err := StartMoto(ctx, o.MotoServer)
		if err != nil {
			return nil, "not measured: " + err.Error()
		}
		defer m.Stop()
		endpoint, pid = m.Endpoint, m.cmd.Process.Pid
	}
	start := time.Now()
	sc, err := RunScale(ctx, *o.Scale, endpoint, pid, o.Logf)
	if err != nil {
		return nil, "not measured: " + err.Error()
	}
	o.Logf("scale: done in %.0f s (makespan %.1f s, ideal %.1f s)", time.Since(start).Seconds(), sc.MakespanSeconds, sc.IdealSeconds)
	return sc, ""
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// pipelineSection measures the pipeline rows, alone (after the scenarios).
func pipelineSection(ctx context.Context, o Options, rep *Report) {
	if o.PipelineSize <= 0 || o.RepoRoot == "" {
		rep.PipelineNote = "skipped (-pipeline 0, or no repository root to run it from)"
		return
	}
	o.Logf("pipeline: 4 jobs x 1 and 4 invocations at %d registrations, real latencies", o.PipelineSize)
	f, err := runPipeline(ctx, o)
	if err != nil {
		rep.PipelineNote = "not measured: " + err.Error()
		return
	}
	s := f.Setup
	rep.Pipeline, rep.PipelineSideBySide = f.Rows, f.SideBySide
	rep.PipelineNote = fmt.Sprintf("Each job over %d registrations of one Certain account (spread evenly over one event per invocation), its invocations at once, each continued until done. "+
		"Marketo %s–%s per call, budget %d calls / 20 s and %d in flight; Certain %s–%s per call, simulator limit %d calls/s and %d in flight (429 with Retry-After beyond), "+
		"the product's shared Certain budget and adaptive concurrency. Time is simulated (testing/synctest): the clock moves only while every goroutine waits for a call, a budget or a back-off, "+
		"so the wall times hold the modelled latencies and waits and none of the jobs' or simulators' CPU; the CPU column is what the computation cost on this machine, far below the wall time, so CPU does not bound it. "+
		"Floor = the largest of: Marketo calls ÷ budget rate, Certain calls ÷ Certain rate limit, Certain calls × mean latency ÷ Certain concurrency limit. Goals: wall ≤ 1.15 × floor, 429 ≤ 1%% of Certain calls, no 606/615",
		o.PipelineSize, s.MarketoLatencyMin, s.MarketoLatencyMax, s.MarketoCallsPer20s, s.MarketoConcurrent, s.CertainLatencyMin, s.CertainLatencyMax, s.CertainRate, s.CertainConcurrent)
}

// processMemorySection measures the sync-leads bootstrap's peak RSS in its
// own process, alone (after the scenarios and the cold start).
func processMemorySection(ctx context.Context, o Options, rep *Report, motoEndpoint, binDir string) {
	switch {
	case len(o.MemorySizes) == 0:
		rep.MemoryProcessNote = "not measured in this run (-memory-process \"\")"
		return
	case o.RepoRoot == "":
		rep.MemoryProcessNote = "not measured: no repository root to build functions/sync-leads from"
		return
	case motoEndpoint == "":
		rep.MemoryProcessNote = "not measured: the bootstrap reads its connection, job and secrets from AWS, and moto_server is not running"
		return
	}
	start := time.Now()
	rows, err := MeasureProcessMemory(ctx, o.RepoRoot, binDir, motoEndpoint, o.MemorySizes, o.Seed, ProcessOptions{}, o.Logf)
	rep.MemoryProcess = rows
	rep.MemoryProcessNote = fmt.Sprintf("The sync-leads bootstrap, built as `make build` builds it (-tags lambda.norpc -trimpath -ldflags=\"-s -w\", CGO off) for this host (%s), "+
		"run as its own process against a Lambda Runtime API served by this command (not aws-lambda-rie, which would make the bootstrap its grandchild): "+
		"one direct-run invocation after another in the same warm process until the first run over the registrations is no longer checkpointed. "+
		"Simulators outside the job's process (in this command's process, real clock, no added latency): Marketo at its real limits (%d calls / 20 s, %d in flight), "+
		"Certain without a limit; the connection's budgets Marketo %d calls / 20 s and %d in flight, Certain %d in flight (the default) and %d calls/s (the most allowed, so that the budget does not pace the run); "+
		"MARKETO_BUDGET_MODE=in-process (the shared mode's DynamoDB leases would only add calls to moto); connection, job, run records and secrets in moto_server. "+
		"Peak RSS = VmHWM in /proc/<pid>/status after the last response, or the largest VmRSS sampled every 100 ms where higher (the kernel updates the high-water mark lazily); not wait4's ru_maxrss, into which Linux folds the parent's high-water mark at exec; "+
		"peak heap and peak live heap = the largest heap at the start of a collection and the largest marked live, from GODEBUG=gctrace=1. Goal: under 32 MB RSS at any size. Measured in %.0f s",
		runtime.GOARCH, CallsPer20s, Concurrent, processMarketoBudget.CallsPer20s, processMarketoBudget.Concurrent,
		processCertainBudget.Concurrent, processCertainBudget.CallsPerSecond, time.Since(start).Seconds())
	if err != nil {
		rep.MemoryProcessNote += "; stopped: " + err.Error()
	}
}
