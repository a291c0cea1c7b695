// Package ops is the operator command cmctl: everything an operator does by
// hand to a deployed (or moto_server-backed) certain-marketo, kept out of
// package main so that every subcommand is tested end to end against real
// local servers. Configuration goes through the same validation and the
// same store the functions use, and a job run in-process goes through the
// same executor, so what cmctl accepts and does is what the Lambdas would.
//
// Main never exits and never reads the process environment: main passes
// os.LookupEnv, the standard streams and gets an exit code back (0 ok,
// 1 failure, 2 usage).
package ops

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/certain-marketo/certain-marketo/infra/progress"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Environment variables read through Env.Lookup for flag defaults: the
// names the functions use (template.yaml), plus the DLQ's.
const (
	EnvConfigTable = "CONFIG_TABLE"
	EnvStateTable  = "STATE_TABLE"
	EnvQueueURL    = "CHANGE_QUEUE_URL"
	EnvDLQURL      = "CHANGE_DLQ_URL"
)

// Env is the outside world of one cmctl invocation.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	// Lookup reads an environment variable (os.LookupEnv in main).
	Lookup func(string) (string, bool)
	// AWSConfig loads the SDK configuration; nil means
	// config.LoadDefaultConfig (which honours AWS_ENDPOINT_URL_*).
	AWSConfig func(ctx context.Context) (aws.Config, error)
	// Now is the clock for "next due" and durations; nil means time.Now.
	Now func() time.Time
	// Progress says how long commands draw their progress line on Stderr
	// (the zero value: redrawn on a terminal, a plain line every 10 s
	// otherwise).
	Progress progress.Options
}

func (e Env) progressOptions() progress.Options { return e.Progress }

func (e Env) lookup(k string) string {
	if e.Lookup == nil {
		return ""
	}
	v, _ := e.Lookup(k)
	return strings.TrimSpace(v)
}

func (e Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e Env) awsConfig(ctx context.Context) (aws.Config, error) {
	if e.AWSConfig != nil {
		return e.AWSConfig(ctx)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
	}
	return cfg, nil
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errReported means the command already printed what went wrong (a list of
// validation problems); Main only sets the exit code.
var errReported = errors.New("reported")

type command struct {
	name    string
	args    string
	summary string
	run     func(ctx context.Context, e Env, args []string) error
}

func commands() []command {
	return []command{
		{"validate", "FILE...", "validate connection, job and field-mapping files (no AWS needed)", runValidate},
		{"put", "FILE...", "validate the files, then write them to the config table (nothing is written if any file is bad)", runPut},
		{"list-jobs", "[--type T]", "list jobs with schedule, next due time and last outcome", runListJobs},
		{"run", "JOB_ID (--function NAME [--wait D | --no-wait] | --in-process) [--force]", "run one job now (deployed: queued, then waited for)", runRun},
		{"plan", "JOB_ID (--function NAME | --in-process) [--force] [--limit N] [--registration CODE]...", "a dry run: what a run of the job would do now, record by record (reads only; writes nothing)", runPlan},
		{"runs", "JOB_ID [--limit N]", "a job's run history, newest first", runRuns},
		{"failures", "RUN_ID [--outcome failed|skipped]", "a run's per-record failures and skips", runFailures},
		{"retry-failures", "RUN_ID", "re-drive the changes a trigger-campaign run could not trigger, once their cause is fixed (each at most once)", runRetryFailures},
		{"redrive-dlq", "[--max N]", "move messages from the DLQ back to the registration-change queue", runRedrive},
		{"put-secret", "NAME --file F [--kind marketo|certain]", "create or update a credentials secret from a JSON file", runPutSecret},
		{"probe-certain", "--event EVENT (--url URL --account ACCT --user USER | --connection FILE|ACCOUNT)", "check a Certain tenant and infer its connection settings (read-only; password from $CERTAIN_PASSWORD)", runProbeCertain},
		{"probe-marketo", "(--connection FILE|ACCOUNT [FILE...] | --url URL --client-id ID) [--job ID ...]", "check a Marketo instance read-only: credentials, usage, mapped fields, lists, campaigns, custom objects", runProbeMarketo},
		{"help", "", "this text", nil},
	}
}

// Main runs one cmctl invocation and returns its exit code.
func Main(ctx context.Context, args []string, e Env) int {
	if e.Stdout == nil {
		e.Stdout = io.Discard
	}
	if e.Stderr == nil {
		e.Stderr = io.Discard
	}
	if len(args) == 0 {
		fmt.Fprintln(e.Stderr, "cmctl: no command given")
		fmt.Fprint(e.Stderr, shortUsage())
		return ExitUsage
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		fmt.Fprint(e.Stdout, helpText())
		return ExitOK
	}
	for _, c := range commands() {
		if c.name != name || c.run == nil {
			continue
		}
		err := c.run(ctx, e, args[1:])
		var ue *usageError
		switch {
		case err == nil:
			return ExitOK
		case errors.Is(err, flag.ErrHelp):
			fmt.Fprintf(e.Stdout, "usage: cmctl %s %s\n\n%s\n\nRun 'cmctl help' for every flag and the file formats.\n", c.name, c.args, c.summary)
			return ExitOK
		case errors.As(err, &ue):
			fmt.Fprintf(e.Stderr, "cmctl %s: %v\nusage: cmctl %s %s\n", c.name, err, c.name, c.args)
			return ExitUsage
		case errors.Is(err, errReported):
			return ExitFailure
		default:
			fmt.Fprintf(e.Stderr, "cmctl %s: %v\n", c.name, err)
			return ExitFailure
		}
	}
	fmt.Fprintf(e.Stderr, "cmctl: unknown command %q\n", name)
	fmt.Fprint(e.Stderr, shortUsage())
	return ExitUsage
}

func shortUsage() string {
	var b strings.Builder
	b.WriteString("usage: cmctl COMMAND [ARGS] [FLAGS]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-12s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'cmctl help' for flags and file formats.\n")
	return b.String()
}

func helpText() string {
	var b strings.Builder
	b.WriteString(`cmctl operates certain-marketo: its configuration in DynamoDB, its jobs, their
run records and the registration-change dead-letter queue.

usage: cmctl COMMAND [ARGS] [FLAGS]     (flags may come before or after ARGS)

`)
	for _, c := range commands() {
		fmt.Fprintf(&b, "  cmctl %s %s\n      %s\n", c.name, c.args, c.summary)
	}
	b.WriteString(`
Common flags:
  --json                 machine-readable output on stdout
  --config-table NAME    config table (default $CONFIG_TABLE)
  --state-table NAME     state table (default $STATE_TABLE)
  --queue-url URL        registration-change queue (default $CHANGE_QUEUE_URL)
  --dlq-url URL          its dead-letter queue (default $CHANGE_DLQ_URL)

Command flags:
  list-jobs   --type T         only jobs of type T
  run         --function NAME  invoke the deployed Lambda NAME with {"jobId":…,"force":…}
              --in-process     run the job in this process (same executor as the Lambda)
              --force          ignore delta hashes and resend everything
              --timeout D      in-process run deadline (default 15m, as a Lambda's)
              --verbose        in-process: log at info level (default: warnings)
  runs        --limit N        at most N runs (default 20)
  failures    --outcome O      failed or skipped (default: both)
  retry-failures               in this process, with the functions' configuration
              --timeout D      deadline (default 15m)
              --verbose        info logs (default: warnings)
  redrive-dlq --max N          move at most N messages (default: until the DLQ is empty)
              --wait S         long-poll S seconds before calling the DLQ empty (default 1)
  put-secret  --file F         the secret's JSON (the value is never printed)
              --kind K         marketo or certain (default: whichever the JSON is)
  probe-certain --url URL --account ACCT --event EVENT --user USER
                               check one tenant read-only: one PASS/FAIL/INFO line per
                               check, then the inferred settings as connection YAML
              --connection F|A use a connection file (F) or the table's connection of
                               account A, and its secret unless --user is given;
                               exit 1 when a configured setting differs
              --record DIR     save every raw response, credentials and personal data
                               redacted (the contract test of lib/certain replays them)
              --write-test     also create, update, re-read and delete a profile and
                               a registration: sandbox events only
              --allow-http     permit http:// (simulators)
              password: $CERTAIN_PASSWORD (or the connection's secret)
  probe-marketo
              --connection S   a connection file (its jobs in it or in the FILEs that follow),
                               or the account of a stored connection (its jobs from the config
                               table); credentials from its marketoSecret in Secrets Manager
              --url U          or: the REST base URL, with --client-id ID and the secret in
                               $MARKETO_CLIENT_SECRET (with --connection: its mapping and jobs)
              --job ID         check only this job (repeatable; default every job of the account)
              --daily-quota N  the subscription's daily API quota (default 50000)
              --max-list-pages N  count list members over at most N pages of 300 (default 10)
              --allow-http     permit http:// (simulators only)
              Read-only. One PASS or FAIL line per check; --json prints {"ok", "checks":
              [{name, status, detail}]}; exit 1 on any FAIL.

AWS: the SDK's usual credentials, region and endpoints. AWS_ENDPOINT_URL (or
AWS_ENDPOINT_URL_DYNAMODB, _SQS, _SECRETS_MANAGER, _LAMBDA) points cmctl at
moto_server for local use.

Files (validate, put): JSON (.json) or YAML (.yaml, .yml). A file holds one
object or a list of objects; every object says what it is with a top-level
"kind" field:

  kind: connection     a config.Connection (account, certainBaseURL,
                       certainSecret, marketoSecret, marketoBudget,
                       fieldMapping, certainFields, statuses, ...)
  kind: job            a config.Job (id, account, event, type, name, enabled,
                       schedule, params)
  kind: fieldMapping   {account, fieldMapping: [{certain, marketo}, ...]}:
                       replaces the field mapping of that account's
                       connection (from the same invocation or the table)

A file may instead have the bundle shape {connections: [...], jobs: [...]}
(no kind fields). Field names are matched exactly (case-sensitive); unknown
fields, fields of another job type and type mismatches are errors. Every
error is printed as FILE[ITEM]: KIND "ID": FIELD.PATH: message, and the exit
code is 1. Jobs are checked against their account's connection (status
names) when it is in the same invocation (validate) or in the table (put).
put validates every file first and writes nothing unless all are valid;
then connections are written before jobs.

Exit codes: 0 ok, 1 failure (bad file, failed run, AWS error), 2 usage.
`)
	return b.String()
}

// common holds the flags every command shares.
type common struct {
	json        bool
	configTable string
	stateTable  string
	queueURL    string
	dlqURL      string
}

func newFlags(name string, e Env, c *common) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&c.json, "json", false, "machine-readable output")
	fs.StringVar(&c.configTable, "config-table", e.lookup(EnvConfigTable), "config table")
	fs.StringVar(&c.stateTable, "state-table", e.lookup(EnvStateTable), "state table")
	fs.StringVar(&c.queueURL, "queue-url", e.lookup(EnvQueueURL), "registration-change queue URL")
	fs.StringVar(&c.dlqURL, "dlq-url", e.lookup(EnvDLQURL), "dead-letter queue URL")
	return fs
}

// parse parses flags anywhere among the positional arguments ("run JOB
// --force" as well as "run --force JOB").
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func (c common) needTables() error {
	var missing []string
	if c.configTable == "" {
		missing = append(missing, "--config-table (or "+EnvConfigTable+")")
	}
	if c.stateTable == "" {
		missing = append(missing, "--state-table (or "+EnvStateTable+")")
	}
	if len(missing) > 0 {
		return usagef("no table names: set %s", strings.Join(missing, " and "))
	}
	return nil
}
