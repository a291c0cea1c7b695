package pipeline

import (
	"encoding/json"
	"flag"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

var (
	out     = flag.String("pipeline.out", "", "write the pipeline figures (JSON) to this file; empty: skip the measurement")
	size    = flag.Int("pipeline.registrations", 10_000, "registrations per row")
	onlyJob = flag.String("pipeline.job", "", "measure only this job kind")
	side    = flag.Bool("pipeline.side", true, "measure the side-by-side upsert too")
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestPipelineFigures measures the pipeline rows of make bench (each in
// its own synctest bubble, see the package documentation).
func TestPipelineFigures(t *testing.T) {
	if *out == "" {
		t.Skip("measurement: make bench runs it with -pipeline.out")
	}
	var rows []Row
	for _, kind := range []string{KindSync, KindImport, KindEngagement, KindInterest} {
		if *onlyJob != "" && kind != *onlyJob {
			continue
		}
		for _, inv := range []int{1, 4} {
			var row Row
			cpu0, real0 := cpuNow(), time.Now()
			synctest.Test(t, func(t *testing.T) {
				var err error
				if row, err = Run(t.Context(), DefaultSetup(), kind, *size, inv); err != nil {
					t.Fatalf("%s x%d: %v", kind, inv, err)
				}
			})
			row.CPUSeconds, row.RealSeconds = (cpuNow() - cpu0).Seconds(), time.Since(real0).Seconds()
			t.Logf("%-20s x%d  wall %7.1fs  floor %7.1fs (%s)  ratio %.2f  certain %d calls (429: %d, peak %d)  marketo %d calls (606 %d, 615 %d)  cpu %.1fs real %.1fs %v",
				row.Job, row.Invocations, row.WallSeconds, row.FloorSeconds, row.Bound, row.Ratio, row.CertainCalls, row.Certain429, row.CertainPeakInFlight,
				row.MarketoCalls, row.Marketo606, row.Marketo615, row.CPUSeconds, row.RealSeconds, row.Errors)
			rows = append(rows, row)
		}
	}
	fig := Figures{Setup: DefaultSetup(), Rows: rows}
	if *side {
		synctest.Test(t, func(t *testing.T) {
			sb, err := RunSideBySide(t.Context(), DefaultSetup(), *size)
			if err != nil {
				t.Fatalf("side by side: %v", err)
			}
			t.Logf("side by side, %d leads: script %.1fs (%d calls), product %.1fs (%d calls), ratio %.2f", sb.Leads, sb.ScriptSeconds, sb.ScriptCalls, sb.ProductSeconds, sb.ProductCalls, sb.Ratio)
			fig.SideBySide = &sb
		})
	}
	b, err := json.MarshalIndent(fig, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
