package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Functions are the Lambda functions under functions/.
var Functions = []string{"import-leads", "trigger-campaign", "sync-leads", "engagement-metrics", "interest-metrics", "registration-changes"}

// InitRuns is how many times each bootstrap is started against the
// Runtime API stub.
const InitRuns = 7

// ColdStart is one function's bootstrap sizes and its init time.
type ColdStart struct {
	Function   string `json:"function"`
	HostArch   string `json:"hostArch"`
	HostBytes  int64  `json:"hostBytes"`
	Arm64Bytes int64  `json:"arm64Bytes"`
	// InitMs are the measured inits (exec to the first GET of
	// /2018-06-01/runtime/invocation/next), one per run.
	InitMs       []float64 `json:"initMs"`
	InitMedianMs float64   `json:"initMedianMs"`
	InitMaxMs    float64   `json:"initMaxMs"`
	// RIEInitMs is the Init Duration aws-lambda-rie reports; it times the
	// emulator's own sandbox set-up, not the bootstrap's init.
	RIEInitMs float64 `json:"rieInitDurationMs"`
	Error     string  `json:"error,omitempty"`
}

// FindRIE returns the aws-lambda-rie executable: $AWS_LAMBDA_RIE, PATH,
// then .tools/bin under root.
func FindRIE(root string, getenv func(string) string) string {
	if p := getenv("AWS_LAMBDA_RIE"); p != "" {
		return p
	}
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p
	}
	p := filepath.Join(root, ".tools", "bin", "aws-lambda-rie")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// build compiles one function with `make build`'s flags for arch.
func build(ctx context.Context, root, fn, arch, out string) (int64, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags=-s -w",
		"-o", out, "./functions/"+fn)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("go build %s (%s): %w: %s", fn, arch, err, strings.TrimSpace(string(b)))
	}
	fi, err := os.Stat(out)
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", out, err)
	}
	return fi.Size(), nil
}

// BuildBootstraps builds every function for the host and for arm64 (two
// builds at a time) and returns the sizes; Measure fills in the inits.
func BuildBootstraps(ctx context.Context, root, binDir string) []ColdStart {
	out := make([]ColdStart, len(Functions))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for i, fn := range Functions {
		out[i] = ColdStart{Function: fn, HostArch: runtime.GOARCH}
		c := &out[i]
		g.Go(func() error {
			var err error
			if c.HostBytes, err = build(gctx, root, fn, runtime.GOARCH, hostBootstrap(binDir, fn)); err != nil {
				c.Error = err.Error()
				return nil
			}
			if c.Arm64Bytes, err = build(gctx, root, fn, "arm64", filepath.Join(binDir, "arm64", fn, "bootstrap")); err != nil {
				c.Error = err.Error()
			}
			return nil
		})
	}
	_ = g.Wait()
	return out
}

func hostBootstrap(binDir, fn string) string {
	return filepath.Join(binDir, runtime.GOARCH, fn, "bootstrap")
}

// MeasureInits starts each host bootstrap InitRuns times against a Runtime
// API stub, one at a time, and then once under aws-lambda-rie (if found).
// It returns the note that says what the figures are.
func MeasureInits(ctx context.Context, root, binDir string, cs []ColdStart, logf func(string, ...any)) string {
	rie := FindRIE(root, os.Getenv)
	for i := range cs {
		c := &cs[i]
		if c.Error != "" {
			continue
		}
		bin := hostBootstrap(binDir, c.Function)
		for range InitRuns {
			ms, err := StubInit(ctx, bin, 30*time.Second)
			if err != nil {
				c.Error = err.Error()
				break
			}
			c.InitMs = append(c.InitMs, ms)
		}
		c.InitMedianMs, c.InitMaxMs = medianMax(c.InitMs)
		if rie != "" && c.Error == "" {
			ms, err := rieInitDuration(ctx, rie, bin, c.Function)
			c.RIEInitMs = ms
			if err != nil {
				c.Error = err.Error()
			}
		}
		logf("  %-22s host %.2f MB arm64 %.2f MB init median %.1f ms max %.1f ms (rie %.1f ms) %s", c.Function,
			float64(c.HostBytes)/mb, float64(c.Arm64Bytes)/mb, c.InitMedianMs, c.InitMaxMs, c.RIEInitMs, c.Error)
	}
	note := fmt.Sprintf("Init = wall time from exec of the host bootstrap to its first GET /2018-06-01/runtime/invocation/next on a Runtime API stub "+
		"served by this command on 127.0.0.1 (AWS_LAMBDA_RUNTIME_API), %d starts per function, one at a time, median and max; "+
		"the environment has CONFIG_TABLE, STATE_TABLE, CHANGE_QUEUE_URL, AWS_REGION and dummy credentials, and every AWS endpoint points at the stub, "+
		"which fails the measurement if init sends it anything. This is the process's own init (Go runtime, package init, SDK clients), "+
		"on this machine's %s cores, not Lambda's: a real cold start adds the sandbox and the download of the code package. "+
		"RIE column: the Init Duration on the REPORT line of aws-lambda-rie, which times the emulator's own set-up only (it reads 0.0 ms), kept for comparison", InitRuns, runtime.GOARCH)
	if rie == "" {
		note += "; RIE not run: " + errNoRIE.Error()
	}
	return note
}

func medianMax(v []float64) (med, mx float64) {
	if len(v) == 0 {
		return 0, 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[len(s)-1]
}

// runtimeStub is a minimal Lambda Runtime API: it records when the first
// GET .../invocation/next arrives and never answers it (the process is
// killed then). Anything else it receives is init talking to AWS.
type runtimeStub struct {
	mu    sync.Mutex
	next  chan time.Time
	other []string
}

const nextPath = "/2018-06-01/runtime/invocation/next"

func (s *runtimeStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == nextPath {
		select {
		case s.next <- time.Now():
		default:
		}
		<-r.Context().Done() // hold the long poll, as Lambda does between invocations
		return
	}
	s.mu.Lock()
	s.other = append(s.other, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	http.Error(w, "runtime API stub: not served", http.StatusNotImplemented)
}

// StubInit starts bootstrap against a Runtime API stub and returns the
// milliseconds from exec to its first GET of the next invocation. It
// fails if the process exits first, or if init sends any other request.
func StubInit(ctx context.Context, bootstrap string, timeout time.Duration) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("runtime API stub: %w", err)
	}
	stub := &runtimeStub{next: make(chan time.Time, 1)}
	srv := &http.Server{Handler: stub, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	addr := ln.Addr().String()
	cmd := exec.Command(bootstrap)
	cmd.Env = initEnv(addr)
	var logs lockedBuf
	cmd.Stdout, cmd.Stderr = &logs, &logs
	exited := make(chan error, 1)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", bootstrap, err)
	}
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case at := <-stub.next:
		stub.mu.Lock()
		other := slices.Clone(stub.other)
		stub.mu.Unlock()
		if len(other) > 0 {
			return 0, fmt.Errorf("%s: init sent requests to AWS: %s", filepath.Base(filepath.Dir(bootstrap)), strings.Join(other, ", "))
		}
		return float64(at.Sub(start).Microseconds()) / 1000, nil
	case err := <-exited:
		exited <- err
		return 0, fmt.Errorf("%s exited before asking for an invocation (%v): %.300q", bootstrap, err, logs.String())
	case <-timer.C:
		return 0, fmt.Errorf("%s did not ask for an invocation within %s: %.300q", bootstrap, timeout, logs.String())
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// initEnv is what a function needs for init: its tables and queue, a
// region and dummy credentials (never a real account's), every AWS
// endpoint on the stub so that a call during init is seen.
func initEnv(runtimeAPI string) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "AWS_LAMBDA_RUNTIME_API=" + runtimeAPI,
		"CONFIG_TABLE=bench-config", "STATE_TABLE=bench-state", "CHANGE_QUEUE_URL=http://" + runtimeAPI + "/123456789012/bench",
		"STAGE=bench", "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_ENDPOINT_URL=http://" + runtimeAPI, "AWS_MAX_ATTEMPTS=1",
		"AWS_LAMBDA_FUNCTION_NAME=bench", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=20", "AWS_LAMBDA_LOG_FORMAT=JSON", "MARKETO_BUDGET_MODE=in-process"}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var initRE = regexp.MustCompile(`Init Duration: ([0-9.]+) ms`)

// ParseInitDuration finds the Init Duration of a REPORT line.
func ParseInitDuration(logs string) (float64, bool) {
	m := initRE.FindStringSubmatch(logs)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

func minimalEvent(fn string) string {
	switch fn {
	case "trigger-campaign":
		return `{"Records":[]}`
	case "registration-changes":
		return `{"jobType":"registration-changes"}`
	}
	return `{"jobType":"` + fn + `"}`
}

var errNoRIE = errors.New("aws-lambda-rie not found (AWS_LAMBDA_RIE, PATH, .tools/bin); run `make tools`")

// rieInitDuration runs bootstrap once under aws-lambda-rie and returns the
// Init Duration of its REPORT line.
func rieInitDuration(ctx context.Context, rie, bootstrap, fn string) (float64, error) {
	p1, err := freePort()
	if err != nil {
		return 0, err
	}
	p2, err := freePort()
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, rie, "--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", p1),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", p2), bootstrap)
	// The RIE sets AWS_LAMBDA_RUNTIME_API itself; AWS endpoints go to a
	// closed local port.
	env := initEnv("127.0.0.1:1")
	cmd.Env = slices.DeleteFunc(env, func(s string) bool { return strings.HasPrefix(s, "AWS_LAMBDA_RUNTIME_API=") })
	var logs lockedBuf
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start rie: %w", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	url := fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", p1)
	var lastErr error
	for range 100 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(minimalEvent(fn)))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			lastErr = nil
			break
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	if lastErr != nil {
		return 0, fmt.Errorf("invoke %s under rie: %w", fn, lastErr)
	}
	for range 100 {
		if v, ok := ParseInitDuration(logs.String()); ok {
			return v, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, fmt.Errorf("no Init Duration in rie output: %.300q", logs.String())
}
