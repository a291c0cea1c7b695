package template

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/testkit/external"
)

type wantFunction struct {
	dir      string
	jobTypes []string // ScheduleV2 job types; nil for trigger-campaign
	queue    string   // the queue its event source mapping consumes
	batch    int      // the mapping's BatchSize
	// samples are the SQS sample events in events/ for its queue, the
	// malformed one last.
	samples []string
}

// The six functions and what triggers them (docs/architecture.md §1): every
// one consumes a queue of its own; the job functions and the detector are
// also ticked by a schedule, which queues their work there.
var wantFunctions = map[string]wantFunction{
	"ImportLeadsFunction": {dir: "import-leads", jobTypes: []string{"import-leads", "import-profiles"},
		queue: "ImportLeadsWorkQueue", batch: 1, samples: runSamples},
	"TriggerCampaignFunction": {dir: "trigger-campaign", queue: "RegistrationChangeQueue", batch: 100,
		samples: []string{"sqs-registration-changes.json", "sqs-registration-changes-malformed.json"}},
	"SyncLeadsFunction": {dir: "sync-leads", jobTypes: []string{"sync-leads"},
		queue: "SyncLeadsWorkQueue", batch: 1, samples: runSamples},
	"EngagementMetricsFunction": {dir: "engagement-metrics", jobTypes: []string{"engagement-metrics"},
		queue: "EngagementMetricsWorkQueue", batch: 1, samples: runSamples},
	"InterestMetricsFunction": {dir: "interest-metrics", jobTypes: []string{"interest-metrics"},
		queue: "InterestMetricsWorkQueue", batch: 1, samples: runSamples},
	"RegistrationChangesFunction": {dir: "registration-changes", jobTypes: []string{"registration-changes"},
		queue: "DetectorWorkQueue", batch: jobs.ScopeBatch, samples: []string{"sqs-detector-scopes.json", "sqs-detector-scopes-malformed.json"}},
}

var runSamples = []string{"sqs-run-job.json", "sqs-run-job-malformed.json"}

func TestFunctionsAreArm64ProvidedBuiltByMakefile(t *testing.T) {
	tp := loadTemplate(t)
	ids := tp.functionIDs()
	sort.Strings(ids)
	var want []string
	for id := range wantFunctions {
		want = append(want, id)
	}
	sort.Strings(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("functions in template = %v, want %v", ids, want)
	}
	for _, id := range ids {
		r := tp.resource(t, id)
		if got := tp.fnProp(id, "Runtime"); got != "provided.al2023" {
			t.Errorf("%s Runtime = %v, want provided.al2023", id, got)
		}
		if got := fmt.Sprint(tp.fnProp(id, "Architectures")); got != "[arm64]" {
			t.Errorf("%s Architectures = %v, want [arm64]", id, got)
		}
		if got := tp.fnProp(id, "Handler"); got != "bootstrap" {
			t.Errorf("%s Handler = %v, want bootstrap", id, got)
		}
		if got := asMap(r["Metadata"])["BuildMethod"]; got != "makefile" {
			t.Errorf("%s Metadata.BuildMethod = %v, want makefile", id, got)
		}
		if got := tp.fnProp(id, "CodeUri"); got != "." {
			t.Errorf("%s CodeUri = %v, want . (one root go.mod)", id, got)
		}
		if got := tp.fnProp(id, "Tracing"); got != "Active" {
			t.Errorf("%s Tracing = %v, want Active", id, got)
		}
		if got := asMap(tp.fnProp(id, "LoggingConfig"))["LogFormat"]; got != "JSON" {
			t.Errorf("%s LoggingConfig.LogFormat = %v, want JSON", id, got)
		}
		main := filepath.Join(repoRoot(t), "functions", wantFunctions[id].dir, "main.go")
		if _, err := os.Stat(main); err != nil {
			t.Errorf("%s: source %s: %v", id, main, err)
		}
	}
}

func TestEveryFunctionHasALogGroupWithRetention(t *testing.T) {
	tp := loadTemplate(t)
	covered := map[string]bool{}
	for id, r := range tp.resources() {
		rm := asMap(r)
		if rm["Type"] != "AWS::Logs::LogGroup" {
			continue
		}
		p := asMap(rm["Properties"])
		if p["RetentionInDays"] == nil {
			t.Errorf("log group %s has no RetentionInDays", id)
		}
		sub, _ := asMap(p["LogGroupName"])["Fn::Sub"].(string)
		for fn := range wantFunctions {
			if sub == "/aws/lambda/${"+fn+"}" {
				covered[fn] = true
			}
		}
	}
	for fn := range wantFunctions {
		if !covered[fn] {
			t.Errorf("%s has no AWS::Logs::LogGroup named /aws/lambda/${%s}", fn, fn)
		}
	}
}

// The Makefile must answer the build-<LogicalId> target sam build calls, writing
// $(ARTIFACTS_DIR)/bootstrap for the right source directory with the Lambda flags.
func TestMakefileHasBuildTargetPerFunction(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is not installed; the build needs it")
	}
	root := repoRoot(t)
	art := t.TempDir()
	for id, fn := range wantFunctions {
		cmd := exec.Command("make", "--no-print-directory", "-n", "build-"+id, "ARTIFACTS_DIR="+art)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("make -n build-%s: %v\n%s", id, err, out)
			continue
		}
		s := string(out)
		for _, want := range []string{
			"-o " + art + "/bootstrap", "./functions/" + fn.dir, "GOARCH=arm64", "GOOS=linux",
			"CGO_ENABLED=0", "-tags lambda.norpc", "-trimpath", `-ldflags="-s -w"`,
		} {
			if !strings.Contains(s, want) {
				t.Errorf("make -n build-%s lacks %q:\n%s", id, want, s)
			}
		}
	}
	cmd := exec.Command("make", "-n", "build-NoSuchFunction", "ARTIFACTS_DIR="+art)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("make build-NoSuchFunction succeeded; an unknown logical id must fail:\n%s", out)
	}
}

// mappings returns the template's event source mappings by function id.
func (tp template) mappings(t *testing.T) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for id, r := range tp.ofType("AWS::Lambda::EventSourceMapping") {
		p := asMap(r["Properties"])
		fn, _ := asMap(p["FunctionName"])["Ref"].(string)
		if _, ok := wantFunctions[fn]; !ok {
			t.Errorf("event source mapping %s: FunctionName %v is not !Ref of one of the functions", id, p["FunctionName"])
			continue
		}
		out[fn] = append(out[fn], p)
	}
	return out
}

// Every function consumes exactly its own queue through an
// AWS::Lambda::EventSourceMapping (never a SAM SQS event, for which SAM
// attaches AWSLambdaSQSQueueExecutionRole: every queue of the account), with
// partial batch responses, a bounded concurrency, and the queue rules.
func TestEventSourceMappingsAndQueueRules(t *testing.T) {
	tp := loadTemplate(t)
	params := asMap(tp.raw["Parameters"])
	maps := tp.mappings(t)
	for id, fn := range wantFunctions {
		for name, ev := range asMap(asMap(tp.resource(t, id)["Properties"])["Events"]) {
			if asMap(ev)["Type"] == "SQS" {
				t.Errorf("%s.%s is a SAM SQS event: SAM would attach AWSLambdaSQSQueueExecutionRole (every queue of the account); declare an AWS::Lambda::EventSourceMapping", id, name)
			}
		}
		timeout, ok := number(tp.fnProp(id, "Timeout"))
		if !ok {
			t.Fatalf("%s Timeout %v is not a number", id, tp.fnProp(id, "Timeout"))
		}
		if len(maps[id]) != 1 {
			t.Errorf("%s has %d event source mappings, want 1 (its queue %s)", id, len(maps[id]), fn.queue)
			continue
		}
		p := maps[id][0]
		if ga := asSlice(asMap(p["EventSourceArn"])["Fn::GetAtt"]); len(ga) != 2 || ga[0] != fn.queue || ga[1] != "Arn" {
			t.Errorf("%s consumes %v, want !GetAtt %s.Arn", id, p["EventSourceArn"], fn.queue)
			continue
		}
		if !slices.Contains(asSlice(p["FunctionResponseTypes"]), any("ReportBatchItemFailures")) {
			t.Errorf("%s's mapping: FunctionResponseTypes lacks ReportBatchItemFailures (returned failures would be ignored)", id)
		}
		if n, _ := number(p["BatchSize"]); n != fn.batch {
			t.Errorf("%s's mapping: BatchSize %v, want %d", id, p["BatchSize"], fn.batch)
		}
		window, _ := number(p["MaximumBatchingWindowInSeconds"])
		ref, _ := asMap(asMap(p["ScalingConfig"])["MaximumConcurrency"])["Ref"].(string)
		if min, ok := number(asMap(params[ref])["MinValue"]); ref == "" || !ok || min < 2 {
			t.Errorf("%s's mapping: MaximumConcurrency %v, want !Ref a parameter with MinValue >= 2", id, asMap(p["ScalingConfig"])["MaximumConcurrency"])
		}
		q := asMap(tp.resource(t, fn.queue)["Properties"])
		vis, _ := number(q["VisibilityTimeout"])
		if min := 6*timeout + window; vis < min {
			t.Errorf("%s VisibilityTimeout = %d, want >= 6 x %s Timeout %d + window %d = %d", fn.queue, vis, id, timeout, window, min)
		}
		rp := asMap(q["RedrivePolicy"])
		if n, ok := number(rp["maxReceiveCount"]); !ok || n < 5 {
			t.Errorf("%s RedrivePolicy.maxReceiveCount = %v, want >= 5", fn.queue, rp["maxReceiveCount"])
		}
		dlq := asSlice(asMap(rp["deadLetterTargetArn"])["Fn::GetAtt"])
		if len(dlq) != 2 {
			t.Errorf("%s has no dead-letter queue of this stack: %v", fn.queue, rp)
			continue
		}
		ret, _ := number(asMap(tp.resource(t, dlq[0].(string))["Properties"])["MessageRetentionPeriod"])
		if ret != 1209600 {
			t.Errorf("DLQ %s MessageRetentionPeriod = %d, want 1209600 (14 days)", dlq[0], ret)
		}
		if q["SqsManagedSseEnabled"] != true {
			t.Errorf("%s is not encrypted at rest (SqsManagedSseEnabled)", fn.queue)
		}
	}
	if n := len(tp.ofType("AWS::Lambda::EventSourceMapping")); n != len(wantFunctions) {
		t.Errorf("%d event source mappings, want %d (one per function)", n, len(wantFunctions))
	}
}

// A function whose schedule queues its work reads that queue's URL from
// WORK_QUEUE_URL, which must be the queue its mapping consumes.
func TestWorkQueueURLIsTheConsumedQueue(t *testing.T) {
	tp := loadTemplate(t)
	for id, fn := range wantFunctions {
		got := asMap(tp.envVars(id)["WORK_QUEUE_URL"])["Ref"]
		switch {
		case len(fn.jobTypes) == 0 && got != nil:
			t.Errorf("%s WORK_QUEUE_URL = %v; trigger-campaign has no work queue", id, got)
		case len(fn.jobTypes) > 0 && got != fn.queue:
			t.Errorf("%s WORK_QUEUE_URL = !Ref %v, want !Ref %s (the queue it consumes)", id, got, fn.queue)
		}
	}
}

// Reserved concurrency never below the mapping's MaximumConcurrency
// (throttled SQS invocations are retried and cost receives), nor below it
// plus one for a function its schedule also invokes; none is the default
// here (the mapping bounds the consumers).
func TestReservedConcurrencyNotBelowMaximumConcurrency(t *testing.T) {
	tp := loadTemplate(t)
	params := asMap(tp.raw["Parameters"])
	maps := tp.mappings(t)
	for id, fn := range wantFunctions {
		rc := tp.fnProp(id, "ReservedConcurrentExecutions")
		if rc == nil || len(maps[id]) == 0 {
			continue
		}
		reserved, ok := number(rc)
		if ref, isRef := asMap(rc)["Ref"].(string); isRef {
			reserved, ok = number(asMap(params[ref])["MinValue"])
		}
		mc := asMap(asMap(maps[id][0]["ScalingConfig"])["MaximumConcurrency"])
		max, _ := number(asMap(params[fmt.Sprint(mc["Ref"])])["MaxValue"])
		need := max
		if len(fn.jobTypes) > 0 {
			need++
		}
		if !ok || reserved < need {
			t.Errorf("%s ReservedConcurrentExecutions %v can be below its mapping's MaximumConcurrency (up to %d) plus its tick: want none or >= %d", id, rc, max, need)
		}
	}
}

func TestScheduleV2Events(t *testing.T) {
	tp := loadTemplate(t)
	root := repoRoot(t)
	for id, fn := range wantFunctions {
		var types []string
		props := asMap(tp.resource(t, id)["Properties"])
		for name, ev := range asMap(props["Events"]) {
			evm := asMap(ev)
			if evm["Type"] == "Schedule" {
				t.Errorf("%s.%s uses Schedule (EventBridge rules); use ScheduleV2", id, name)
			}
			if evm["Type"] != "ScheduleV2" {
				continue
			}
			p := asMap(evm["Properties"])
			if p["OmitName"] != true {
				t.Errorf("%s.%s: OmitName = %v, want true (otherwise a second stack collides)", id, name, p["OmitName"])
			}
			if p["DeadLetterConfig"] == nil || p["RetryPolicy"] == nil {
				t.Errorf("%s.%s: want both RetryPolicy and DeadLetterConfig", id, name)
			}
			in, _ := p["Input"].(string)
			var tick map[string]any
			if err := json.Unmarshal([]byte(in), &tick); err != nil {
				t.Errorf("%s.%s: Input %q is not JSON: %v", id, name, in, err)
				continue
			}
			if tick["scheduledTime"] != "<aws.scheduler.scheduled-time>" || len(tick) != 2 {
				t.Errorf("%s.%s: Input %q, want exactly jobType and scheduledTime=<aws.scheduler.scheduled-time>", id, name, in)
			}
			jt, _ := tick["jobType"].(string)
			types = append(types, jt)

			// The sample event for this tick must exist and carry the same job type.
			b, err := os.ReadFile(filepath.Join(root, "events", "schedule-tick-"+jt+".json"))
			if err != nil {
				t.Errorf("%s.%s: sample event: %v", id, name, err)
				continue
			}
			var sample map[string]any
			if err := json.Unmarshal(b, &sample); err != nil || sample["jobType"] != jt || sample["scheduledTime"] == nil {
				t.Errorf("events/schedule-tick-%s.json = %s (err %v), want jobType %q and a scheduledTime", jt, b, err, jt)
			}
		}
		sort.Strings(types)
		want := slices.Clone(fn.jobTypes)
		sort.Strings(want)
		if !slices.Equal(types, want) {
			t.Errorf("%s schedule job types = %v, want %v", id, types, want)
		}
		if len(want) > 0 {
			eic := asMap(tp.fnProp(id, "EventInvokeConfig"))
			if n, ok := number(eic["MaximumRetryAttempts"]); !ok || n != 0 {
				t.Errorf("%s EventInvokeConfig.MaximumRetryAttempts = %v, want 0 (Scheduler retries; async retries would stack)", id, eic["MaximumRetryAttempts"])
			}
			if asMap(asMap(eic["DestinationConfig"])["OnFailure"]) == nil {
				t.Errorf("%s has no OnFailure destination for failed async invocations", id)
			}
		}
	}
}

func TestTables(t *testing.T) {
	tp := loadTemplate(t)
	for _, id := range []string{"ConfigTable", "StateTable"} {
		r := tp.resource(t, id)
		if r["Type"] != "AWS::DynamoDB::Table" {
			t.Errorf("%s Type = %v, want AWS::DynamoDB::Table", id, r["Type"])
		}
		p := asMap(r["Properties"])
		if got := fmt.Sprint(p["KeySchema"]); got != "[map[AttributeName:pk KeyType:HASH] map[AttributeName:sk KeyType:RANGE]]" {
			t.Errorf("%s KeySchema = %s, want pk HASH + sk RANGE", id, got)
		}
		if got := fmt.Sprint(p["AttributeDefinitions"]); got != "[map[AttributeName:pk AttributeType:S] map[AttributeName:sk AttributeType:S]]" {
			t.Errorf("%s AttributeDefinitions = %s, want pk S and sk S only", id, got)
		}
		if p["BillingMode"] != "PAY_PER_REQUEST" {
			t.Errorf("%s BillingMode = %v", id, p["BillingMode"])
		}
		if asMap(p["PointInTimeRecoverySpecification"])["PointInTimeRecoveryEnabled"] != true {
			t.Errorf("%s: point-in-time recovery is off", id)
		}
		if asMap(p["SSESpecification"])["SSEEnabled"] != true {
			t.Errorf("%s: SSE is off", id)
		}
		if p["GlobalSecondaryIndexes"] != nil || p["LocalSecondaryIndexes"] != nil {
			t.Errorf("%s has secondary indexes; the store uses none", id)
		}
	}
	ttl := asMap(asMap(tp.resource(t, "StateTable")["Properties"])["TimeToLiveSpecification"])
	if ttl["AttributeName"] != "expiresAt" || ttl["Enabled"] != true {
		t.Errorf("StateTable TTL = %v, want expiresAt enabled", ttl)
	}
	cfg := tp.resource(t, "ConfigTable")
	if cfg["DeletionPolicy"] != "Retain" || cfg["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("ConfigTable DeletionPolicy/UpdateReplacePolicy = %v/%v, want Retain", cfg["DeletionPolicy"], cfg["UpdateReplacePolicy"])
	}
	dp := asSlice(asMap(asMap(cfg["Properties"])["DeletionProtectionEnabled"])["Fn::If"])
	if len(dp) != 3 || dp[0] != "IsProd" || dp[1] != true {
		t.Errorf("ConfigTable DeletionProtectionEnabled = %v, want !If [IsProd, true, ...]", asMap(cfg["Properties"])["DeletionProtectionEnabled"])
	}
}

// EMF lines are written at INFO; an application log level above INFO would drop them.
func TestAppLogLevelCannotFilterMetrics(t *testing.T) {
	tp := loadTemplate(t)
	lc := asMap(tp.globalsFunction()["LoggingConfig"])
	ref, _ := asMap(lc["ApplicationLogLevel"])["Ref"].(string)
	if ref == "" {
		t.Fatalf("Globals LoggingConfig.ApplicationLogLevel = %v, want !Ref to a parameter", lc["ApplicationLogLevel"])
	}
	p := asMap(asMap(tp.raw["Parameters"])[ref])
	allowed := asSlice(p["AllowedValues"])
	if len(allowed) == 0 {
		t.Fatalf("parameter %s has no AllowedValues; WARN or ERROR would silently drop metrics", ref)
	}
	for _, v := range allowed {
		if !slices.Contains([]string{"TRACE", "DEBUG", "INFO"}, fmt.Sprint(v)) {
			t.Errorf("parameter %s allows %v, which filters out INFO metric lines", ref, v)
		}
	}
	for id := range wantFunctions {
		if l, ok := asMap(asMap(tp.resource(t, id)["Properties"])["LoggingConfig"])["ApplicationLogLevel"]; ok {
			t.Errorf("%s overrides ApplicationLogLevel (%v)", id, l)
		}
	}
}

func TestCfnLintClean(t *testing.T) {
	cmd := exec.Command(external.CfnLint(t), "template.yaml")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cfn-lint template.yaml: %v\n%s", err, out)
	}
}
