package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/certain-marketo/certain-marketo/infra/progress"
	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// defaultPlanLimit is how many records (and writes of each kind) the text
// of a plan lists unless --limit says otherwise; --json lists all.
const defaultPlanLimit = 20

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

type planArgs struct {
	jobID   string
	opts    jobs.PlanOptions
	timeout time.Duration
	verbose bool
}

func runPlan(ctx context.Context, e Env, args []string) error {
	var c common
	fs := newFlags("plan", e, &c)
	function := fs.String("function", "", "deployed Lambda to plan in (the job's function; trigger-campaign for a trigger job)")
	inProcess := fs.Bool("in-process", false, "plan in this process")
	force := fs.Bool("force", false, "plan a forced run (delta hashes ignored)")
	limit := fs.Int("limit", -2, "records and writes of each kind listed (default 20; --json: all)")
	var regs stringList
	fs.Var(&regs, "registration", "trigger-campaign: plan a change of this registration (repeatable)")
	timeout := fs.Duration("timeout", 15*time.Minute, "in-process deadline")
	verbose := fs.Bool("verbose", false, "in-process: info logs")
	noProgress := fs.Bool("no-progress", false, "in-process: no progress line on stderr")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	a, err := planArguments(pos, *limit, c.json, *force, regs, *timeout)
	if err != nil {
		return err
	}
	a.verbose = *verbose
	switch {
	case *function != "" && *inProcess:
		return usagef("give --function or --in-process, not both")
	case *function == "" && !*inProcess:
		return usagef("say where to plan: --function NAME (the deployed Lambda) or --in-process")
	}
	var p jobs.Plan
	if *function != "" {
		cfg, err := e.awsConfig(ctx)
		if err != nil {
			return err
		}
		if p, err = invokePlan(ctx, lambda.NewFromConfig(cfg), *function, a); err != nil {
			return err
		}
	} else if p, err = planInProcess(ctx, e, c, a, !*noProgress); err != nil {
		return err
	}
	return printPlan(e, c, p, a.opts.Limit)
}

func planArguments(pos []string, limit int, asJSON, force bool, regs []string, timeout time.Duration) (planArgs, error) {
	if len(pos) != 1 {
		return planArgs{}, usagef("want exactly one JOB_ID, got %d arguments", len(pos))
	}
	switch {
	case limit == -2 && asJSON:
		limit = -1
	case limit == -2:
		limit = defaultPlanLimit
	case limit < 0:
		return planArgs{}, usagef("--limit %d: want 0 or more", limit)
	}
	if timeout <= time.Minute {
		return planArgs{}, usagef("--timeout %s: want more than 1m", timeout)
	}
	return planArgs{jobID: pos[0], timeout: timeout, opts: jobs.PlanOptions{Force: force, Limit: limit, Registrations: regs}}, nil
}

// invokePlan asks the deployed function for the plan, once.
func invokePlan(ctx context.Context, api LambdaInvoker, function string, a planArgs) (jobs.Plan, error) {
	inv := app.Invocation{JobID: a.jobID, Force: a.opts.Force, DryRun: true, Limit: &a.opts.Limit, Registrations: a.opts.Registrations}
	payload, err := json.Marshal(inv)
	if err != nil {
		return jobs.Plan{}, err
	}
	out, err := api.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(function), Payload: payload, InvocationType: lambdatypes.InvocationTypeRequestResponse,
	}, func(o *lambda.Options) { o.RetryMaxAttempts = 1 })
	if err != nil {
		return jobs.Plan{}, fmt.Errorf("invoke %s: %w", function, err)
	}
	if out.FunctionError != nil {
		var fe struct {
			ErrorMessage string `json:"errorMessage"`
		}
		msg := strings.TrimSpace(string(out.Payload))
		if json.Unmarshal(out.Payload, &fe) == nil && fe.ErrorMessage != "" {
			msg = fe.ErrorMessage
		}
		return jobs.Plan{}, fmt.Errorf("function %s failed (%s): %s", function, aws.ToString(out.FunctionError), msg)
	}
	var resp app.Response
	if err := json.Unmarshal(out.Payload, &resp); err != nil || resp.Plan == nil {
		return jobs.Plan{}, fmt.Errorf("function %s answered without a plan (a deployment older than dry runs?): %.200s", function, out.Payload)
	}
	return *resp.Plan, nil
}

// planInProcess plans with the functions' own wiring in this process.
func planInProcess(ctx context.Context, e Env, c common, a planArgs, progress bool) (jobs.Plan, error) {
	d, err := inProcessDeps(ctx, e, c, a.verbose)
	if err != nil {
		return jobs.Plan{}, err
	}
	j, err := d.Store.GetJob(ctx, a.jobID)
	if err != nil {
		return jobs.Plan{}, fmt.Errorf("config table %s: %w", c.configTable, err)
	}
	if len(a.opts.Registrations) > 0 && j.Type != config.TypeTriggerCampaign {
		return jobs.Plan{}, usagef("--registration plans a change for a trigger-campaign job; %q is a %s job", a.jobID, j.Type)
	}
	pctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	var p *jobs.Progress
	if progress {
		p = &jobs.Progress{}
		stop := showProgress(e, "plan "+a.jobID, p)
		defer stop()
	}
	if j.Type == config.TypeTriggerCampaign {
		tr := d.Trigger()
		tr.Progress = p
		return tr.Plan(pctx, a.jobID, a.opts)
	}
	ex := d.Executor(JobFuncs())
	ex.Progress = p
	return ex.Plan(pctx, a.jobID, a.opts)
}

func printPlan(e Env, c common, p jobs.Plan, limit int) error {
	if c.json {
		if err := writeJSON(e.Stdout, p); err != nil {
			return err
		}
	} else if err := writePlanText(e.Stdout, p, limit); err != nil {
		return err
	}
	if p.Outcome == store.RunFailed {
		return errReported
	}
	return nil
}

// startProgress shows the progress of ex's runs on stderr until stop.
func startProgress(e Env, label string, ex *jobs.Executor) (stop func()) {
	p := &jobs.Progress{}
	ex.Progress = p
	return showProgress(e, label, p)
}

// showProgress draws p on stderr until stop.
func showProgress(e Env, label string, p *jobs.Progress) (stop func()) {
	return progress.Start(e.Stderr, e.progressOptions(), func() string { return progress.JobLine(label, p.Snapshot()) })
}
