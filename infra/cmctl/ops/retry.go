package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// RetryRow is one change retry-failures re-drove.
type RetryRow struct {
	Registration string `json:"registration"`
	Change       string `json:"changeId"`
	Result       string `json:"result"` // requested, failed, skipped, duplicate, no-job, or error
	Code         string `json:"code,omitempty"`
	Reason       string `json:"reason,omitempty"`
	RunID        string `json:"runId,omitempty"` // the re-drive's run, where the change's outcome is recorded
}

// retryJSON is retry-failures' --json output.
type retryJSON struct {
	Run     RunRow     `json:"run"`
	Changes []RetryRow `json:"changes"`
	// NotRedrivable counts failed outcomes that carry no change (written
	// before re-drives existed) or were not kept (over the bound).
	NotRedrivable int `json:"notRedrivable"`
}

// runRetryFailures re-drives the failed changes of a trigger-campaign run,
// in this process, through the same Trigger the Lambda uses.
func runRetryFailures(ctx context.Context, e Env, args []string) error {
	var c common
	fs := newFlags("retry-failures", e, &c)
	timeout := fs.Duration("timeout", 15*time.Minute, "deadline")
	verbose := fs.Bool("verbose", false, "info logs")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one RUN_ID, got %d arguments", len(pos))
	}
	if *timeout <= time.Minute {
		return usagef("--timeout %s: want more than 1m", *timeout)
	}
	st, err := e.openStore(ctx, c)
	if err != nil {
		return err
	}
	run, msgs, skipped, err := failedChanges(ctx, e, c, st, pos[0])
	if err != nil {
		return err
	}
	out := retryJSON{Run: runRow(run), Changes: []RetryRow{}, NotRedrivable: skipped}
	if len(msgs) > 0 {
		res, err := redrive(ctx, e, c, run.JobID, msgs, *timeout, *verbose)
		if err != nil {
			return err
		}
		for _, r := range res {
			out.Changes = append(out.Changes, retryRow(r))
		}
	}
	return printRetry(e, c, out)
}

// failedChanges reads a trigger-campaign run and the changes its failed
// outcomes carry, each once; skipped counts the failed outcomes without one.
func failedChanges(ctx context.Context, e Env, c common, st store.Runs, runID string) (store.Run, []jobs.ChangeMessage, int, error) {
	run, err := st.GetRun(ctx, runID)
	if errors.Is(err, store.ErrNotFound) {
		return run, nil, 0, fmt.Errorf("run %q: not found in %s (runs expire after their retention)", runID, c.stateTable)
	}
	if err != nil {
		return run, nil, 0, fmt.Errorf("state table %s: %w", c.stateTable, err)
	}
	if run.JobType != config.TypeTriggerCampaign {
		return run, nil, 0, fmt.Errorf("run %s is a %s run: retry-failures re-drives trigger-campaign changes; the other jobs retry their failed records on their next run (or now: cmctl run %s --in-process)", run.ID, run.JobType, run.JobID)
	}
	if age := e.now().Sub(run.Started); age >= jobs.DefaultChangeRetention {
		return run, nil, 0, fmt.Errorf("run %s started %s ago, longer than the %s a triggered change is remembered: a re-drive could trigger a change twice, so it is refused",
			run.ID, age.Round(time.Hour), jobs.DefaultChangeRetention)
	}
	outs, err := st.ListOutcomes(ctx, run.ID, store.OutcomeFailed)
	if err != nil {
		return run, nil, 0, fmt.Errorf("state table %s: outcomes of run %q: %w", c.stateTable, run.ID, err)
	}
	skipped := run.OutcomesDropped
	seen := map[string]bool{}
	var msgs []jobs.ChangeMessage
	for _, o := range outs {
		m, err := jobs.DecodeChange([]byte(o.Change))
		if o.Change == "" || err != nil {
			skipped++
			continue
		}
		if k := jobs.ChangeKey(run.JobID, m); !seen[k] {
			seen[k] = true
			msgs = append(msgs, m)
		}
	}
	return run, msgs, skipped, nil
}

// redrive builds the functions' dependencies (as run --in-process does)
// and re-drives msgs for the job.
func redrive(ctx context.Context, e Env, c common, jobID string, msgs []jobs.ChangeMessage, timeout time.Duration, verbose bool) ([]jobs.RedriveResult, error) {
	lookup := func(k string) (string, bool) {
		switch k {
		case EnvConfigTable:
			return c.configTable, true
		case EnvStateTable:
			return c.stateTable, true
		}
		if e.Lookup == nil {
			return "", false
		}
		return e.Lookup(k)
	}
	s, err := app.SettingsFromEnv(lookup, false)
	if err != nil {
		return nil, err
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	d, err := app.NewDeps(ctx, s, slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level})))
	if err != nil {
		return nil, err
	}
	tr := d.Trigger()
	// No run metrics or notices: the operator reads the results here, and a
	// re-drive's latency is not the product's.
	tr.Report = jobs.Reporter{}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := tr.Redrive(rctx, jobID, msgs)
	if err := d.Connector.ReleaseBudgets(context.WithoutCancel(ctx)); err != nil {
		fmt.Fprintf(e.Stderr, "cmctl retry-failures: cannot give back the shared Marketo budget's slots (they return when their lease expires): %v\n", err)
	}
	return res, nil
}

func retryRow(r jobs.RedriveResult) RetryRow {
	row := RetryRow{Registration: r.Change.RegistrationCode, Change: r.Change.ChangeID, Result: r.Outcome, Code: r.Code, Reason: r.Reason, RunID: r.RunID}
	if r.Err != nil {
		row.Result, row.Reason = "error", r.Err.Error()+" (nothing was triggered; run retry-failures again)"
	}
	return row
}

// printRetry prints what retry-failures did; a change still failed makes
// the exit code 1.
func printRetry(e Env, c common, out retryJSON) error {
	still := 0
	for _, r := range out.Changes {
		if r.Result == store.OutcomeFailed || r.Result == "error" {
			still++
		}
	}
	if c.json {
		if err := writeJSON(e.Stdout, out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.Stdout, "run %s of job %s: %d failed change(s) re-driven\n", out.Run.ID, out.Run.JobID, len(out.Changes))
		if len(out.Changes) > 0 {
			tw := table(e.Stdout, "REGISTRATION", "CHANGE", "RESULT", "CODE", "RUN", "REASON")
			for _, r := range out.Changes {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Registration, r.Change, r.Result, dash(r.Code), dash(r.RunID), dash(oneLine(r.Reason, 160)))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if out.NotRedrivable > 0 {
			fmt.Fprintf(e.Stdout, "%d failed record(s) of the run carry no change to re-drive (recorded before re-drives existed, or not kept over the bound of %d per run)\n",
				out.NotRedrivable, store.MaxOutcomesPerRun)
		}
		if still > 0 {
			fmt.Fprintf(e.Stdout, "%s still failed: see the reasons, fix, and run cmctl retry-failures with the RUN shown\n", plural(still, "change"))
		}
	}
	if still > 0 {
		return errReported
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
