package app

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

// Each Main* is the whole of a function's main after it has read the
// environment: build the dependencies once (init), then serve invocations.
// They return only on a set-up error; main prints it and exits.

func setup(lookup func(string) (string, bool), needQueue, needWorkQueue bool) (*Deps, error) {
	setGCPercent(lookup)
	s, err := SettingsFromEnv(lookup, needQueue)
	if err != nil {
		return nil, err
	}
	if needWorkQueue {
		if err := s.RequireWorkQueue(); err != nil {
			return nil, err
		}
	}
	// lambdacontext's logger writes JSON (with level, timestamp, message,
	// requestId) when LoggingConfig says JSON, and honours the level.
	log := lambdacontext.NewLogger()
	slog.SetDefault(log)
	d, err := NewDeps(context.Background(), s, log)
	if err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	return d, nil
}

// GCPercent is the functions' GOGC unless their environment sets one
// (template.yaml sets the same in Globals, so sam local can change it): the
// heap may grow to 1.5 times what the last collection found live before the
// next, instead of Go's default twice. The jobs hold little between
// collections (a sync-leads run over 100,000 registrations about 9 MB at
// its peak, bounded by its batches) and allocate much (each page and answer
// decoded), so collecting sooner costs little and lowers the peak: the
// process-memory bench's sync-leads run over 100,000 registrations peaked at
// 28.5 MB RSS with 1,151 collections and 54.6 s of CPU, against 32.5 to
// 33.4 MB with 537 to 542 and 50.8 to 56.3 s at 100 (README, "Memory of the
// job's process"). Unlike a fixed GOMEMLIMIT, it cannot make a process whose
// live heap is larger (a much larger mapping) collect without end.
const GCPercent = 50

// setGCPercent sets the collector's target to GCPercent unless the
// environment's GOGC chose one (the runtime has read it already).
func setGCPercent(lookup func(string) (string, bool)) {
	if _, set := lookup("GOGC"); !set {
		debug.SetGCPercent(GCPercent)
	}
}

// MainScheduled serves a job function running the given job types: its
// schedule ticks and direct runs queue run messages on its work queue, and
// the work queue's event source mapping hands them back to it to run.
func MainScheduled(lookup func(string) (string, bool), funcs map[string]jobs.JobFunc) error {
	d, err := setup(lookup, false, true)
	if err != nil {
		return err
	}
	served := make([]string, 0, len(funcs))
	for t := range funcs {
		served = append(served, t)
	}
	q := d.WorkQueue()
	ex := d.Executor(funcs)
	ex.Queue = q
	lambda.Start(releasing(d, JobHandler(ex, q, d.Logger, served...)))
	return nil
}

// MainTrigger serves trigger-campaign (SQS registration-change batches).
func MainTrigger(lookup func(string) (string, bool)) error {
	d, err := setup(lookup, true, false)
	if err != nil {
		return err
	}
	t := d.Trigger()
	lambda.Start(releasing(d, TriggerHandler(t, t, d.Logger, d.Postponer())))
	return nil
}

// MainDetector serves registration-changes: its ticks queue one scope
// message per watched account/event on its work queue, and the work
// queue's event source mapping hands them back to it to poll.
func MainDetector(lookup func(string) (string, bool)) error {
	d, err := setup(lookup, true, true)
	if err != nil {
		return err
	}
	lambda.Start(releasing(d, DetectorHandler(d.Detector(), d.Telemetry(), d.Logger)))
	return nil
}

// releasing wraps a handler so that every invocation ends by giving back the
// shared Marketo budget's slots and unused calls (a frozen Lambda must not
// hold them until their leases expire), then reporting the daily usage of
// the Marketo instances it called.
func releasing[E, R any](d *Deps, h func(context.Context, E) (R, error)) func(context.Context, E) (R, error) {
	return func(ctx context.Context, ev E) (R, error) {
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := d.Connector.ReleaseBudgets(rctx); err != nil {
				d.Logger.WarnContext(ctx, "cannot give back the shared Marketo budget's slots; they return when their lease expires", "error", err)
			}
			if err := d.Connector.BudgetUsage(d.Telemetry()); err != nil {
				d.Logger.ErrorContext(ctx, "cannot emit the Marketo daily usage metrics", "error", err)
			}
		}()
		return h(ctx, ev)
	}
}
