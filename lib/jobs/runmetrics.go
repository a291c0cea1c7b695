package jobs

import (
	"io"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/obs"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// MetricsNamespace is the CloudWatch namespace of the run metrics.
const MetricsNamespace = "CertainMarketo"

// EmitRunMetrics writes one CloudWatch Embedded Metric Format line for a
// finished run, dimensioned by job type: the per-record outcome counts, the
// API calls spent, the duration, and 1 in RunsFailed/RunsPartial/
// RunsCheckpointed/RunsQuota where that is the outcome. A nil w writes
// nothing.
func EmitRunMetrics(w io.Writer, run store.Run) error {
	if w == nil {
		return nil
	}
	m := map[string]float64{
		"RecordsCreated":   float64(run.Counts[store.OutcomeCreated]),
		"RecordsUpdated":   float64(run.Counts[store.OutcomeUpdated]),
		"RecordsSkipped":   float64(run.Counts[store.OutcomeSkipped]),
		"RecordsFailed":    float64(run.Counts[store.OutcomeFailed]),
		"RecordsUnchanged": float64(run.Counts[store.OutcomeUnchanged]),
		"LeadsRequested":   float64(run.Counts[store.OutcomeRequested]),
		"MarketoCalls":     float64(run.MarketoCalls),
		"CertainCalls":     float64(run.CertainCalls),
		"RunDurationMs":    float64(run.Finished.Sub(run.Started) / time.Millisecond),
		"RunsFailed":       flag(run.Outcome == store.RunFailed),
		"RunsPartial":      flag(run.Outcome == store.RunPartial),
		"RunsCheckpointed": flag(run.Outcome == store.RunCheckpointed),
		"RunsQuota":        flag(run.Outcome == store.RunQuota),
	}
	return obs.EmitMetrics(w, MetricsNamespace, map[string]string{"JobType": run.JobType}, m, run.Finished)
}

func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
