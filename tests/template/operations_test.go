package template

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// The operations resources (docs/operations.md §6): every alarm notifies
// the stack's AlertTopic, every dead-letter queue and every function has
// its alarms (so a queue or function added later fails here until it
// does), and the alarms and dashboard read metrics the code emits.

const topicID = "AlertTopic"

func (tp template) ofType(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range tp.resources() {
		if rm := asMap(r); rm["Type"] == typ {
			out[id] = rm
		}
	}
	return out
}

func isTopicRef(v any) bool { return asMap(v)["Ref"] == topicID }

// alarmProblems lists what is wrong with the alarms' actions.
func alarmProblems(tp template) []string {
	var out []string
	if r := asMap(tp.resources()[topicID]); r["Type"] != "AWS::SNS::Topic" {
		out = append(out, fmt.Sprintf("%s is %v, want an AWS::SNS::Topic", topicID, r["Type"]))
	}
	for id, a := range tp.ofType("AWS::CloudWatch::Alarm") {
		p := asMap(a["Properties"])
		acts := asSlice(p["AlarmActions"])
		if !slices.ContainsFunc(acts, isTopicRef) {
			out = append(out, fmt.Sprintf("alarm %s: AlarmActions %v lack !Ref %s", id, p["AlarmActions"], topicID))
		}
		for _, k := range []string{"AlarmActions", "OKActions", "InsufficientDataActions"} {
			for _, act := range asSlice(p[k]) {
				if !isTopicRef(act) {
					out = append(out, fmt.Sprintf("alarm %s: %s has %v; alarms notify %s only", id, k, act, topicID))
				}
			}
		}
		if p["ActionsEnabled"] == false {
			out = append(out, fmt.Sprintf("alarm %s has its actions disabled", id))
		}
	}
	return out
}

func TestEveryAlarmNotifiesTheTopic(t *testing.T) {
	tp := loadTemplate(t)
	if n := len(tp.ofType("AWS::CloudWatch::Alarm")); n < 6+2*len(wantFunctions) {
		t.Fatalf("%d alarms, want at least %d (6 product alarms, errors and throttles per function)", n, 6+2*len(wantFunctions))
	}
	for _, p := range alarmProblems(tp) {
		t.Error(p)
	}
	// The checker itself: an alarm that notifies nothing is caught.
	bad := loadTemplate(t)
	bad.resources()["SilentAlarm"] = map[string]any{"Type": "AWS::CloudWatch::Alarm", "Properties": map[string]any{"MetricName": "Errors"}}
	if ps := alarmProblems(bad); len(ps) != 1 || !strings.Contains(ps[0], "SilentAlarm") {
		t.Errorf("an alarm without actions gives %v, want one problem naming it", ps)
	}
}

// getAttQueue returns X of !GetAtt X.attr when X is a queue of the stack.
func getAttQueue(tp template, v any, attr string) string {
	ga := asSlice(asMap(v)["Fn::GetAtt"])
	if len(ga) != 2 || ga[1] != attr {
		return ""
	}
	id := fmt.Sprint(ga[0])
	if asMap(tp.resources()[id])["Type"] != "AWS::SQS::Queue" {
		return ""
	}
	return id
}

// deadLetterQueues finds every queue that receives what failed: a
// RedrivePolicy target, a function's OnFailure destination, a schedule's
// DeadLetterConfig, or a queue named *DLQ.
func deadLetterQueues(tp template) []string {
	set := map[string]bool{}
	for id, q := range tp.ofType("AWS::SQS::Queue") {
		if strings.HasSuffix(id, "DLQ") {
			set[id] = true
		}
		if d := getAttQueue(tp, asMap(asMap(q["Properties"])["RedrivePolicy"])["deadLetterTargetArn"], "Arn"); d != "" {
			set[d] = true
		}
	}
	for id := range tp.ofType("AWS::Serverless::Function") {
		eic := asMap(tp.fnProp(id, "EventInvokeConfig"))
		if d := getAttQueue(tp, asMap(asMap(asMap(eic["DestinationConfig"])["OnFailure"]))["Destination"], "Arn"); d != "" {
			set[d] = true
		}
		for _, ev := range asMap(asMap(asMap(tp.resources()[id])["Properties"])["Events"]) {
			if d := getAttQueue(tp, asMap(asMap(asMap(ev)["Properties"])["DeadLetterConfig"])["Arn"], "Arn"); d != "" {
				set[d] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// dlqAlarmProblems lists the dead-letter queues without an alarm that fires
// on their first message.
func dlqAlarmProblems(tp template) []string {
	var out []string
	for _, q := range deadLetterQueues(tp) {
		found := false
		for _, a := range tp.ofType("AWS::CloudWatch::Alarm") {
			p := asMap(a["Properties"])
			dims := asSlice(p["Dimensions"])
			if p["Namespace"] != "AWS/SQS" || p["MetricName"] != "ApproximateNumberOfMessagesVisible" || len(dims) != 1 ||
				asMap(dims[0])["Name"] != "QueueName" || getAttQueue(tp, asMap(dims[0])["Value"], "QueueName") != q {
				continue
			}
			th, _ := number(p["Threshold"])
			first := (p["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" && th == 1) ||
				(p["ComparisonOperator"] == "GreaterThanThreshold" && th == 0)
			if !first || !slices.Contains([]any{"Maximum", "Sum"}, p["Statistic"]) {
				out = append(out, fmt.Sprintf("the alarm on %s does not fire on its first message (%v %v, %v)", q, p["ComparisonOperator"], p["Threshold"], p["Statistic"]))
			}
			found = true
		}
		if !found {
			out = append(out, fmt.Sprintf("dead-letter queue %s has no ApproximateNumberOfMessagesVisible alarm (see RegistrationChangeDLQAlarm)", q))
		}
	}
	return out
}

func TestEveryDLQHasAnAlarm(t *testing.T) {
	tp := loadTemplate(t)
	if got, want := fmt.Sprint(deadLetterQueues(tp)), "[DetectorWorkDLQ EngagementMetricsWorkDLQ ImportLeadsWorkDLQ InterestMetricsWorkDLQ RegistrationChangeDLQ SchedulerDLQ SyncLeadsWorkDLQ]"; got != want {
		t.Errorf("dead-letter queues found: %s, want %s (the change queue's, the schedules', and each work queue's)", got, want)
	}
	for _, p := range dlqAlarmProblems(tp) {
		t.Error(p)
	}
	// A work queue with its own DLQ, added without an alarm, is caught
	// whatever its name: the redrive target is enough.
	more := loadTemplate(t)
	more.resources()["SyncWorkQueue"] = map[string]any{"Type": "AWS::SQS::Queue", "Properties": map[string]any{
		"RedrivePolicy": map[string]any{"deadLetterTargetArn": map[string]any{"Fn::GetAtt": []any{"SyncWorkFailures", "Arn"}}, "maxReceiveCount": 5}}}
	more.resources()["SyncWorkFailures"] = map[string]any{"Type": "AWS::SQS::Queue", "Properties": map[string]any{}}
	if ps := dlqAlarmProblems(more); len(ps) != 1 || !strings.Contains(ps[0], "SyncWorkFailures") {
		t.Errorf("a new DLQ without an alarm gives %v, want one problem naming it", ps)
	}
}

func TestEveryFunctionHasErrorsAndThrottlesAlarms(t *testing.T) {
	tp := loadTemplate(t)
	have := map[string]bool{}
	for _, a := range tp.ofType("AWS::CloudWatch::Alarm") {
		p := asMap(a["Properties"])
		dims := asSlice(p["Dimensions"])
		if p["Namespace"] != "AWS/Lambda" || len(dims) != 1 || asMap(dims[0])["Name"] != "FunctionName" {
			continue
		}
		fn, _ := asMap(asMap(dims[0])["Value"])["Ref"].(string)
		if th, _ := number(p["Threshold"]); th != 1 || p["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" || p["Statistic"] != "Sum" {
			t.Errorf("the %v alarm of %s: %v %v of %v, want Sum >= 1", p["MetricName"], fn, p["ComparisonOperator"], p["Threshold"], p["Statistic"])
		}
		have[fn+"/"+fmt.Sprint(p["MetricName"])] = true
	}
	for _, fn := range tp.functionIDs() {
		for _, m := range []string{"Errors", "Throttles"} {
			if !have[fn+"/"+m] {
				t.Errorf("function %s has no %s alarm", fn, m)
			}
		}
	}
}

// emitted returns, per metric name in namespace CertainMarketo, the
// dimension sets ("JobType,Stage") the code writes it with.
func emitted(t *testing.T) map[string][]string {
	t.Helper()
	var buf bytes.Buffer
	t0 := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	run := store.Run{ID: "r", JobID: "j", JobType: "trigger-campaign", Started: t0, Finished: t0.Add(time.Minute), Outcome: store.RunPartial,
		Counts: map[string]int{store.OutcomeRequested: 3, store.OutcomeFailed: 1}}
	if err := (jobs.Reporter{Metrics: &buf, Stage: "prod"}).EmitRun(run, map[string]int{"604": 1}, []time.Duration{time.Minute}); err != nil {
		t.Fatal(err)
	}
	tm := app.Telemetry{W: &buf, Stage: "prod"}
	if err := tm.DetectorTick(jobs.ScopeDispatch{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := tm.DetectorPolls([]jobs.ScopeResult{{}}); err != nil {
		t.Fatal(err)
	}
	if err := tm.BudgetUsage("123-ABC-456", limit.DailyUsage{Calls: 10, Limit: 100, Known: true}); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var line struct {
			AWS struct {
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name string }
				}
			} `json:"_aws"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		for _, d := range line.AWS.CloudWatchMetrics {
			if d.Namespace != jobs.MetricsNamespace {
				t.Fatalf("namespace %q", d.Namespace)
			}
			for _, set := range d.Dimensions {
				dims := slices.Clone(set)
				sort.Strings(dims)
				for _, m := range d.Metrics {
					out[m.Name] = append(out[m.Name], strings.Join(dims, ","))
				}
			}
		}
	}
	return out
}

var (
	miRe     = regexp.MustCompile(`SELECT\s+\w+\((\w+)\)\s+FROM\s+SCHEMA\(([^)]*)\)`)
	searchRe = regexp.MustCompile(`\{([^}]*)\}\s+MetricName=(?:"([^"]+)"|\(([^)]*)\))`)
	quotedRe = regexp.MustCompile(`"([^"]+)"`)
	subRe    = regexp.MustCompile(`\$\{([^}!]+)\}`)
)

// metricRef is one use of a CertainMarketo metric in the template.
type metricRef struct{ where, name, dims string }

func schemaRef(where, schema string, names ...string) []metricRef {
	parts := strings.Split(schema, ",")
	for i := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(parts[i]), `"`)
	}
	if parts[0] != jobs.MetricsNamespace {
		return nil
	}
	dims := slices.Clone(parts[1:])
	sort.Strings(dims)
	var out []metricRef
	for _, n := range names {
		out = append(out, metricRef{where, n, strings.Join(dims, ",")})
	}
	return out
}

// substitute resolves the ${...} of a Fn::Sub string as CloudFormation
// would, failing on a name that is no parameter, resource or attribute.
func substitute(t *testing.T, tp template, s string) string {
	t.Helper()
	params := asMap(tp.raw["Parameters"])
	return subRe.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		switch {
		case name == "AWS::Region":
			return "us-east-1"
		case strings.HasPrefix(name, "AWS::"):
			return "aws-pseudo"
		case params[name] != nil:
			return fmt.Sprint(asMap(params[name])["Default"])
		}
		res, _, _ := strings.Cut(name, ".")
		if tp.resources()[res] == nil {
			t.Errorf("${%s} names no parameter or resource", name)
		}
		return "resolved-" + strings.ReplaceAll(name, ".", "-")
	})
}

func templateMetricRefs(t *testing.T, tp template) []metricRef {
	t.Helper()
	var refs []metricRef
	for id, a := range tp.ofType("AWS::CloudWatch::Alarm") {
		p := asMap(a["Properties"])
		if p["Namespace"] == jobs.MetricsNamespace {
			var dims []string
			for _, d := range asSlice(p["Dimensions"]) {
				dims = append(dims, fmt.Sprint(asMap(d)["Name"]))
			}
			sort.Strings(dims)
			refs = append(refs, metricRef{"alarm " + id, fmt.Sprint(p["MetricName"]), strings.Join(dims, ",")})
		}
		for _, q := range asSlice(p["Metrics"]) {
			expr := fmt.Sprint(asMap(asMap(q)["Expression"])["Fn::Sub"])
			m := miRe.FindStringSubmatch(expr)
			if m == nil {
				t.Errorf("alarm %s: expression %q is not a Metrics Insights SELECT", id, expr)
				continue
			}
			refs = append(refs, schemaRef("alarm "+id, m[2], m[1])...)
		}
	}
	body := dashboardBody(t, tp)
	for _, w := range body.Widgets {
		for _, row := range w.Properties.Metrics {
			if len(row) == 0 {
				continue
			}
			if ns, ok := row[0].(string); ok {
				var dims []string
				for i := 2; i+1 < len(row); i += 2 {
					if k, ok := row[i].(string); ok {
						dims = append(dims, k)
					}
				}
				refs = append(refs, schemaRef("dashboard "+w.Properties.Title, strings.Join(append([]string{ns}, dims...), ","), fmt.Sprint(row[1]))...)
				continue
			}
			expr, _ := asMap(row[0])["expression"].(string)
			for _, m := range searchRe.FindAllStringSubmatch(expr, -1) {
				names := []string{m[2]}
				if m[2] == "" {
					names = nil
					for _, q := range quotedRe.FindAllStringSubmatch(m[3], -1) {
						names = append(names, q[1])
					}
				}
				refs = append(refs, schemaRef("dashboard "+w.Properties.Title, m[1], names...)...)
			}
		}
	}
	return refs
}

type dashboard struct {
	Widgets []struct {
		Type       string
		Properties struct {
			Title   string
			Alarms  []string
			Metrics [][]any
		}
	}
}

func dashboardBody(t *testing.T, tp template) dashboard {
	t.Helper()
	sub, ok := asMap(asMap(tp.resource(t, "Dashboard")["Properties"])["DashboardBody"])["Fn::Sub"].(string)
	if !ok {
		t.Fatal("Dashboard DashboardBody is not a !Sub string")
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(substitute(t, tp, sub)))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard body is not JSON once substituted: %v", err)
	}
	return d
}

// Every CertainMarketo metric an alarm or the dashboard reads is one the
// code writes, with those dimensions: a renamed metric fails here, not as
// an alarm that never fires.
func TestAlarmsAndDashboardReadEmittedMetrics(t *testing.T) {
	tp := loadTemplate(t)
	em := emitted(t)
	refs := templateMetricRefs(t, tp)
	seen := map[string]bool{}
	for _, r := range refs {
		seen[r.name] = true
		if !slices.Contains(em[r.name], r.dims) {
			t.Errorf("%s reads %s by [%s]; the code writes it by %v", r.where, r.name, r.dims, em[r.name])
		}
	}
	// What the issue asks the dashboard and alarms to show.
	for _, n := range []string{"Runs", "RunsFailed", "RunsPartial", "RecordsCreated", "RecordsFailed", "RecordsFailedPercent",
		"RecordsFailedByCode", "MarketoDailyCalls", "MarketoDailyBudget", "MarketoDailyUsedPercent", "MarketoCalls",
		"ChangeToCampaignMs", "DetectorTicksCompleted"} {
		if !seen[n] {
			t.Errorf("neither an alarm nor the dashboard reads %s", n)
		}
	}
	if len(refs) < 20 {
		t.Errorf("found %d metric uses; the parser missed some", len(refs))
	}
}

func TestDashboardWidgets(t *testing.T) {
	tp := loadTemplate(t)
	d := dashboardBody(t, tp)
	var titles []string
	alarms := 0
	for _, w := range d.Widgets {
		titles = append(titles, w.Properties.Title)
		alarms += len(w.Properties.Alarms)
	}
	all := strings.ToLower(strings.Join(titles, " | "))
	for _, want := range []string{"runs by job type", "records by outcome", "against the daily budget", "by code", "queue depths", "change-to-campaign latency"} {
		if !strings.Contains(all, want) {
			t.Errorf("no dashboard widget about %q: %s", want, all)
		}
	}
	if alarms < 5 {
		t.Errorf("the alarm widget lists %d alarms", alarms)
	}
}

// The topic, its optional e-mail subscription, the thresholds users set,
// and the alarm that only makes sense while the detector is scheduled.
func TestOperationsParameters(t *testing.T) {
	tp := loadTemplate(t)
	params := asMap(tp.raw["Parameters"])
	if d := asMap(params["AlertEmail"])["Default"]; d != "" {
		t.Errorf("AlertEmail default %v, want empty (optional)", d)
	}
	sub := tp.resource(t, "AlertEmailSubscription")
	p := asMap(sub["Properties"])
	if sub["Condition"] != "HasAlertEmail" || p["Protocol"] != "email" || !isTopicRef(p["TopicArn"]) || asMap(p["Endpoint"])["Ref"] != "AlertEmail" {
		t.Errorf("AlertEmailSubscription %v, want an email subscription of AlertEmail to the topic, only when it is set", sub)
	}
	if !isTopicRef(asMap(asMap(tp.raw["Outputs"])["AlertTopicArn"])["Value"]) {
		t.Error("no AlertTopicArn output")
	}
	for id := range wantFunctions {
		if !isTopicRef(tp.envVars(id)["ALERT_TOPIC_ARN"]) {
			t.Errorf("%s ALERT_TOPIC_ARN = %v, want !Ref AlertTopic", id, tp.envVars(id)["ALERT_TOPIC_ARN"])
		}
	}
	for alarm, param := range map[string]string{"RecordsFailedShareAlarm": "PartialFailureAlarmPercent", "MarketoDailyUsageAlarm": "MarketoUsageAlarmPercent"} {
		if got := asMap(asMap(tp.resource(t, alarm)["Properties"])["Threshold"])["Ref"]; got != param {
			t.Errorf("%s Threshold = %v, want !Ref %s", alarm, got, param)
		}
	}
	if d, _ := number(asMap(params["MarketoUsageAlarmPercent"])["Default"]); d != 80 {
		t.Errorf("MarketoUsageAlarmPercent default %d, want 80", d)
	}
	ds := tp.resource(t, "DetectorStalledAlarm")
	dp := asMap(ds["Properties"])
	if ds["Condition"] != "SchedulesOn" || dp["TreatMissingData"] != "breaching" || asMap(dp["EvaluationPeriods"])["Ref"] != "DetectorSilenceMinutes" ||
		asMap(dp["DatapointsToAlarm"])["Ref"] != "DetectorSilenceMinutes" || fmt.Sprint(dp["Period"]) != "60" {
		t.Errorf("DetectorStalledAlarm %v, want 1-minute periods, DetectorSilenceMinutes of them, missing data breaching, only with the schedules on", ds)
	}
	// A poll that fails is a batch item failure, not a Lambda error, and the
	// heartbeat only says the tick queued every scope: polls that keep
	// failing need their own alarm.
	pf := asMap(tp.resource(t, "DetectorPollFailuresAlarm")["Properties"])
	if th, _ := number(pf["Threshold"]); pf["MetricName"] != "DetectorScopesFailed" || th != 1 || pf["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" ||
		pf["Statistic"] != "Sum" || pf["TreatMissingData"] != "notBreaching" {
		t.Errorf("DetectorPollFailuresAlarm %v, want Sum of DetectorScopesFailed >= 1, missing data not breaching", pf)
	}
	if d, _ := number(asMap(params["DetectorSilenceMinutes"])["Default"]); d != 5 {
		t.Errorf("DetectorSilenceMinutes default %d, want 5", d)
	}
}
