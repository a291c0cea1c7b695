package bench

import (
	"context"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunTinyWritesEveryPart runs the measurement on 200 registrations with
// 1 and 2 workers and checks the report's structure (no timing figure is
// asserted): every section, a ratio for every first run with an optimum,
// the budget fraction filled, and the three files written and readable.
func TestRunTinyWritesEveryPart(t *testing.T) {
	dir := t.TempDir()
	o := Options{Speed: 200, LatencyMin: 300 * time.Millisecond, LatencyMax: 800 * time.Millisecond, Seed: 7, Out: dir,
		Parallel: true, Scenarios: []Scenario{{Size: 200, Workers: 1, Memory: true, Alone: true}, {Size: 200, Workers: 2}, {Size: 200, Workers: 1, NoSecond: true, Jobs: []string{"sync"}}}}
	if p, err := exec.LookPath("moto_server"); err == nil {
		o.MotoServer = p
	}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Sections {
		if !strings.Contains(string(md), s) {
			t.Errorf("report.md lacks %q", s)
		}
	}
	jobs := map[string]bool{}
	for _, st := range rep.Steps {
		if st.Run != "first" {
			continue
		}
		jobs[st.Job] = true
		if st.Records == 0 || st.Optimum == 0 || st.Ratio <= 0 || st.MarketoCalls == 0 {
			t.Errorf("%s (%d workers): records %d, optimum %d, ratio %v, calls %d", st.Job, st.Workers, st.Records, st.Optimum, st.Ratio, st.MarketoCalls)
		}
		if st.BudgetRecPerS <= 0 || st.BudgetFraction <= 0 {
			t.Errorf("%s: budget %v records/s, fraction %v", st.Job, st.BudgetRecPerS, st.BudgetFraction)
		}
		if len(st.Errors) > 0 {
			t.Errorf("%s: errors %v", st.Job, st.Errors)
		}
	}
	if len(jobs) != 5 {
		t.Errorf("first runs of %v, want the five jobs", jobs)
	}
	if rep.Memory == nil || rep.Memory.PeakHeapMB <= 0 || rep.Memory.AllocBytesPerRec <= 0 {
		t.Errorf("memory %+v", rep.Memory)
	}
	var back Report
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil || len(back.Steps) != len(rep.Steps) {
		t.Errorf("report.json: %v, %d steps, want %d", err, len(back.Steps), len(rep.Steps))
	}
	f, err := os.Open(filepath.Join(dir, "throughput.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if img, err := png.Decode(f); err != nil || img.Bounds().Dx() < 100 {
		t.Errorf("throughput.png: %v", err)
	}
	if o.MotoServer != "" && !strings.Contains(rep.SharedBudgetNote, "lib/limit.Shared") {
		t.Errorf("moto_server is installed but the shared budget was not used: %s", rep.SharedBudgetNote)
	}
}

func TestParseInitDuration(t *testing.T) {
	logs := "START RequestId: x\nEND RequestId: x\nREPORT RequestId: x\tInit Duration: 12.34 ms\tDuration: 1.00 ms\n"
	if v, ok := ParseInitDuration(logs); !ok || v != 12.34 {
		t.Errorf("got %v %v", v, ok)
	}
	if _, ok := ParseInitDuration("REPORT RequestId: x\tDuration: 1.00 ms"); ok {
		t.Error("found an Init Duration where there is none")
	}
}

// TestStubInitSeesTheFirstPoll starts a tiny program that polls the Runtime
// API stub like a Lambda runtime, and one that exits: the first gets a
// positive init time, the second an error naming the early exit.
func TestStubInitSeesTheFirstPoll(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	prog := `package main

import (
	"net/http"
	"os"
)

func main() {
	if os.Getenv("CONFIG_TABLE") == "" {
		os.Exit(3)
	}
	resp, err := http.Get("http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/invocation/next")
	if err == nil {
		resp.Body.Close()
	}
}
`
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "poller")
	if b, err := exec.Command("go", "build", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("build: %v: %s", err, b)
	}
	ms, err := StubInit(context.Background(), bin, 30*time.Second)
	if err != nil || ms <= 0 {
		t.Fatalf("StubInit = %v ms, %v; want a positive time", ms, err)
	}
	exiter := filepath.Join(dir, "exiter")
	if err := os.WriteFile(exiter, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := StubInit(context.Background(), exiter, 10*time.Second); err == nil || !strings.Contains(err.Error(), "exited before") {
		t.Errorf("StubInit of a program that exits: %v; want an early-exit error", err)
	}
}

func TestMedianMax(t *testing.T) {
	if m, x := medianMax([]float64{5, 1, 3}); m != 3 || x != 5 {
		t.Errorf("odd: %v %v", m, x)
	}
	if m, x := medianMax([]float64{4, 1, 3, 2}); m != 2.5 || x != 4 {
		t.Errorf("even: %v %v", m, x)
	}
}
