package bench

import (
	"fmt"
	"io"
	"time"

	"github.com/certain-marketo/certain-marketo/infra/progress"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

// stepProgress shows the progress of a scheduled step, summed over every
// worker's runs, on out until stop (nothing when out is nil). Times are the
// wall clock's: the runs' own clock is the accelerated one.
func (w *world) stepProgress(out io.Writer, label string) (stop func()) {
	if out == nil {
		return func() {}
	}
	ps := make([]*jobs.Progress, len(w.workers))
	for i, wk := range w.workers {
		ps[i] = &jobs.Progress{}
		wk.exec.Progress = ps[i]
	}
	start := time.Now()
	return progress.Start(out, progress.Options{}, func() string {
		var sum jobs.ProgressSnapshot
		for _, p := range ps {
			s := p.Snapshot()
			sum.Read, sum.Total, sum.Done, sum.Sent, sum.Failed = sum.Read+s.Read, sum.Total+s.Total, sum.Done+s.Done, sum.Sent+s.Sent, sum.Failed+s.Failed
			sum.MarketoCalls, sum.CertainCalls, sum.MarketoDaily = sum.MarketoCalls+s.MarketoCalls, sum.CertainCalls+s.CertainCalls, sum.MarketoDaily+s.MarketoDaily
		}
		sum.Elapsed = time.Since(start)
		if sum.Total > sum.Read && sum.Read > 0 {
			sum.Left = time.Duration(float64(sum.Elapsed) * float64(sum.Total-sum.Read) / float64(sum.Read))
		}
		return progress.JobLine(fmt.Sprintf("bench %s (%d worker(s))", label, len(w.workers)), sum)
	})
}
