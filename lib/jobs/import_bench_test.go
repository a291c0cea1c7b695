package jobs_test

import (
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// BenchmarkImportLeads10k imports a 10,000-lead static list into an empty
// event, then re-runs it, and reports the calls each run spent and its wall
// time against the simulators (no injected latency; the Certain client keeps
// its default 4 calls in flight). Reproduce with:
//
//	go test -run '^$' -bench ImportLeads10k -benchtime 1x ./lib/jobs/
func BenchmarkImportLeads10k(b *testing.B) {
	for b.Loop() {
		e := newImportEnv(b)
		e.addLeads(10000)
		e.PutJob(b, leadsJob(listID))

		start := time.Now()
		first := e.run(b, "import-hs26")
		firstWall := time.Since(start)
		if first.Outcome != store.RunSucceeded || first.Counts[jobs.CountRegistrationsCreated] != 10000 {
			b.Fatalf("first run: %s %v %s", first.Outcome, first.Counts, first.Error)
		}
		stats := e.CertainClient.Stats()

		start = time.Now()
		second := e.run(b, "import-hs26")
		secondWall := time.Since(start)
		if second.Outcome != store.RunSucceeded || second.Counts[jobs.CountAlreadyRegistered] != 10000 {
			b.Fatalf("second run: %s %v %s", second.Outcome, second.Counts, second.Error)
		}
		b.ReportMetric(float64(first.MarketoCalls), "marketo-calls/import")
		b.ReportMetric(float64(first.CertainCalls), "certain-calls/import")
		b.ReportMetric(firstWall.Seconds(), "wall-s/import")
		b.ReportMetric(float64(second.MarketoCalls), "marketo-calls/rerun")
		b.ReportMetric(float64(second.CertainCalls), "certain-calls/rerun")
		b.ReportMetric(secondWall.Seconds(), "wall-s/rerun")
		b.Logf("10,000 new leads: Marketo %d calls, Certain %d calls (%v), wall %s", first.MarketoCalls, first.CertainCalls, stats.ByPath, firstWall.Round(time.Millisecond))
		b.Logf("re-run, all registered: Marketo %d calls, Certain %d calls, wall %s", second.MarketoCalls, second.CertainCalls, secondWall.Round(time.Millisecond))
	}
}
