package bench

import (
	"context"
	"flag"
	"strconv"
	"strings"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/external"
	"github.com/certain-marketo/certain-marketo/lib/testkit/rie"
)

var memoryRegistrations = flag.String("memory.registrations", "400", "sizes of TestProcessMemoryRun (comma-separated), e.g. 100000,10000 to measure by hand")

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
	rows, err := MeasureProcessMemory(ctx, rie.RepoRoot(t), t.TempDir(), m.Endpoint, sizes, 7, t.Logf)
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
