// Command bench measures what users of certain-marketo pay for — Marketo
// calls per job against the optimum, throughput against the configured
// budget, Certain calls, memory and Lambda cold start — against the
// in-process simulators on an accelerated clock, and writes
// .bench/report.md, .bench/report.json and .bench/throughput.png.
//
//	go run ./infra/bench            # full run (10k and 100k, 1 and 4 workers, scale 20 x 50)
//	go run ./infra/bench -quick     # 10k only, scale 4 x 25
//	go run ./infra/bench -scale-only -scale-accounts 5 -scale-events 20   # a small scale run alone
//	go run ./infra/bench -memory-process ""   # without the job-process memory runs
//
// The randomised fault run is tests/reliability's TestSoak (make soak).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/certain-marketo/certain-marketo/infra/bench/internal/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	quick := flag.Bool("quick", false, "10,000 registrations only, no cold start")
	out := flag.String("out", ".bench", "output directory")
	seed := flag.Int64("seed", 2026, "seed of the data sets and latencies")
	parallel := flag.Bool("parallel", false, "run the scenarios not marked alone concurrently (faster, but on 2 cores CPU contention slows the simulators and lowers the throughput figures)")
	speed := flag.Float64("speed", 20, "simulated seconds per wall second")
	noCold := flag.Bool("no-coldstart", false, "skip building bootstraps and the RIE cold start")
	noScale := flag.Bool("no-scale", false, "skip the scale scenario")
	scaleOnly := flag.Bool("scale-only", false, "run the scale scenario alone")
	scaleAccounts := flag.Int("scale-accounts", 0, "scale scenario: accounts (default 20, -quick 4)")
	scaleEvents := flag.Int("scale-events", 0, "scale scenario: events per account (default 50, -quick 25)")
	scaleConsumers := flag.Int("scale-consumers", 0, "scale scenario: concurrent instances per queue (default 25, -quick 10)")
	scaleMoto := flag.Bool("scale-moto", false, "scale scenario: hold the shared budgets on moto_server instead of in memory (slower: moto answers one call at a time)")
	noProgress := flag.Bool("no-progress", false, "no progress line on stderr")
	memSizes := flag.String("memory-process", "100000,10000", "registrations of each first sync-leads run of the real bootstrap in its own process, its peak RSS measured (comma-separated; \"\": skip; -quick: 10000 unless given)")
	pipeSize := flag.Int("pipeline", 10_000, "registrations per row of the pipeline section (0: skip it)")
	flag.Parse()
	if *speed <= 0 {
		return fmt.Errorf("-speed %v: must be positive", *speed)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	root, err := repoRoot()
	if err != nil {
		return err
	}
	memFlag := *memSizes
	if *quick && !flagSet("memory-process") {
		memFlag = "10000"
	}
	sizes, err := parseSizes(memFlag)
	if err != nil {
		return err
	}
	o := bench.Options{MemorySizes: sizes, Speed: *speed, Seed: *seed, Parallel: *parallel, Out: *out, RepoRoot: root, ColdStart: !*quick && !*noCold, Logf: logf, PipelineSize: *pipeSize}
	if p, err := exec.LookPath("moto_server"); err == nil {
		o.MotoServer = p
	}
	if !*noProgress && !*parallel {
		o.Progress = os.Stderr
	}
	o.Scenarios = bench.DefaultScenarios(*quick)
	if !*noScale {
		sc := bench.DefaultScale(*quick)
		for _, f := range []struct {
			v   int
			dst *int
		}{{*scaleAccounts, &sc.Accounts}, {*scaleEvents, &sc.Events}, {*scaleConsumers, &sc.Consumers}} {
			if f.v < 0 {
				return fmt.Errorf("scale sizes must be positive")
			}
			if f.v > 0 {
				*f.dst = f.v
			}
		}
		sc.BudgetsOnMoto = *scaleMoto
		o.Scale, o.ScaleOnly = &sc, *scaleOnly
	}
	rep, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Print(rep.Markdown())
	fmt.Printf("\nwrote %s\n", strings.Join([]string{filepath.Join(*out, "report.md"), filepath.Join(*out, "report.json"), filepath.Join(*out, "throughput.png")}, ", "))
	return nil
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// parseSizes reads a comma-separated list of positive registration counts.
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-memory-process %q: %q is not a positive number of registrations", s, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// repoRoot is the directory of go.mod (the module root), where functions/ lives.
func repoRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(b))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the certain-marketo module (go env GOMOD is empty)")
	}
	return filepath.Dir(mod), nil
}
