package bench

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/external"
	"github.com/certain-marketo/certain-marketo/lib/testkit/rie"
)

var (
	memoryRegistrations = flag.String("memory.registrations", "400", "sizes of TestProcessMemoryRun (comma-separated), e.g. 100000,10000 to measure by hand")
	memoryGoMemLimit    = flag.String("memory.gomemlimit", "", "GOMEMLIMIT of the measured process, e.g. 30MiB (none by default)")
	memoryResend        = flag.Bool("memory.resend", false, "measure a forced sync after a first one (every profile linked: Marketo-bound) instead of the first")
	memoryGOGC          = flag.String("memory.gogc", "", "GOGC of the measured process, e.g. 100 (empty: the product's own, 50, lib/app/main.go)")
	memoryDefaultBudget = flag.Bool("memory.default-budget", false, "run with the connection's default Marketo budget (5 at once) instead of Marketo's full limits (10)")
)

// TestProcessMemoryRun builds the real sync-leads bootstrap and runs a first
// sync in its own process against moto_server and the simulators: the run
// must end with every registration it read created, updated or failed, and the peak RSS must come from the process
// (non-zero, and within twice the largest RSS sampled while it ran). No memory
// goal is asserted here: make bench reports the figure.
func TestProcessMemoryRun(t *testing.T) {
	motoExe := external.Moto(t)
	ctx := context.Background()
	m, err := StartMoto(ctx, motoExe)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	var sizes []int
	for _, f := range strings.Split(*memoryRegistrations, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			t.Fatalf("-memory.registrations: %v", err)
		}
		sizes = append(sizes, n)
	}
	rows, err := MeasureProcessMemory(ctx, rie.RepoRoot(t), t.TempDir(), m.Endpoint, sizes, 7, ProcessOptions{GoMemLimit: *memoryGoMemLimit, GOGC: *memoryGOGC, DefaultMarketoBudget: *memoryDefaultBudget, Resend: *memoryResend}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(sizes) {
		t.Fatalf("%d rows for %d sizes", len(rows), len(sizes))
	}
	for _, r := range rows {
		if r.Error != "" {
			t.Errorf("%d registrations: %s", r.Registrations, r.Error)
			continue
		}
		// The generated data holds a few registrations Marketo refuses
		// (recorded per record: partial).
		if r.Outcome != store.RunSucceeded && r.Outcome != store.RunPartial {
			t.Errorf("%d registrations: outcome %q, want %q or %q", r.Registrations, r.Outcome, store.RunSucceeded, store.RunPartial)
		}
		c := r.Counts
		if read := c["registrationsRead"]; read == 0 || c[store.OutcomeCreated]+c[store.OutcomeUpdated]+c[store.OutcomeFailed] != read {
			t.Errorf("%d registrations: counts %v, want every registration read created, updated or failed", r.Registrations, c)
		}
		if r.MarketoCalls == 0 || r.CertainCalls == 0 {
			t.Errorf("%d registrations: %d Marketo and %d Certain calls, want both", r.Registrations, r.MarketoCalls, r.CertainCalls)
		}
		if r.PeakRSSMB <= 0 || r.SampledRSSMB <= 0 || r.PeakHeapMB <= 0 || r.PeakLiveMB <= 0 || r.GCs == 0 {
			t.Errorf("%d registrations: peak RSS %.1f MB (sampled %.1f MB), heap %.1f MB, live %.1f MB over %d GCs: not measured",
				r.Registrations, r.PeakRSSMB, r.SampledRSSMB, r.PeakHeapMB, r.PeakLiveMB, r.GCs)
		}
		// The high-water mark is the process's own, not the bench
		// process's (hundreds of MB with the simulators' data): close to
		// what sampling saw.
		if r.PeakRSSMB < r.SampledRSSMB || r.PeakRSSMB > 2*r.SampledRSSMB {
			t.Errorf("%d registrations: VmHWM %.1f MB against sampled RSS %.1f MB", r.Registrations, r.PeakRSSMB, r.SampledRSSMB)
		}
	}
}

// TestRunReportsTheProcessMemory runs the bench with a tiny scenario and one
// process-memory size: the row reaches report.json (memoryProcess) and the
// Memory section of report.md; without sizes the section says it was not
// measured.
func TestRunReportsTheProcessMemory(t *testing.T) {
	motoExe := external.Moto(t)
	dir := t.TempDir()
	o := Options{Speed: 200, Seed: 7, Out: dir, RepoRoot: rie.RepoRoot(t), MotoServer: motoExe, MemorySizes: []int{300},
		Scenarios: []Scenario{{Size: 100, Workers: 1, NoSecond: true, Jobs: []string{"sync"}}}}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.MemoryProcess) != 1 || rep.MemoryProcess[0].Error != "" || rep.MemoryProcess[0].PeakRSSMB <= 0 {
		t.Fatalf("memoryProcess %+v (note %s), want one measured row", rep.MemoryProcess, rep.MemoryProcessNote)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		MemoryProcess []ProcessMemory `json:"memoryProcess"`
	}
	if err := json.Unmarshal(b, &back); err != nil || len(back.MemoryProcess) != 1 || back.MemoryProcess[0].Registrations != 300 {
		t.Errorf("report.json memoryProcess: %v, %+v", err, back.MemoryProcess)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	mem := string(md)[strings.Index(string(md), "## Memory"):]
	if !strings.Contains(mem, "| sync-leads | 300 | ") || !strings.Contains(mem, "VmHWM") {
		t.Errorf("report.md Memory section lacks the process row:\n%.1500s", mem)
	}
	var none Report
	processMemorySection(context.Background(), Options{RepoRoot: o.RepoRoot}, &none, "http://127.0.0.1:1", dir)
	if md := none.Markdown(); len(none.MemoryProcess) != 0 || !strings.Contains(md, "not measured in this run (-memory-process") {
		t.Errorf("a run without process-memory sizes: %d rows, report does not say it was skipped:\n%s", len(none.MemoryProcess), md)
	}
}
