package bench

// The job process's memory: the deployed sync-leads bootstrap (built with
// `make build`'s flags for the host) runs in its own process against a
// Runtime API of this command's own, with the Marketo and Certain
// simulators and moto_server in other processes (the simulators in this
// one). Its peak RSS is the kernel's: ru_maxrss of wait4 on the bootstrap,
// which is this command's direct child (under aws-lambda-rie it would be
// the emulator's child, and the emulator's rusage is not the job's).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/dynamostore"
	"github.com/certain-marketo/certain-marketo/lib/testkit/awstest"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
)

// ProcessMemory is one first sync-leads run of the real bootstrap in its
// own process.
type ProcessMemory struct {
	Function      string `json:"function"`
	Registrations int    `json:"registrations"`
	// PeakRSSMB is the process's VmHWM (/proc/<pid>/status) after its
	// last response, or SampledRSSMB where higher, MiB; 0 where /proc is
	// missing.
	PeakRSSMB float64 `json:"peakRssMB"`
	// SampledRSSMB is the largest VmRSS seen sampling every 100 ms, MiB.
	SampledRSSMB float64 `json:"sampledRssMB"`
	// PeakHeapMB is the largest heap the Go runtime reported at the start
	// of a collection, PeakLiveMB the largest marked live at the end of
	// one (GODEBUG=gctrace=1 on the process), MiB.
	PeakHeapMB float64 `json:"peakHeapMB"`
	PeakLiveMB float64 `json:"peakLiveMB"`
	GCs        int     `json:"gcs"`
	// CPUSeconds is the process's user and system CPU time.
	CPUSeconds float64 `json:"cpuSeconds"`
	// GoMemLimit is the GOMEMLIMIT the process ran with; "" for none.
	GoMemLimit string `json:"goMemLimit,omitempty"`
	// Resend: the run measured is a forced sync after a first one, so
	// every profile is linked and no write-back is due (Marketo is the
	// bound, every batch the budget allows in flight).
	Resend bool `json:"resend,omitempty"`
	// GOGC is the GOGC the process ran with; "" for none in its
	// environment: the product's own setting (50, lib/app/main.go).
	GOGC string `json:"gogc,omitempty"`
	// MarketoConcurrent is the connection's Marketo budget concurrency:
	// how many Sync Leads batches the run keeps in flight at most.
	MarketoConcurrent int            `json:"marketoConcurrent"`
	Invocations       int            `json:"invocations"`
	WallSeconds       float64        `json:"wallSeconds"` // first invocation sent to last response
	Outcome           string         `json:"outcome"`
	Counts            map[string]int `json:"counts,omitempty"`
	MarketoCalls      int            `json:"marketoCalls"`
	CertainCalls      int            `json:"certainCalls"`
	Error             string         `json:"error,omitempty"`
}

// processMemoryJob is the sync-leads job of the process-memory runs.
const processMemoryJob = "sync-acme"

// The connection's budgets in these runs: Marketo's full limits; Certain's
// default concurrency (what the job holds in flight by default) at the
// highest rate allowed, so that the run is not paced by the budget.
var (
	processMarketoBudget = config.Budget{CallsPer20s: CallsPer20s, Concurrent: Concurrent, Daily: config.DefaultDaily}
	processCertainBudget = config.CertainBudget{Concurrent: config.DefaultCertainConcurrent, CallsPerSecond: config.MaxCertainCallsPerSecond}
)

// ProcessOptions vary a process-memory run.
type ProcessOptions struct {
	// GoMemLimit, when set, is the process's GOMEMLIMIT (the Go runtime's
	// soft memory limit: less memory for more collections).
	GoMemLimit string
	// Resend measures a forced sync after a first one (ProcessMemory.Resend).
	Resend bool
	// GOGC, when set, is the process's GOGC (the heap may grow to
	// 1 + GOGC/100 times the live heap before a collection); unset, the
	// product's own setting applies (50, lib/app/main.go).
	GOGC string
	// DefaultMarketoBudget runs with the connection's default Marketo
	// budget (50 calls per 20 s, 5 at once) instead of Marketo's full
	// limits (processMarketoBudget).
	DefaultMarketoBudget bool
}

// MeasureProcessMemory builds the sync-leads bootstrap once and runs a
// first sync over each size, one at a time, each in a fresh process, with
// fresh simulators and tables in the moto_server at motoEndpoint.
func MeasureProcessMemory(ctx context.Context, root, binDir, motoEndpoint string, sizes []int, seed int64, opt ProcessOptions, logf func(string, ...any)) ([]ProcessMemory, error) {
	bin := filepath.Join(binDir, runtime.GOARCH, "sync-leads", "bootstrap")
	if _, err := build(ctx, root, "sync-leads", runtime.GOARCH, bin); err != nil {
		return nil, err
	}
	var out []ProcessMemory
	for i, n := range sizes {
		logf("memory: sync-leads bootstrap, first run over %d registrations, own process", n)
		m, err := processMemoryRun(ctx, bin, motoEndpoint, fmt.Sprintf("bench-mem%d", i), n, seed, opt)
		if err != nil {
			m.Error = err.Error()
		}
		logf("  peak RSS %.1f MB (sampled %.1f MB), peak heap %.1f MB, live %.1f MB, %d GCs, CPU %.1f s, GOMEMLIMIT %q, GOGC %q, forced resend %v, Marketo %d at once, %d invocation(s), %.1f s, %s %v %s",
			m.PeakRSSMB, m.SampledRSSMB, m.PeakHeapMB, m.PeakLiveMB, m.GCs, m.CPUSeconds, m.GoMemLimit, m.GOGC, m.Resend, m.MarketoConcurrent, m.Invocations, m.WallSeconds, m.Outcome, m.Counts, m.Error)
		out = append(out, m)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	return out, nil
}

// processWorld is what one run's bootstrap talks to.
type processWorld struct {
	mk   *marketotest.Server
	mkHS *httptest.Server
	ce   *certaintest.Server
	env  []string
	// The function's work queue in moto and the store its runs are
	// recorded in: the bench plays the queue's event source mapping.
	sqs        *sqs.Client
	queue, arn string
	st         *dynamostore.Store
}

func (w *processWorld) close() {
	if w.mkHS != nil {
		w.mkHS.CloseClientConnections()
		w.mkHS.Close()
	}
	if w.ce != nil {
		w.ce.Close()
	}
}

// newProcessWorld starts the simulators with n registrations, creates the
// tables (named after stage) and the secrets in moto and stores the
// connection and the job, and returns the bootstrap's environment.
func newProcessWorld(ctx context.Context, motoEndpoint, stage string, n int, seed int64, budget config.Budget) (*processWorld, error) {
	const acct = "ACME"
	w := &processWorld{}
	mk := marketotest.NewUnstarted(marketotest.WithCredentials("bench-client", "bench-marketo-secret"),
		marketotest.WithRateLimit(CallsPer20s, 20*time.Second), marketotest.WithConcurrencyLimit(Concurrent))
	w.mkHS = httptest.NewServer(mk)
	mk.URL = w.mkHS.URL
	w.mk = mk
	w.ce = certaintest.NewServer(nil, certaintest.WithCredentials("bench-user", "bench-certain-password"))
	d := demodata.Generate(demodata.Options{Seed: seed, Registrations: n, Account: acct, Events: []string{Event}, Fields: w.ce.Fields()})
	w.ce.AddAccount(acct)
	if err := d.SeedCertain(w.ce); err != nil {
		w.close()
		return nil, fmt.Errorf("seed certain: %w", err)
	}
	if err := d.SeedMarketo(mk); err != nil {
		w.close()
		return nil, fmt.Errorf("seed marketo: %w", err)
	}
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(motoEndpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "bench", SecretAccessKey: "bench", Source: "bench dummy"}, nil
		})}
	names := dynamostore.TableNames{Config: stage + "-config", State: stage + "-state"}
	if err := awstest.CreateTables(ctx, cfg, names); err != nil {
		w.close()
		return nil, err
	}
	st, err := dynamostore.New(dynamodb.NewFromConfig(cfg), names.Config, names.State)
	if err != nil {
		w.close()
		return nil, err
	}
	sm := secretsmanager.NewFromConfig(cfg)
	secret := func(name, value string) (string, error) {
		out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
		if err != nil {
			return "", fmt.Errorf("create secret %s in moto: %w", name, err)
		}
		return aws.ToString(out.ARN), nil
	}
	mkARN, err := secret("certain-marketo/"+stage+"/marketo", fmt.Sprintf(`{"baseURL":%q,"clientId":"bench-client","clientSecret":"bench-marketo-secret"}`, mk.URL))
	if err != nil {
		w.close()
		return nil, err
	}
	ceARN, err := secret("certain-marketo/"+stage+"/certain", `{"username":"bench-user","password":"bench-certain-password"}`)
	if err != nil {
		w.close()
		return nil, err
	}
	conn := config.Connection{Account: acct, CertainBaseURL: w.ce.URL, CertainSecret: ceARN, MarketoSecret: mkARN, AllowHTTP: true,
		FieldMapping: fieldMapping(), CertainFields: w.ce.Fields(), MarketoBudget: budget, CertainBudget: processCertainBudget}
	if err := st.PutConnection(ctx, conn); err != nil {
		w.close()
		return nil, fmt.Errorf("put connection: %w", err)
	}
	job := config.Job{ID: processMemoryJob, Account: acct, Event: Event, Type: config.TypeSyncLeads, Name: "memory", Enabled: true,
		Schedule: config.Schedule{Interval: config.Duration(time.Hour)}, Params: config.Params{Statuses: demodata.Statuses()}}
	if err := st.PutJob(ctx, job); err != nil {
		w.close()
		return nil, fmt.Errorf("put job: %w", err)
	}
	w.st, w.sqs = st, sqs.NewFromConfig(cfg)
	if err := w.createQueue(ctx, stage+"-sync-leads-work"); err != nil {
		w.close()
		return nil, err
	}
	w.env = []string{"WORK_QUEUE_URL=" + w.queue, "PATH=" + os.Getenv("PATH"), "AWS_ENDPOINT_URL=" + motoEndpoint, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"STAGE=" + stage, "CONFIG_TABLE=" + names.Config, "STATE_TABLE=" + names.State, "MARKETO_BUDGET_MODE=in-process",
		"AWS_LAMBDA_FUNCTION_NAME=sync-leads", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=900", "AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_LOG_LEVEL=WARN", "GODEBUG=gctrace=1"}
	return w, nil
}

// invocationResult is what the bootstrap posted for one invocation.
type invocationResult struct {
	body  []byte
	error bool
}

// runtimeAPI is the part of the Lambda Runtime API a Go bootstrap uses:
// it hands out the events sent on next and passes the responses (or
// errors) back on results.
type runtimeAPI struct {
	next    chan []byte
	results chan invocationResult
	seq     int
}

func (a *runtimeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const base = "/2018-06-01/runtime/"
	switch {
	case r.Method == http.MethodGet && r.URL.Path == base+"invocation/next":
		select {
		case ev := <-a.next:
			a.seq++
			h := w.Header()
			h.Set("Lambda-Runtime-Aws-Request-Id", fmt.Sprintf("bench-%d", a.seq))
			h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(15*time.Minute).UnixMilli(), 10))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:sync-leads")
			_, _ = w.Write(ev)
		case <-r.Context().Done():
		}
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, base):
		body, _ := io.ReadAll(r.Body)
		isErr := strings.HasSuffix(r.URL.Path, "/error")
		w.WriteHeader(http.StatusAccepted)
		a.results <- invocationResult{body: body, error: isErr}
	default:
		http.Error(w, "bench runtime API: not served", http.StatusNotFound)
	}
}

var gcTraceRE = regexp.MustCompile(`(\d+)->(\d+)->(\d+) MB`)

// gcTrace reads GODEBUG=gctrace=1 lines and keeps the largest heap at the
// start of a collection and the number of collections.
type gcTrace struct {
	peakMB, liveMB float64
	gcs            int
}

func (g *gcTrace) scan(r io.Reader, done chan<- struct{}) {
	defer close(done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "gc ") {
			continue
		}
		if m := gcTraceRE.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			live, _ := strconv.ParseFloat(m[3], 64)
			g.peakMB, g.liveMB = max(g.peakMB, v), max(g.liveMB, live)
			g.gcs++
		}
	}
}

// procStatusMB reads one kB field of /proc/<pid>/status (VmHWM, VmRSS) in
// MiB; 0 where it cannot.
func procStatusMB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// processMemoryRun runs one first sync over n registrations in a fresh
// bootstrap process, invocation after invocation (the same warm process,
// as Lambda reuses it) until the run is no longer checkpointed. With
// opt.Resend, that first sync runs unmeasured and the figures are those of
// a forced run after it, in a fresh process.
func processMemoryRun(ctx context.Context, bin, motoEndpoint, stage string, n int, seed int64, opt ProcessOptions) (ProcessMemory, error) {
	budget := processMarketoBudget
	if opt.DefaultMarketoBudget {
		budget = config.Connection{}.WithDefaults().MarketoBudget
	}
	m := ProcessMemory{Function: "sync-leads", Registrations: n, MarketoConcurrent: budget.Concurrent, Resend: opt.Resend}
	w, err := newProcessWorld(ctx, motoEndpoint, stage, n, seed, budget)
	if err != nil {
		return m, err
	}
	defer w.close()
	if opt.Resend {
		first := ProcessMemory{}
		if err := runProcess(ctx, bin, w, ProcessOptions{GoMemLimit: opt.GoMemLimit, GOGC: opt.GOGC}, &first); err != nil {
			return m, fmt.Errorf("the first sync, before the forced one: %w", err)
		}
	}
	return m, runProcess(ctx, bin, w, opt, &m)
}

// runProcess runs a sync (forced with opt.Resend) in a fresh bootstrap
// process and fills in m.
func runProcess(ctx context.Context, bin string, w *processWorld, opt ProcessOptions, m *ProcessMemory) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("runtime API: %w", err)
	}
	api := &runtimeAPI{next: make(chan []byte), results: make(chan invocationResult, 1)}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	cmd := exec.Command(bin)
	cmd.Env = append(w.env, "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String())
	if opt.GoMemLimit != "" {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+opt.GoMemLimit)
		m.GoMemLimit = opt.GoMemLimit
	}
	if opt.GOGC != "" {
		cmd.Env = append(cmd.Env, "GOGC="+opt.GOGC)
		m.GOGC = opt.GOGC
	}
	var tail lockedBuf
	cmd.Stdout = &tail
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(pw, &tail)
	var gc gcTrace
	scanned := make(chan struct{})
	go gc.scan(pr, scanned)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); _ = pw.Close() }()
	stopSampling := make(chan struct{})
	sampled := make(chan float64, 1)
	go func() {
		peak := 0.0
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, procStatusMB(cmd.Process.Pid, "VmRSS"))
			select {
			case <-stopSampling:
				sampled <- peak
				return
			case <-t.C:
			}
		}
	}()
	runErr := invokeUntilDone(ctx, api, exited, w, m, opt.Resend)
	close(stopSampling)
	m.SampledRSSMB = <-sampled
	// The kernel updates the high-water mark lazily (VmHWM is at least
	// the RSS of the moment it is read), so a sample can exceed it.
	m.PeakRSSMB = max(procStatusMB(cmd.Process.Pid, "VmHWM"), m.SampledRSSMB)
	_ = cmd.Process.Kill()
	<-exited
	<-scanned
	if ps := cmd.ProcessState; ps != nil {
		m.CPUSeconds = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	m.PeakHeapMB, m.PeakLiveMB, m.GCs = gc.peakMB, gc.liveMB, gc.gcs
	if runErr != nil {
		return fmt.Errorf("%w; process output ends: %s", runErr, lastLines(tail.String(), 5))
	}
	return nil
}

// createQueue creates the function's work queue in moto (as the
// template does: a visibility timeout above the function's).
func (w *processWorld) createQueue(ctx context.Context, name string) error {
	res, err := w.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": "5400"}})
	if err != nil {
		return fmt.Errorf("create work queue in moto: %w", err)
	}
	a, err := w.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: res.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return fmt.Errorf("work queue attributes: %w", err)
	}
	w.queue, w.arn = aws.ToString(res.QueueUrl), a.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	return nil
}

// invoke hands one event to the bootstrap and returns its answer.
func invoke(ctx context.Context, api *runtimeAPI, exited <-chan error, event []byte, n int) ([]byte, error) {
	select {
	case api.next <- event:
	case err := <-exited:
		return nil, fmt.Errorf("bootstrap exited before invocation %d: %v", n, err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case res := <-api.results:
		if res.error {
			return nil, fmt.Errorf("invocation %d failed: %.500s", n, res.body)
		}
		return res.body, nil
	case err := <-exited:
		return nil, fmt.Errorf("bootstrap exited during invocation %d: %v", n, err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// invokeUntilDone runs the job as the deployed function does: a direct
// run ({"jobId"}) queues a run message on the work queue; the bench then
// plays the queue's event source mapping (receive one message, invoke with
// the SQS event, delete it unless reported failed) until the queue is empty
// and the job's last run is no longer checkpointed, at most 40
// invocations. The figures are those of the job's run records.
func invokeUntilDone(ctx context.Context, api *runtimeAPI, exited <-chan error, w *processWorld, m *ProcessMemory, force bool) error {
	start := time.Now()
	defer func() { m.WallSeconds = time.Since(start).Seconds() }()
	m.Invocations++
	body, err := invoke(ctx, api, exited, []byte(fmt.Sprintf(`{"jobId":%q,"force":%t}`, processMemoryJob, force)), m.Invocations)
	if err != nil {
		return err
	}
	var queued struct {
		Queued json.RawMessage `json:"queued"`
	}
	if err := json.Unmarshal(body, &queued); err != nil || queued.Queued == nil {
		return fmt.Errorf("direct run: not a queued run: %.500s", body)
	}
	for m.Invocations < 40 {
		out, err := w.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.queue), MaxNumberOfMessages: 1, WaitTimeSeconds: 20,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			return fmt.Errorf("receive from the work queue: %w", err)
		}
		if len(out.Messages) == 0 {
			done, err := w.finished(ctx, m, start)
			if err != nil || done {
				return err
			}
			continue
		}
		msg := out.Messages[0]
		ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: aws.ToString(msg.MessageId), ReceiptHandle: aws.ToString(msg.ReceiptHandle),
			Body: aws.ToString(msg.Body), Attributes: msg.Attributes, EventSource: "aws:sqs", EventSourceARN: w.arn, AWSRegion: "us-east-1"}}}
		payload, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		m.Invocations++
		body, err := invoke(ctx, api, exited, payload, m.Invocations)
		if err != nil {
			return err
		}
		var resp events.SQSEventResponse
		if err := json.Unmarshal(body, &resp); err != nil {
			return fmt.Errorf("invocation %d: not a batch response: %.500s", m.Invocations, body)
		}
		if len(resp.BatchItemFailures) != 0 {
			return fmt.Errorf("invocation %d: the run message failed: %.500s", m.Invocations, body)
		}
		if _, err := w.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(w.queue), ReceiptHandle: msg.ReceiptHandle}); err != nil {
			return fmt.Errorf("delete the run message: %w", err)
		}
		if done, err := w.finished(ctx, m, start); err != nil || done {
			return err
		}
	}
	return errors.New("still checkpointed after 40 invocations")
}

// finished reads the job's runs started since since: done once the last
// one is no longer checkpointed; m gets its outcome and counts and the
// calls of all of them.
func (w *processWorld) finished(ctx context.Context, m *ProcessMemory, since time.Time) (bool, error) {
	all, err := w.st.ListRuns(ctx, processMemoryJob, 100)
	if err != nil {
		return false, fmt.Errorf("list runs: %w", err)
	}
	var runs []store.Run
	for _, r := range all {
		if !r.Started.Before(since) {
			runs = append(runs, r)
		}
	}
	if len(runs) == 0 {
		return false, nil
	}
	last := runs[0]
	for _, r := range runs {
		if r.Started.After(last.Started) {
			last = r
		}
	}
	if last.Outcome == store.RunCheckpointed || last.Outcome == "" || last.Outcome == store.RunRunning {
		return false, nil
	}
	m.Outcome, m.Counts, m.MarketoCalls, m.CertainCalls = last.Outcome, last.Counts, 0, 0
	for _, r := range runs {
		m.MarketoCalls += r.MarketoCalls
		m.CertainCalls += r.CertainCalls
	}
	if last.Error != "" {
		return true, fmt.Errorf("run %s: %s", last.Outcome, last.Error)
	}
	return true, nil
}

func lastLines(s string, n int) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if !strings.HasPrefix(l, "gc ") {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, " | ")
}
