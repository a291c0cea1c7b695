package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Functions are the Lambda functions under functions/.
var Functions = []string{"import-leads", "trigger-campaign", "sync-leads", "engagement-metrics", "interest-metrics", "registration-changes"}

// ColdStart is one function's bootstrap sizes and its Init Duration.
type ColdStart struct {
	Function   string  `json:"function"`
	HostArch   string  `json:"hostArch"`
	HostBytes  int64   `json:"hostBytes"`
	Arm64Bytes int64   `json:"arm64Bytes"`
	InitMs     float64 `json:"initDurationMs"`
	Error      string  `json:"error,omitempty"`
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

// ColdStarts builds every function for the host and for arm64, and runs
// each host bootstrap once under aws-lambda-rie.
func ColdStarts(ctx context.Context, root, binDir string, logf func(string, ...any)) ([]ColdStart, string) {
	rie := FindRIE(root, os.Getenv)
	note := "Init Duration from the REPORT line of aws-lambda-rie " + rie + ", one cold invocation with a minimal event; the function's AWS endpoints point at a closed port, so init makes no AWS call"
	if rie == "" {
		note = "Init Duration not measured: " + errNoRIE.Error()
	}
	var out []ColdStart
	for _, fn := range Functions {
		c := ColdStart{Function: fn, HostArch: runtime.GOARCH}
		hostBin := filepath.Join(binDir, runtime.GOARCH, fn, "bootstrap")
		var err error
		if c.HostBytes, err = build(ctx, root, fn, runtime.GOARCH, hostBin); err != nil {
			c.Error = err.Error()
			out = append(out, c)
			continue
		}
		if c.Arm64Bytes, err = build(ctx, root, fn, "arm64", filepath.Join(binDir, "arm64", fn, "bootstrap")); err != nil {
			c.Error = err.Error()
		}
		if rie != "" {
			ms, err := initDuration(ctx, rie, hostBin, fn)
			c.InitMs = ms
			if err != nil {
				c.Error = err.Error()
			}
		}
		logf("  %-22s host %.2f MB arm64 %.2f MB init %.1f ms %s", fn, float64(c.HostBytes)/mb, float64(c.Arm64Bytes)/mb, c.InitMs, c.Error)
		out = append(out, c)
	}
	return out, note
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

func initDuration(ctx context.Context, rie, bootstrap, fn string) (float64, error) {
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
	// Dummy configuration: tables and queue names, no credentials of any
	// real account, every AWS endpoint on a closed local port.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "CONFIG_TABLE=bench-config", "STATE_TABLE=bench-state",
		"CHANGE_QUEUE_URL=http://127.0.0.1:1/123456789012/bench", "STAGE=bench", "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL=http://127.0.0.1:1", "AWS_MAX_ATTEMPTS=1", "AWS_LAMBDA_FUNCTION_TIMEOUT=20", "MARKETO_BUDGET_MODE=local"}
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
