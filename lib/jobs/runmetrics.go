package jobs

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/obs"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// MetricsNamespace is the CloudWatch namespace of the product's metrics.
const MetricsNamespace = "CertainMarketo"

// Reporter tells the world outside the run record about finished runs: one
// CloudWatch EMF line per run (and one per failure code), and, for a run
// that ended failed or partial, one notice to the operators. The metric and
// dimension names are documented in docs/operations.md §6; template.yaml's
// alarms and dashboard read them. The zero value reports nothing.
type Reporter struct {
	// Metrics receives the EMF lines (os.Stdout in Lambda); nil: none.
	Metrics io.Writer
	// Stage names the deployment (STAGE): a dimension of every metric and
	// part of every notice, so that two stacks in one account stay apart.
	Stage string
	// Notifier, when set, is told about each run that ended failed or
	// partial.
	Notifier Notifier
	// Quiet: a notice like one sent less than Quiet ago (same job, outcome,
	// error and failure reasons, whatever the counts) is not sent again.
	// 0: every notice is sent.
	Quiet time.Duration
}

// maxNoticeReasons is how many failure reasons a notice lists.
const maxNoticeReasons = 3

// finished reports a finished run: its metrics, then its notice. Nothing
// it does can fail the run: problems are logged.
func (rp Reporter) finished(ctx context.Context, idem store.Idempotency, log *slog.Logger, run store.Run, rec *Recorder, latencies []time.Duration) {
	byCode, top := rec.failures(maxNoticeReasons)
	if err := rp.EmitRun(run, byCode, latencies); err != nil {
		log.ErrorContext(ctx, "cannot emit run metrics", "runId", run.ID, "error", err)
	}
	if run.Outcome == store.RunFailed || run.Outcome == store.RunPartial {
		rp.notify(ctx, idem, log, NewRunNotice(rp.Stage, run, top))
	}
}

// dims returns the metric dimensions: Stage (when set) and the given ones.
func (rp Reporter) dims(kv ...string) map[string]string {
	d := map[string]string{}
	if rp.Stage != "" {
		d["Stage"] = rp.Stage
	}
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i]] = kv[i+1]
	}
	return d
}

// EmitRun writes the EMF lines of a finished run, given its failed records
// by code and, for trigger-campaign, the latency of each campaign request. The run line, dimensioned by Stage and
// JobType: Runs (1) and RunsSucceeded/Failed/Partial/Checkpointed/Quota (1
// where that is the outcome); the per-record outcome counts; the share of
// the records the run tried to write that failed (RecordsFailedPercent:
// failed / (created + updated + requested + failed) × 100, 0 when it tried
// none); the API calls; the duration; and, for trigger-campaign, the time
// from each change to its campaign request (ChangeToCampaignMs, one value
// per request). Then one line per failure code, dimensioned by Stage and
// Code: RecordsFailedByCode. A nil Metrics writes nothing.
func (rp Reporter) EmitRun(run store.Run, byCode map[string]int, latencies []time.Duration) error {
	if rp.Metrics == nil {
		return nil
	}
	c := run.Counts
	tried := c[store.OutcomeCreated] + c[store.OutcomeUpdated] + c[store.OutcomeRequested] + c[store.OutcomeFailed]
	share := 0.0
	if tried > 0 {
		share = float64(c[store.OutcomeFailed]) * 100 / float64(tried)
	}
	m := map[string]float64{
		"Runs":                 1,
		"RunsSucceeded":        flag(run.Outcome == store.RunSucceeded),
		"RunsFailed":           flag(run.Outcome == store.RunFailed),
		"RunsPartial":          flag(run.Outcome == store.RunPartial),
		"RunsCheckpointed":     flag(run.Outcome == store.RunCheckpointed),
		"RunsQuota":            flag(run.Outcome == store.RunQuota),
		"RecordsCreated":       float64(c[store.OutcomeCreated]),
		"RecordsUpdated":       float64(c[store.OutcomeUpdated]),
		"RecordsSkipped":       float64(c[store.OutcomeSkipped]),
		"RecordsFailed":        float64(c[store.OutcomeFailed]),
		"RecordsUnchanged":     float64(c[store.OutcomeUnchanged]),
		"LeadsRequested":       float64(c[store.OutcomeRequested]),
		"RecordsFailedPercent": share,
		"MarketoCalls":         float64(run.MarketoCalls),
		"CertainCalls":         float64(run.CertainCalls),
		"RunDurationMs":        float64(run.Finished.Sub(run.Started) / time.Millisecond),
	}
	line := obs.Line{Namespace: MetricsNamespace, Dimensions: rp.dims("JobType", run.JobType), Metrics: m, Time: run.Finished}
	// A series holds at most 100 values a line (a batch of trigger-campaign
	// has at most 100 changes, but the cap must not be met by luck).
	for chunk := range slices.Chunk(latencies, 100) {
		vs := make([]float64, len(chunk))
		for i, d := range chunk {
			vs[i] = float64(d / time.Millisecond)
		}
		line.Series = map[string][]float64{"ChangeToCampaignMs": vs}
		if err := line.Write(rp.Metrics); err != nil {
			return err
		}
		line.Metrics = nil // the run's own metrics go out once
	}
	if len(latencies) == 0 {
		if err := line.Write(rp.Metrics); err != nil {
			return err
		}
	}
	for _, code := range slices.Sorted(maps.Keys(byCode)) {
		l := obs.Line{Namespace: MetricsNamespace, Dimensions: rp.dims("Code", code),
			Metrics: map[string]float64{"RecordsFailedByCode": float64(byCode[code])}, Time: run.Finished}
		if err := l.Write(rp.Metrics); err != nil {
			return err
		}
	}
	return nil
}

func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
