package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// JobFuncs maps every job type the executor runs to its job function, as
// the scheduled functions' mains do. trigger-campaign is absent: it runs on
// registration changes from the queue, not on demand.
func JobFuncs() map[string]jobs.JobFunc {
	return map[string]jobs.JobFunc{
		config.TypeImportLeads:       jobs.ImportLeads,
		config.TypeImportProfiles:    jobs.ImportProfiles,
		config.TypeSyncLeads:         jobs.SyncLeads,
		config.TypeEngagementMetrics: jobs.EngagementMetrics,
		config.TypeInterestMetrics:   jobs.InterestMetrics,
	}
}

// LambdaInvoker is the one Lambda call cmctl makes; *lambda.Client
// satisfies it.
type LambdaInvoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

func runRun(ctx context.Context, e Env, args []string) error {
	var c common
	fs := newFlags("run", e, &c)
	function := fs.String("function", "", "deployed Lambda to invoke")
	inProcess := fs.Bool("in-process", false, "run in this process")
	force := fs.Bool("force", false, "ignore delta hashes")
	noWait := fs.Bool("no-wait", false, "--function: print the queued run's id and return")
	wait := fs.Duration("wait", 20*time.Minute, "--function: how long to wait for the queued run to finish")
	timeout := fs.Duration("timeout", 15*time.Minute, "in-process deadline")
	verbose := fs.Bool("verbose", false, "in-process: info logs")
	noProgress := fs.Bool("no-progress", false, "in-process: no progress line on stderr")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one JOB_ID, got %d arguments", len(pos))
	}
	jobID := pos[0]
	switch {
	case *function != "" && *inProcess:
		return usagef("give --function or --in-process, not both")
	case *function == "" && !*inProcess:
		return usagef("say where to run: --function NAME (the deployed Lambda) or --in-process")
	case *timeout <= time.Minute:
		return usagef("--timeout %s: want more than 1m", *timeout)
	case *wait <= 0:
		return usagef("--wait %s: want a positive duration", *wait)
	}
	if *function != "" {
		cfg, err := e.awsConfig(ctx)
		if err != nil {
			return err
		}
		w := runWait{timeout: *wait, poll: 2 * time.Second}
		if !*noWait {
			st, err := e.openStore(ctx, c)
			if err != nil {
				return fmt.Errorf("%w (cmctl run --function waits for the run in the state table; --no-wait does not)", err)
			}
			w.runs = st
		}
		return invokeFunction(ctx, e, c, lambda.NewFromConfig(cfg), *function, jobID, *force, w)
	}
	return runInProcess(ctx, e, c, jobID, *force, *timeout, *verbose, !*noProgress)
}

// RunReader is the store call cmctl run waits with (*dynamostore.Store).
type RunReader interface {
	GetRun(ctx context.Context, runID string) (store.Run, error)
}

// runWait says whether and how cmctl run waits for a queued run.
type runWait struct {
	runs    RunReader // nil: do not wait
	timeout time.Duration
	poll    time.Duration
	sleep   func(ctx context.Context, d time.Duration) error // nil: a timer
}

func (w runWait) pause(ctx context.Context) error {
	if w.sleep != nil {
		return w.sleep(ctx, w.poll)
	}
	t := time.NewTimer(w.poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// invokeFunction asks the deployed function for a direct run, once (the
// SDK's retries are off: a retried Invoke would queue a second run). The
// function queues the run on its work queue and answers its run id; unless
// told not to, cmctl then waits for that run record to finish and prints
// it. A function of an older deployment that ran the job in the invocation
// answers with the run itself.
func invokeFunction(ctx context.Context, e Env, c common, api LambdaInvoker, function, jobID string, force bool, w runWait) error {
	payload, err := json.Marshal(app.Invocation{JobID: jobID, Force: force})
	if err != nil {
		return err
	}
	out, err := api.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(function), Payload: payload, InvocationType: lambdatypes.InvocationTypeRequestResponse,
	}, func(o *lambda.Options) { o.RetryMaxAttempts = 1 })
	if err != nil {
		return fmt.Errorf("invoke %s: %w", function, err)
	}
	if out.FunctionError != nil {
		var fe struct {
			ErrorMessage string `json:"errorMessage"`
			ErrorType    string `json:"errorType"`
		}
		msg := strings.TrimSpace(string(out.Payload))
		if json.Unmarshal(out.Payload, &fe) == nil && fe.ErrorMessage != "" {
			msg = fe.ErrorMessage
		}
		return fmt.Errorf("function %s failed (%s): %s", function, aws.ToString(out.FunctionError), msg)
	}
	var resp app.Response
	if err := json.Unmarshal(out.Payload, &resp); err != nil || (resp.Run == nil && resp.Queued == nil) {
		if c.json {
			_, werr := e.Stdout.Write(append(out.Payload, '\n'))
			return werr
		}
		return fmt.Errorf("function %s answered with an unexpected payload: %.200s", function, out.Payload)
	}
	if resp.Run != nil {
		return printRunSummary(e, c, *resp.Run)
	}
	q := *resp.Queued
	if w.runs == nil {
		if c.json {
			return writeJSON(e.Stdout, resp)
		}
		fmt.Fprintf(e.Stdout, "queued run %s of job %s on %s's work queue\nfollow it: cmctl runs %s\n", q.RunID, q.JobID, function, q.JobID)
		return nil
	}
	if e.Stderr != nil {
		fmt.Fprintf(e.Stderr, "queued run %s of job %s; waiting for it (at most %s)\n", q.RunID, q.JobID, w.timeout)
	}
	run, err := waitForRun(ctx, w, q.RunID)
	if err != nil {
		return fmt.Errorf("%w; follow it with: cmctl runs %s", err, q.JobID)
	}
	return printRunSummary(e, c, jobs.RunSummary{RunID: run.ID, JobID: run.JobID, Outcome: run.Outcome, Counts: run.Counts,
		MarketoCalls: run.MarketoCalls, CertainCalls: run.CertainCalls, Error: run.Error})
}

// waitForRun reads the run record until it has an outcome other than
// running, or w.timeout passes. A run not recorded yet is waiting for its
// invocation (the queue's other messages, or the job's other run).
func waitForRun(ctx context.Context, w runWait, runID string) (store.Run, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	state := "not started"
	for {
		r, err := w.runs.GetRun(ctx, runID)
		switch {
		case err == nil && r.Outcome != store.RunRunning:
			return r, nil
		case err == nil:
			state = "running"
		case !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil:
			return r, fmt.Errorf("read run %s: %w", runID, err)
		}
		if err := w.pause(ctx); err != nil {
			return r, fmt.Errorf("run %s still %s after %s", runID, state, w.timeout)
		}
	}
}

func runInProcess(ctx context.Context, e Env, c common, jobID string, force bool, timeout time.Duration, verbose, progress bool) error {
	d, err := inProcessDeps(ctx, e, c, verbose)
	if err != nil {
		return err
	}
	j, err := d.Store.GetJob(ctx, jobID)
	if err != nil {
		return fmt.Errorf("config table %s: %w", c.configTable, err)
	}
	if _, ok := JobFuncs()[j.Type]; !ok {
		return fmt.Errorf("job %q is a %s job: it runs on registration changes from the queue, not on demand", jobID, j.Type)
	}
	// A deadline like a Lambda's, so a long run checkpoints and can be
	// continued instead of being cut off.
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ex := d.Executor(JobFuncs())
	stop := func() {}
	if progress {
		stop = startProgress(e, "run "+jobID, ex)
	}
	sum, err := ex.RunNow(rctx, jobID, force)
	stop()
	if err != nil {
		return err
	}
	return printRunSummary(e, c, sum)
}

// inProcessDeps builds what the functions build, in this process, on the
// tables c names (logs on stderr: warnings, or info with verbose).
func inProcessDeps(ctx context.Context, e Env, c common, verbose bool) (*app.Deps, error) {
	if err := c.needTables(); err != nil {
		return nil, err
	}
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
	log := slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level}))
	return app.NewDeps(ctx, s, log)
}

func printRunSummary(e Env, c common, sum jobs.RunSummary) error {
	if c.json {
		if err := writeJSON(e.Stdout, sum); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.Stdout, "run %s of job %s: %s\n", sum.RunID, sum.JobID, sum.Outcome)
		fmt.Fprintf(e.Stdout, "  counts:        %s\n", countsText(sum.Counts))
		fmt.Fprintf(e.Stdout, "  Marketo calls: %d\n  Certain calls: %d\n", sum.MarketoCalls, sum.CertainCalls)
		if sum.Error != "" {
			fmt.Fprintf(e.Stdout, "  error:         %s\n", sum.Error)
		}
		switch sum.Outcome {
		case store.RunPartial:
			fmt.Fprintf(e.Stdout, "some records failed: cmctl failures %s\n", sum.RunID)
		case store.RunCheckpointed:
			fmt.Fprintf(e.Stdout, "stopped at the deadline with a checkpoint; a deployed function continues it at once in a new invocation (cmctl runs %s), in-process: run it again\n", sum.JobID)
		case store.RunQuota:
			fmt.Fprintln(e.Stdout, "stopped by Marketo's daily quota: it resumes after the daily reset")
		}
	}
	if sum.Outcome == store.RunFailed {
		return errReported
	}
	return nil
}

func countsText(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+strconv.Itoa(m[k]))
	}
	return strings.Join(parts, " ")
}

// RunRow is one line of runs.
type RunRow struct {
	ID              string         `json:"id"`
	JobID           string         `json:"jobId"`
	Trigger         string         `json:"trigger"`
	Started         time.Time      `json:"started"`
	Finished        *time.Time     `json:"finished,omitempty"`
	Outcome         string         `json:"outcome"`
	Counts          map[string]int `json:"counts"`
	MarketoCalls    int            `json:"marketoCalls"`
	CertainCalls    int            `json:"certainCalls"`
	Error           string         `json:"error,omitempty"`
	OutcomesDropped int            `json:"outcomesDropped,omitempty"`
}

func runRow(r store.Run) RunRow {
	row := RunRow{ID: r.ID, JobID: r.JobID, Trigger: r.Trigger, Started: r.Started.UTC(), Outcome: r.Outcome, Counts: r.Counts,
		MarketoCalls: r.MarketoCalls, CertainCalls: r.CertainCalls, Error: r.Error, OutcomesDropped: r.OutcomesDropped}
	if row.Counts == nil {
		row.Counts = map[string]int{}
	}
	if !r.Finished.IsZero() {
		t := r.Finished.UTC()
		row.Finished = &t
	}
	return row
}

func runRuns(ctx context.Context, e Env, args []string) error {
	var c common
	fs := newFlags("runs", e, &c)
	limit := fs.Int("limit", 20, "at most N runs")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one JOB_ID, got %d arguments", len(pos))
	}
	if *limit < 1 {
		return usagef("--limit %d: want at least 1", *limit)
	}
	st, err := e.openStore(ctx, c)
	if err != nil {
		return err
	}
	runs, err := st.ListRuns(ctx, pos[0], *limit)
	if err != nil {
		return fmt.Errorf("state table %s: runs of job %q: %w", c.stateTable, pos[0], err)
	}
	if len(runs) == 0 {
		if _, err := st.GetJob(ctx, pos[0]); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("job %q: not found in %s and has no runs", pos[0], c.configTable)
		}
	}
	rows := make([]RunRow, 0, len(runs))
	for _, r := range runs {
		rows = append(rows, runRow(r))
	}
	if c.json {
		return writeJSON(e.Stdout, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintf(e.Stdout, "job %s has no runs yet\n", pos[0])
		return nil
	}
	tw := table(e.Stdout, "RUN", "TRIGGER", "STARTED", "DURATION", "OUTCOME", "COUNTS", "MARKETO", "CERTAIN", "ERROR")
	for _, r := range rows {
		dur := "-"
		if r.Finished != nil {
			dur = r.Finished.Sub(r.Started).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", r.ID, dash(r.Trigger), r.Started.Format(time.RFC3339), dur, r.Outcome,
			countsText(r.Counts), r.MarketoCalls, r.CertainCalls, dash(oneLine(r.Error, 80)))
	}
	return tw.Flush()
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		return s[:max-1] + "…"
	}
	return s
}

type failuresJSON struct {
	Run      RunRow                `json:"run"`
	Outcomes []store.RecordOutcome `json:"outcomes"`
	Dropped  int                   `json:"dropped"`
}

func runFailures(ctx context.Context, e Env, args []string) error {
	var c common
	fs := newFlags("failures", e, &c)
	outcome := fs.String("outcome", "", "failed or skipped (default both)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one RUN_ID, got %d arguments", len(pos))
	}
	kinds := []string{store.OutcomeFailed, store.OutcomeSkipped}
	switch *outcome {
	case "":
	case store.OutcomeFailed, store.OutcomeSkipped:
		kinds = []string{*outcome}
	default:
		return usagef("--outcome %q: want failed or skipped", *outcome)
	}
	st, err := e.openStore(ctx, c)
	if err != nil {
		return err
	}
	run, err := st.GetRun(ctx, pos[0])
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("run %q: not found in %s (runs expire after their retention)", pos[0], c.stateTable)
	}
	if err != nil {
		return fmt.Errorf("state table %s: %w", c.stateTable, err)
	}
	out := failuresJSON{Run: runRow(run), Outcomes: []store.RecordOutcome{}, Dropped: run.OutcomesDropped}
	for _, k := range kinds {
		outs, err := st.ListOutcomes(ctx, run.ID, k)
		if err != nil {
			return fmt.Errorf("state table %s: outcomes of run %q: %w", c.stateTable, run.ID, err)
		}
		out.Outcomes = append(out.Outcomes, outs...)
	}
	if c.json {
		return writeJSON(e.Stdout, out)
	}
	fmt.Fprintf(e.Stdout, "run %s of job %s: %s; counts: %s\n", run.ID, run.JobID, run.Outcome, countsText(run.Counts))
	if len(out.Outcomes) == 0 {
		fmt.Fprintf(e.Stdout, "no %s records kept\n", strings.Join(kinds, " or "))
	} else {
		tw := table(e.Stdout, "KEY", "EMAIL", "OUTCOME", "CODE", "REASON")
		for _, o := range out.Outcomes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.Key, dash(o.Email), o.Outcome, dash(o.Code), dash(o.Reason))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if run.OutcomesDropped > 0 {
		fmt.Fprintf(e.Stdout, "%d per-record outcome(s) were not kept (over the bound of %d per run); the counts above include them\n",
			run.OutcomesDropped, store.MaxOutcomesPerRun)
	}
	return nil
}
