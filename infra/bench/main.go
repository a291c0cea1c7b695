// Command bench measures what users of certain-marketo pay for — Marketo
// calls per job against the optimum, throughput against the configured
// budget, Certain calls, memory and Lambda cold start — against the
// in-process simulators on an accelerated clock, and writes
// .bench/report.md, .bench/report.json and .bench/throughput.png.
//
//	go run ./infra/bench            # full run (10k and 100k, 1 and 4 workers)
//	go run ./infra/bench -quick     # 10k only
//	go run ./infra/bench -soak -duration 10m
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

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
	soak := flag.Bool("soak", false, "randomised long run with injected faults; checks invariants at the end")
	duration := flag.Duration("duration", 10*time.Minute, "soak duration")
	seed := flag.Int64("seed", 0, "seed (0: 2026 for the benchmark, the time for -soak)")
	speed := flag.Float64("speed", 20, "simulated seconds per wall second")
	noCold := flag.Bool("no-coldstart", false, "skip building bootstraps and the RIE cold start")
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
	o := bench.Options{Speed: *speed, Seed: *seed, Out: *out, RepoRoot: root, ColdStart: !*quick && !*noCold, Logf: logf}
	if p, err := exec.LookPath("moto_server"); err == nil {
		o.MotoServer = p
	}
	o.Scenarios = bench.DefaultScenarios(*quick)
	if *soak {
		if o.Seed == 0 {
			o.Seed = time.Now().UnixNano()
		}
		fmt.Printf("soak seed %d (reproduce: go run ./infra/bench -soak -duration %s -seed %d)\n", o.Seed, *duration, o.Seed)
		res, err := bench.Soak(ctx, o, *duration, 2000)
		if err != nil {
			return err
		}
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Println(string(b))
		if len(res.Violations) > 0 {
			return fmt.Errorf("soak seed %d: %d invariant violations", o.Seed, len(res.Violations))
		}
		return nil
	}
	if o.Seed == 0 {
		o.Seed = 2026
	}
	rep, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Print(rep.Markdown())
	fmt.Printf("\nwrote %s\n", strings.Join([]string{filepath.Join(*out, "report.md"), filepath.Join(*out, "report.json"), filepath.Join(*out, "throughput.png")}, ", "))
	return nil
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
