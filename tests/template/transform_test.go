package template

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/testkit/external"
)

// samTransform is run by the Python that has aws-sam-translator (installed with cfn-lint).
// CodeUri is swapped for an S3 URI because the translator, unlike sam build, wants one; the
// managed-policy loader returns fixed ARNs so no AWS call is made.
const samTransform = `
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse
class Loader:
    def load(self):
        return {n: "arn:aws:iam::aws:policy/" + n for n in ["AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess", "AWSLambdaSQSQueueExecutionRole"]}
src = open(sys.argv[1]).read().replace("CodeUri: .", "CodeUri: s3://bucket/key.zip")
print(json.dumps(transform(yaml_parse(src), {"Stage": "dev"}, Loader())))
`

// samPython finds a Python that can import samtranslator: python3 on PATH, or the
// interpreter of the cfn-lint script (cfn-lint installs aws-sam-translator beside itself).
func samPython(t *testing.T) string {
	t.Helper()
	external.Skip(t, "a Python with aws-sam-translator (it comes with cfn-lint)")
	var candidates []string
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	if p, err := exec.LookPath("cfn-lint"); err == nil {
		if b, err := os.ReadFile(p); err == nil && strings.HasPrefix(string(b), "#!") {
			line, _, _ := strings.Cut(string(b[2:]), "\n")
			if f := strings.Fields(line); len(f) > 0 && !strings.HasSuffix(f[0], "/env") && !strings.HasSuffix(f[0], "sh") {
				candidates = append(candidates, f[0])
			}
		}
	}
	for _, py := range candidates {
		if exec.Command(py, "-c", "import samtranslator").Run() == nil {
			return py
		}
	}
	t.Fatalf("no Python with aws-sam-translator found (tried %v); it comes with cfn-lint: %s", candidates, external.CfnLintHint)
	return ""
}

// The SAM transform generates roles (the functions', the schedules', the destinations'),
// so the grants it writes are checked too, not only the ones written in template.yaml: no
// wildcard, and no managed policy but basic logging and X-Ray. In particular none gets
// AWSLambdaSQSQueueExecutionRole (receive and delete on every queue of the account, which SAM
// attaches for an SQS event): each function's role receives from its own queue only.
func TestTransformedRolesHaveNoWildcards(t *testing.T) {
	py := samPython(t)
	cmd := exec.Command(py, "-c", samTransform, "template.yaml")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(cmd.Environ(), "AWS_DEFAULT_REGION=us-east-1")
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("SAM transform with %s failed (aws-sam-translator comes with cfn-lint 1.51.0): %v\n%s", py, err, stderr)
	}
	var doc struct {
		Resources map[string]struct {
			Type       string
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("transform output: %v", err)
	}
	roles := 0
	var schedules []string
	for id, r := range doc.Resources {
		switch r.Type {
		case "AWS::IAM::Role":
			roles++
			for _, p := range asSlice(r.Properties["Policies"]) {
				for _, problem := range statementProblems(asMap(asMap(p)["PolicyDocument"])) {
					t.Errorf("generated role %s policy %v: %s", id, asMap(p)["PolicyName"], problem)
				}
			}
			for _, arn := range asSlice(r.Properties["ManagedPolicyArns"]) {
				s, _ := arn.(string)
				name := s[strings.LastIndex(s, "/")+1:]
				switch name {
				case "AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess":
				default:
					t.Errorf("generated role %s attaches managed policy %v", id, arn)
				}
			}
			if fn, ok := strings.CutSuffix(id, "Role"); ok && wantFunctions[fn].queue != "" {
				if got := receivedQueues(r.Properties); fmt.Sprint(got) != "["+wantFunctions[fn].queue+"]" {
					t.Errorf("generated role %s may receive from %v, want only %s", id, got, wantFunctions[fn].queue)
				}
			}
		case "AWS::Scheduler::Schedule":
			schedules = append(schedules, id)
			if r.Properties["Name"] != nil {
				t.Errorf("schedule %s has a fixed Name %v; two stacks would collide", id, r.Properties["Name"])
			}
		}
	}
	sort.Strings(schedules)
	if roles < len(wantFunctions) || len(schedules) != 6 {
		t.Errorf("transform produced %d roles and schedules %v; want >= %d roles and 6 schedules", roles, schedules, len(wantFunctions))
	}
}

// receivedQueues lists the queues (by logical id) a generated role's inline
// policies let it receive from.
func receivedQueues(props map[string]any) []string {
	var out []string
	for _, p := range asSlice(props["Policies"]) {
		doc := asMap(asMap(p)["PolicyDocument"])
		for _, st := range asSlice(doc["Statement"]) {
			sm := asMap(st)
			if !slices.Contains(resourceStrings(sm["Action"]), "sqs:ReceiveMessage") {
				continue
			}
			// SQSPollerPolicy: !Sub ["arn:...:${queueName}", {queueName: !GetAtt Q.QueueName}]
			sub := asSlice(asMap(sm["Resource"])["Fn::Sub"])
			if len(sub) == 2 {
				if q := asSlice(asMap(asMap(sub[1])["queueName"])["Fn::GetAtt"]); len(q) == 2 {
					out = append(out, fmt.Sprint(q[0]))
					continue
				}
			}
			out = append(out, fmt.Sprint(sm["Resource"]))
		}
	}
	sort.Strings(out)
	return out
}
