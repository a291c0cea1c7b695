package templatetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/certain-marketo/certain-marketo/lib/awstest"
	"github.com/certain-marketo/certain-marketo/lib/store/dynamostore"
)

// rieBinary finds aws-lambda-rie: $AWS_LAMBDA_RIE (set by make test), PATH, or .tools/bin.
func rieBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AWS_LAMBDA_RIE"); p != "" {
		return p
	}
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p
	}
	p := filepath.Join(repoRoot(t), ".tools", "bin", "aws-lambda-rie")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	t.Fatal("aws-lambda-rie is not installed; `make tools` (or `make test`) installs the pinned version into .tools/bin")
	return ""
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// buildLocal builds every function for the host, as `make build-local` does, into dir.
func buildLocal(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", dir+string(os.PathSeparator), "./functions/...")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build functions for the host: %v\n%s", err, out)
	}
}

// invokeUnderRIE runs bootstrap under the emulator with env, posts event, and returns the
// response body and the emulator's output (the function's log lines).
func invokeUnderRIE(t *testing.T, rie, bootstrap string, env []string, event []byte) (resp []byte, logs string) {
	t.Helper()
	addr, apiAddr := freeAddr(t), freeAddr(t)
	var out bytes.Buffer
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", apiAddr, bootstrap)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start aws-lambda-rie: %v", err)
	}
	// stop ends the emulator and waits for its output to be copied; only then is out safe
	// to read.
	stopped := false
	stop := func() string {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		return out.String()
	}
	defer stop()
	url := "http://" + addr + "/2015-03-31/functions/function/invocations"
	client := &http.Client{Timeout: 60 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := client.Post(url, "application/json", bytes.NewReader(event))
		if err == nil {
			body, rerr := io.ReadAll(r.Body)
			r.Body.Close()
			if rerr != nil {
				t.Fatalf("read response: %v", rerr)
			}
			time.Sleep(50 * time.Millisecond) // let the emulator flush the function's last log lines
			return body, stop()
		}
		if time.Now().After(deadline) {
			t.Fatalf("aws-lambda-rie did not answer at %s: %v\n%s", addr, err, stop())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Every function's real bootstrap, built for the host, answers its sample events under the
// Runtime Interface Emulator against moto_server with empty tables: the handler contract
// (decode, response shape, JSON logs with a level) without AWS or Docker. Effects with
// seeded jobs are tested where the jobs are (lib/jobs, lib/app, infra/cmctl).
func TestFunctionsAnswerSampleEventsUnderRIE(t *testing.T) {
	rie := rieBinary(t)
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
	bin := t.TempDir()
	buildLocal(t, bin)

	env := append(os.Environ(),
		"STAGE=test", "CONFIG_TABLE="+names.Config, "STATE_TABLE="+names.State,
		"CHANGE_QUEUE_URL="+aws.ToString(q.QueueUrl), "MARKETO_BUDGET_MODE=shared", "DEADLINE_MARGIN=2s",
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
		if fn.sqs {
			samples = append(samples, "sqs-registration-changes.json", "sqs-registration-changes-malformed.json")
		}
		for _, sample := range samples {
			t.Run(id+"/"+sample, func(t *testing.T) {
				resp, logs := invokeUnderRIE(t, rie, filepath.Join(bin, fn.dir), env, read(sample))
				var body map[string]any
				if err := json.Unmarshal(resp, &body); err != nil {
					t.Fatalf("response is not a JSON object: %q\nlogs:\n%s", resp, logs)
				}
				if body["errorType"] != nil {
					t.Fatalf("function failed: %s\nlogs:\n%s", resp, logs)
				}
				printed := checkJSONLogLines(t, logs)
				if !fn.sqs {
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
				want := "[]"
				if strings.Contains(sample, "malformed") {
					want = "[{5f4c1b2e-7a1d-4c1e-9b7a-000000000003}]"
				}
				if got != want {
					t.Errorf("batchItemFailures = %s, want %s (only the malformed message)\nlogs:\n%s", got, want, logs)
				}
			})
		}
	}

	// A direct run of a job that does not exist is a clear error naming the job.
	resp, logs := invokeUnderRIE(t, rie, filepath.Join(bin, "sync-leads"), env, read("direct-run.json"))
	if !strings.Contains(string(resp), "errorMessage") || !strings.Contains(string(resp), "summit-sync") {
		t.Errorf("direct run of an unknown job = %s, want an error naming summit-sync\nlogs:\n%s", resp, logs)
	}
}

// emulatorLine reports whether a line of the emulator's output is its own (START, END,
// REPORT, "(rapid)" diagnostics) rather than something the function printed.
func emulatorLine(line string) bool {
	for _, p := range []string{"START RequestId:", "END RequestId:", "REPORT RequestId:"} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return strings.Contains(line, "(rapid)")
}

// checkJSONLogLines asserts that every line the function printed is one JSON object with a
// level, so Lambda's level filter and Logs Insights understand it. It returns how many
// lines the function printed.
func checkJSONLogLines(t *testing.T, logs string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(logs, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || emulatorLine(line) {
			continue
		}
		n++
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("the function printed a line that is not one JSON object: %q", line)
			continue
		}
		if _, ok := m["level"]; !ok {
			t.Errorf("log line without level (Lambda counts it as INFO): %q", line)
		}
	}
	return n
}
