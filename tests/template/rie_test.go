package template

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/certain-marketo/certain-marketo/lib/store/dynamostore"
	"github.com/certain-marketo/certain-marketo/lib/testkit/awstest"
	"github.com/certain-marketo/certain-marketo/lib/testkit/rie"
)

// The emulator helpers live in package rie so the end-to-end tests drive the
// emulator the same way; these names keep this package's tests unchanged.
func rieBinary(t *testing.T) string                   { return rie.Binary(t) }
func buildLocal(t *testing.T, dir string)             { rie.BuildLocal(t, dir) }
func checkJSONLogLines(t *testing.T, logs string) int { return rie.CheckJSONLogLines(t, logs) }

// invokeUnderRIE runs bootstrap under the emulator with env, posts event, and returns the
// response body and the emulator's output (the function's log lines).
func invokeUnderRIE(t *testing.T, rieBin, bootstrap string, env []string, event []byte) (resp []byte, logs string) {
	t.Helper()
	return rie.Invoke(t, rieBin, bootstrap, env, event)
}

// Every function's real bootstrap, built for the host, answers its sample events under the
// Runtime Interface Emulator against moto_server with empty tables: the handler contract
// (decode, response shape, JSON logs with a level) without AWS or Docker. Effects with
// seeded jobs are tested where the jobs are (lib/jobs, lib/app, infra/cmctl) and, under the
// emulator too, in tests/e2e.
func TestFunctionsAnswerSampleEventsUnderRIE(t *testing.T) {
	rieBin := rieBinary(t)
	moto := awstest.StartMoto(t)
	cfg := moto.Config(t)
	names := dynamostore.TableNames{Config: "rie-config", State: "rie-state"}
	ctx := context.Background()
	if err := awstest.CreateTables(ctx, cfg, names); err != nil {
		t.Fatalf("create tables: %v", err)
	}
	q, err := sqs.NewFromConfig(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("rie-changes")})
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	wq, err := sqs.NewFromConfig(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("rie-work")})
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	bin := t.TempDir()
	buildLocal(t, bin)

	env := append(os.Environ(),
		"STAGE=test", "CONFIG_TABLE="+names.Config, "STATE_TABLE="+names.State,
		"CHANGE_QUEUE_URL="+aws.ToString(q.QueueUrl), "WORK_QUEUE_URL="+aws.ToString(wq.QueueUrl),
		"MARKETO_BUDGET_MODE=shared", "DEADLINE_MARGIN=2s",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=30", "AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_LOG_LEVEL=DEBUG",
	)
	root := repoRoot(t)
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(root, "events", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	for id, fn := range wantFunctions {
		var samples []string
		for _, jt := range fn.jobTypes {
			samples = append(samples, "schedule-tick-"+jt+".json")
		}
		samples = append(samples, fn.samples...)
		for _, sample := range samples {
			t.Run(id+"/"+sample, func(t *testing.T) {
				resp, logs := invokeUnderRIE(t, rieBin, filepath.Join(bin, fn.dir), env, read(sample))
				var body map[string]any
				if err := json.Unmarshal(resp, &body); err != nil {
					t.Fatalf("response is not a JSON object: %q\nlogs:\n%s", resp, logs)
				}
				if body["errorType"] != nil {
					t.Fatalf("function failed: %s\nlogs:\n%s", resp, logs)
				}
				printed := checkJSONLogLines(t, logs)
				if !strings.HasPrefix(sample, "sqs-") {
					return
				}
				if strings.Contains(sample, "malformed") && printed == 0 {
					t.Errorf("a malformed message was reported without a logged reason:\n%s", logs)
				}
				var failures struct {
					BatchItemFailures []struct {
						ItemIdentifier string `json:"itemIdentifier"`
					} `json:"batchItemFailures"`
				}
				if err := json.Unmarshal(resp, &failures); err != nil {
					t.Fatal(err)
				}
				got := fmt.Sprint(failures.BatchItemFailures)
				want := map[string]string{
					"sqs-registration-changes-malformed.json": "[{5f4c1b2e-7a1d-4c1e-9b7a-000000000003}]",
					"sqs-run-job-malformed.json":              "[{7c1d9e40-2b6a-4f0e-8d3c-000000000002}]",
					"sqs-detector-scopes-malformed.json":      "[{7c1d9e40-2b6a-4f0e-8d3c-000000000013}]",
				}[sample]
				if want == "" {
					want = "[]"
				}
				if got != want {
					t.Errorf("batchItemFailures = %s, want %s (only the malformed message)\nlogs:\n%s", got, want, logs)
				}
			})
		}
	}

	// A direct run of a job that does not exist is a clear error naming the
	// job (nothing is queued for it).
	resp, logs := invokeUnderRIE(t, rieBin, filepath.Join(bin, "sync-leads"), env, read("direct-run.json"))
	if !strings.Contains(string(resp), "errorMessage") || !strings.Contains(string(resp), "summit-sync") {
		t.Errorf("direct run of an unknown job = %s, want an error naming summit-sync\nlogs:\n%s", resp, logs)
	}
}
