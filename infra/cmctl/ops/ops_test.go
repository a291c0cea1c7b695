package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/certain-marketo/certain-marketo/infra/progress"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

type result struct {
	stdout, stderr string
	code           int
}

// cmctl runs one invocation with the given environment variables.
func cmctl(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, Env{Stdout: &out, Stderr: &errb, Lookup: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}})
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// cmctlProgress is cmctl with plain progress lines every `every`.
func cmctlProgress(t *testing.T, env map[string]string, every time.Duration, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, Env{Stdout: &out, Stderr: &errb, Lookup: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}, Progress: progress.Options{Mode: progress.Plain, Every: every}})
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

func chdir(t *testing.T, dir string) {
	t.Helper()
	t.Chdir(dir)
}

func TestValidateGoodFiles(t *testing.T) {
	chdir(t, "testdata")
	r := cmctl(t, nil, "validate", "good-connection.yaml", "good-mapping.json", "good-jobs.json", "good-bundle.yml")
	if r.code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"good-connection.yaml  connection    ACME",
		"good-mapping.json     fieldMapping  ACME",
		"good-jobs.json[0]     job           hs26-sync",
		"good-jobs.json[1]     job           hs26-import",
		"good-bundle.yml[0]    job           hs26-interest",
		"5 object(s) in 4 file(s): valid",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestValidateBadFilesExactMessages(t *testing.T) {
	chdir(t, "testdata")
	r := cmctl(t, nil, "validate", "good-connection.yaml", "bad-jobs.json", "bad-mapping.yaml", "bad-syntax.json")
	if r.code != ExitFailure {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	want := `bad-jobs.json[0]: job "typo": params.listID: unknown field (did you mean "listId"?)
bad-jobs.json[1]: job "wrong-param": params.listId: not used by job type "sync-leads"
bad-jobs.json[2]: job "no-status": params.statuses: at least one status required
bad-jobs.json[3]: job "unknown-status": params.statuses[0]: unknown registration status "Atended" for account "ACME"
bad-jobs.json[4]: job "bad-types": enabled: want true or false, got the string "yes"
bad-jobs.json[4]: job "bad-types": schedule.interval: duration "15 minutes": time: unknown unit " minutes" in duration "15 minutes"
bad-jobs.json[5]: kind: required: connection, job or fieldMapping
bad-mapping.yaml: fieldMapping "ACME": fieldMapping[1].certain: required
bad-mapping.yaml: fieldMapping "ACME": fieldMapping[1].marketo: Marketo field "Email" is already mapped by fieldMapping[0]
bad-syntax.json: malformed JSON at line 2, column 15: invalid character '}' looking for beginning of value
10 error(s)
`
	if r.stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
	if r.stdout != "" {
		t.Errorf("stdout should be empty on errors, got:\n%s", r.stdout)
	}
}

func TestValidateJSONOutput(t *testing.T) {
	chdir(t, "testdata")
	r := cmctl(t, nil, "validate", "--json", "bad-mapping.yaml")
	if r.code != ExitFailure {
		t.Fatalf("exit %d", r.code)
	}
	var got validateJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	if got.OK || len(got.Problems) != 2 || got.Problems[0] != (Problem{File: "bad-mapping.yaml", Item: -1, Kind: KindFieldMapping, ID: "ACME", Field: "fieldMapping[1].certain", Message: "required"}) {
		t.Errorf("got %+v", got)
	}
}

func TestValidateCases(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	conn := `{"kind":"connection","account":"ACME","certainBaseURL":"https://c.example","certainSecret":"s1","marketoSecret":"s2"}`
	cases := []struct {
		name, file, body, want string
	}{
		{"duplicate job across a list", "dup.json",
			`[{"kind":"job","id":"a","account":"ACME","event":"E","type":"sync-leads","name":"n","enabled":true,"schedule":{"interval":"1h"},"params":{"statuses":["Attended"]}},
			  {"kind":"job","id":"a","account":"ACME","event":"E","type":"sync-leads","name":"n","enabled":true,"schedule":{"interval":"1h"},"params":{"statuses":["Attended"]}}]`,
			`dup.json[1]: job "a": id: duplicate job, also in ` + filepath.Join(dir, "dup.json") + `[0]`},
		{"unknown kind", "k.yaml", "kind: Job\nid: a\n", `k.yaml: kind: must be connection, job or fieldMapping, got the string "Job"`},
		{"mapping next to a connection mapping", "m.json",
			`[` + strings.Replace(conn, `"marketoSecret":"s2"`, `"marketoSecret":"s2","fieldMapping":[{"certain":"email","marketo":"email"}]`, 1) + `,
			  {"kind":"fieldMapping","account":"ACME","fieldMapping":[{"certain":"email","marketo":"email"}]}]`,
			`m.json[1]: fieldMapping "ACME": fieldMapping: the connection in ` + filepath.Join(dir, "m.json") + `[0] has a fieldMapping too; give it in one place`},
		{"wrong type of list id", "t.json",
			`{"kind":"job","id":"i","account":"ACME","event":"E","type":"import-leads","name":"n","enabled":true,"schedule":{"interval":"1h"},"params":{"listId":"12","registrationStatus":"Attended"}}`,
			`t.json: job "i": params.listId: want a whole number, got the string "12"`},
		{"unknown file type", "x.txt", "{}", `x.txt: unknown file type ".txt": use .json, .yaml or .yml`},
		{"connection field", "c.json", strings.Replace(conn, `https://c.example`, `ftp://c.example`, 1),
			`c.json: connection "ACME": certainBaseURL: scheme must be https (http only with allowHTTP), got "ftp"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := write(tc.file, tc.body)
			r := cmctl(t, nil, "validate", p)
			if r.code != ExitFailure {
				t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
			}
			want := filepath.Join(dir, tc.want)
			if first := strings.SplitN(r.stderr, "\n", 2)[0]; first != want {
				t.Errorf("got  %s\nwant %s", first, want)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "cmctl: no command given"},
		{[]string{"frobnicate"}, `cmctl: unknown command "frobnicate"`},
		{[]string{"validate"}, "cmctl validate: no files given"},
		{[]string{"run", "job-1"}, "cmctl run: say where to run: --function NAME (the deployed Lambda) or --in-process"},
		{[]string{"run", "job-1", "--function", "f", "--in-process"}, "cmctl run: give --function or --in-process, not both"},
		{[]string{"list-jobs"}, "cmctl list-jobs: no table names: set --config-table (or CONFIG_TABLE) and --state-table (or STATE_TABLE)"},
		{[]string{"failures", "r1", "--outcome", "created", "--config-table", "c", "--state-table", "s"}, `cmctl failures: --outcome "created": want failed or skipped`},
		{[]string{"redrive-dlq", "--queue-url", "q"}, "cmctl redrive-dlq: no DLQ: set --dlq-url or CHANGE_DLQ_URL"},
		{[]string{"put-secret", "name"}, "cmctl put-secret: --file is required (the value is never taken from the command line)"},
		{[]string{"runs", "j", "--bogus"}, "cmctl runs: flag provided but not defined: -bogus"},
	} {
		r := cmctl(t, nil, tc.args...)
		if r.code != ExitUsage {
			t.Errorf("%v: exit %d, want 2", tc.args, r.code)
		}
		if first := strings.SplitN(r.stderr, "\n", 2)[0]; first != tc.want {
			t.Errorf("%v: got %q, want %q", tc.args, first, tc.want)
		}
	}
	r := cmctl(t, nil, "help")
	if r.code != ExitOK || !strings.Contains(r.stdout, `"kind" field`) || !strings.Contains(r.stdout, "redrive-dlq") {
		t.Errorf("help: exit %d\n%s", r.code, r.stdout)
	}
}

// fakeLambda records the invocation and answers with a canned payload.
type fakeLambda struct {
	in      *lambda.InvokeInput
	retries int
	out     *lambda.InvokeOutput
}

func (f *fakeLambda) Invoke(_ context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	f.in = in
	var o lambda.Options
	o.RetryMaxAttempts = 3
	for _, fn := range optFns {
		fn(&o)
	}
	f.retries = o.RetryMaxAttempts
	return f.out, nil
}

func TestInvokeFunction(t *testing.T) {
	f := &fakeLambda{out: &lambda.InvokeOutput{StatusCode: 200, Payload: []byte(
		`{"run":{"runId":"r-1","jobId":"hs26-sync","outcome":"partial","counts":{"created":3,"failed":1},"marketoCalls":4,"certainCalls":2}}`)}}
	var out bytes.Buffer
	err := invokeFunction(context.Background(), Env{Stdout: &out}, common{}, f, "cm-dev-sync-leads", "hs26-sync", true, runWait{})
	if err != nil {
		t.Fatal(err)
	}
	if string(f.in.Payload) != `{"jobId":"hs26-sync","force":true}` || aws.ToString(f.in.FunctionName) != "cm-dev-sync-leads" || f.retries != 1 {
		t.Errorf("invoke input: payload %s, function %s, retries %d", f.in.Payload, aws.ToString(f.in.FunctionName), f.retries)
	}
	for _, want := range []string{"run r-1 of job hs26-sync: partial", "created=3 failed=1", "Marketo calls: 4", "cmctl failures r-1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	f.out = &lambda.InvokeOutput{StatusCode: 200, FunctionError: aws.String("Unhandled"),
		Payload: []byte(`{"errorMessage":"run job \"nope\": job \"nope\": not found","errorType":"wrapError"}`)}
	err = invokeFunction(context.Background(), Env{Stdout: &out}, common{}, f, "fn", "nope", false, runWait{})
	if err == nil || err.Error() != `function fn failed (Unhandled): run job "nope": job "nope": not found` {
		t.Errorf("function error: %v", err)
	}
}

// runsSeen answers GetRun with the runs in order (an empty one: not found
// yet), then the last one again.
type runsSeen struct {
	seq   []store.Run
	calls int
}

func (r *runsSeen) GetRun(_ context.Context, id string) (store.Run, error) {
	r.calls++
	run := r.seq[min(r.calls, len(r.seq))-1]
	if run.ID == "" {
		return store.Run{}, fmt.Errorf("run %q: %w", id, store.ErrNotFound)
	}
	return run, nil
}

// A deployed function queues the run and answers its id: cmctl waits for
// that run record (not there yet, then running, then finished) and prints
// it; with --no-wait it prints the id; a run that does not finish in time
// is an error naming it.
func TestInvokeFunctionWaitsForTheQueuedRun(t *testing.T) {
	queued := `{"queued":{"version":1,"jobId":"hs26-sync","kind":"direct","due":"2026-04-01T08:00:00Z","runId":"20260401T080000Z-1a2b3c4d"}}`
	f := &fakeLambda{out: &lambda.InvokeOutput{StatusCode: 200, Payload: []byte(queued)}}
	runs := &runsSeen{seq: []store.Run{{}, {ID: "20260401T080000Z-1a2b3c4d", Outcome: store.RunRunning},
		{ID: "20260401T080000Z-1a2b3c4d", JobID: "hs26-sync", Outcome: store.RunSucceeded, Counts: map[string]int{"updated": 7}, MarketoCalls: 2}}}
	noSleep := func(context.Context, time.Duration) error { return nil }
	var out, errOut bytes.Buffer
	err := invokeFunction(context.Background(), Env{Stdout: &out, Stderr: &errOut}, common{}, f, "fn", "hs26-sync", false,
		runWait{runs: runs, timeout: time.Minute, poll: time.Second, sleep: noSleep})
	if err != nil || runs.calls != 3 {
		t.Fatalf("wait: %v after %d reads, want the finished run on the third", err, runs.calls)
	}
	for _, want := range []string{"run 20260401T080000Z-1a2b3c4d of job hs26-sync: succeeded", "updated=7", "Marketo calls: 2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(errOut.String(), "queued run 20260401T080000Z-1a2b3c4d") {
		t.Errorf("stderr %q does not say the run was queued", errOut.String())
	}

	out.Reset()
	if err := invokeFunction(context.Background(), Env{Stdout: &out}, common{}, f, "fn", "hs26-sync", false, runWait{}); err != nil ||
		!strings.Contains(out.String(), "queued run 20260401T080000Z-1a2b3c4d of job hs26-sync") || !strings.Contains(out.String(), "cmctl runs hs26-sync") {
		t.Errorf("--no-wait: %v\n%s", err, out.String())
	}

	stuck := &runsSeen{seq: []store.Run{{ID: "20260401T080000Z-1a2b3c4d", Outcome: store.RunRunning}}}
	err = invokeFunction(context.Background(), Env{Stdout: &out}, common{}, f, "fn", "hs26-sync", false,
		runWait{runs: stuck, timeout: 30 * time.Millisecond, poll: 10 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "still running") || !strings.Contains(err.Error(), "cmctl runs hs26-sync") {
		t.Errorf("a run that does not finish: %v", err)
	}
}

// A malformed or out-of-range params.verifyIdsEvery is named with its job.
func TestValidateVerifyIDsEvery(t *testing.T) {
	dir := t.TempDir()
	conn, err := os.ReadFile(filepath.Join("testdata", "good-connection.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	job := func(id, every string) string {
		return `{"kind": "job", "id": "` + id + `", "account": "ACME", "event": "HS26", "type": "sync-leads", "name": "x",
   "enabled": true, "schedule": {"interval": "15m"}, "params": {"statuses": ["Attended"], "verifyIdsEvery": ` + every + `}}`
	}
	jobs := "[" + job("day", `"1 day"`) + ",\n" + job("month", `"1000h"`) + ",\n" + job("never", `"-1h"`) + ",\n" + job("ok", `"6h"`) + "]\n"
	for name, data := range map[string]string{"connection.yaml": string(conn), "jobs.json": jobs} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	chdir(t, dir)
	r := cmctl(t, nil, "validate", "connection.yaml", "jobs.json")
	want := `jobs.json[0]: job "day": params.verifyIdsEvery: duration "1 day": time: unknown unit " day" in duration "1 day"
jobs.json[1]: job "month": params.verifyIdsEvery: must be between 0s (every run) and 720h, got 1000h
jobs.json[2]: job "never": params.verifyIdsEvery: must be between 0s (every run) and 720h, got -1h
3 error(s)
`
	if r.code != ExitFailure || r.stderr != want {
		t.Errorf("exit %d, stderr:\n%s\nwant:\n%s", r.code, r.stderr, want)
	}
}
