package jobs_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/memstore"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// emfLines decodes EMF output into one map per line.
func emfLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("EMF line %q: %v", sc.Text(), err)
		}
		if _, ok := m["_aws"].(map[string]any); !ok || m["level"] != "INFO" {
			t.Fatalf("EMF line lacks _aws or level INFO: %s", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// emfDims is the dimension set of an EMF line, as "A,B".
func emfDims(m map[string]any) string {
	d := m["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Dimensions"].([]any)[0].([]any)
	parts := make([]string, len(d))
	for i, x := range d {
		parts[i] = x.(string)
	}
	return strings.Join(parts, ",")
}

// recordingNotifier keeps the notices it is given; fail makes it refuse.
type recordingNotifier struct {
	mu   sync.Mutex
	got  []jobs.Notice
	fail error
}

func (r *recordingNotifier) Notify(_ context.Context, n jobs.Notice) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.got = append(r.got, n)
	return nil
}

func (r *recordingNotifier) notices() []jobs.Notice {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]jobs.Notice(nil), r.got...)
}

// A finished run writes its line (by Stage and JobType) and one line per
// failure code (by Stage and Code); the failed share counts the records the
// run tried to write.
func TestRunEmitsEMFMetrics(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(testType, func(ctx context.Context, rc *jobs.RunContext) error {
		rc.Run.Record(store.RecordOutcome{Key: "R-1", Outcome: store.OutcomeCreated})
		rc.Run.Record(store.RecordOutcome{Key: "R-2", Outcome: store.OutcomeUpdated})
		rc.Run.Record(store.RecordOutcome{Key: "R-3", Outcome: store.OutcomeUnchanged})
		rc.Run.Record(store.RecordOutcome{Key: "R-4", Outcome: store.OutcomeSkipped, Reason: "rule B"})
		rc.Run.Record(store.RecordOutcome{Key: "R-5", Outcome: store.OutcomeFailed, Code: "1006", Reason: "Field 'foo' not found"})
		rc.Run.Record(store.RecordOutcome{Key: "R-6", Outcome: store.OutcomeFailed, Code: "1006", Reason: "Field 'bar' not found"})
		rc.Run.Record(store.RecordOutcome{Key: "R-7", Outcome: store.OutcomeFailed, Reason: "no Marketo lead id found"})
		return nil
	}))
	var buf bytes.Buffer
	env.Executor.Report = jobs.Reporter{Metrics: &buf, Stage: "prod"}
	env.PutJob(t, testJob("j4"))
	env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": "HS26"}) // jobs read their event first
	env.RunJob(t, context.Background(), "j4")
	lines := emfLines(t, buf.Bytes())
	if len(lines) != 3 {
		t.Fatalf("%d EMF lines, want the run's and one per failure code (2):\n%s", len(lines), buf.String())
	}
	run := lines[0]
	if emfDims(run) != "JobType,Stage" || run["Stage"] != "prod" || run["JobType"] != testType {
		t.Errorf("run line dimensions %s = %v/%v, want JobType,Stage", emfDims(run), run["JobType"], run["Stage"])
	}
	for k, want := range map[string]float64{"Runs": 1, "RunsPartial": 1, "RunsSucceeded": 0, "RunsFailed": 0,
		"RecordsCreated": 1, "RecordsUpdated": 1, "RecordsUnchanged": 1, "RecordsSkipped": 1, "RecordsFailed": 3,
		"RecordsFailedPercent": 60} { // 3 failed of 5 tried (created, updated, failed)
		if run[k] != want {
			t.Errorf("%s = %v, want %v", k, run[k], want)
		}
	}
	byCode := map[string]any{}
	for _, l := range lines[1:] {
		if emfDims(l) != "Code,Stage" || l["Stage"] != "prod" {
			t.Errorf("code line dimensions %s, want Code,Stage: %v", emfDims(l), l)
		}
		byCode[fmt.Sprint(l["Code"])] = l["RecordsFailedByCode"]
	}
	if fmt.Sprint(byCode) != "map[1006:2 none:1]" {
		t.Errorf("failures by code = %v, want 1006:2 none:1", byCode)
	}
}

func TestReasonPattern(t *testing.T) {
	for in, want := range map[string]string{
		"2 Marketo leads share this email (ids [101 202]); merge them in Marketo":                                                                                   "# Marketo leads share this email (ids [#]); merge them in Marketo",
		"3 Marketo leads share this email (ids [7 8 9]); merge them in Marketo":                                                                                     "# Marketo leads share this email (ids [#]); merge them in Marketo",
		`Certain refused the profile: HTTP 400: invalid value "Jane O'Hara" for firstName`:                                                                          `Certain refused the profile: HTTP #: invalid value "…" for firstName`,
		"no lead for jane.doe+x@example.co.uk, phone +1-555-0100":                                                                                                   "no lead for <email>, phone #",
		"change c-18e5c475e1f20d94 not triggered, will be retried: marketo /rest/v1/campaigns/1234/trigger.json: code 604: Request timed out (requestId e42b#17f0)": "change # not triggered, will be retried: marketo /rest/#/campaigns/#/trigger.json: code #: Request timed out (requestId #)",
		"  ": "(no reason given)",
	} {
		if got := jobs.ReasonPattern(in); got != want {
			t.Errorf("ReasonPattern(%q)\n = %q\nwant %q", in, got, want)
		}
	}
	long := jobs.ReasonPattern(strings.Repeat("word ", 100))
	if n := len([]rune(long)); n != 160 || !strings.HasSuffix(long, "…") {
		t.Errorf("a long reason is cut to %d characters (%q), want 160 ending in …", n, long)
	}
}

func partialRun() store.Run {
	t0 := time.Date(2026, 4, 1, 8, 3, 11, 0, time.UTC)
	return store.Run{ID: "20260401T080311Z-1a2b3c4d", JobID: "summit-sync", JobType: "sync-leads", Account: "ACME", Event: "HS26",
		Trigger: "schedule", Started: t0, Finished: t0.Add(149 * time.Second), Outcome: store.RunPartial,
		Counts:       map[string]int{"created": 120, "updated": 3400, "unchanged": 15000, "skipped": 12, "failed": 37, "profilesUpdated": 2},
		MarketoCalls: 48, CertainCalls: 212}
}

func TestRunNoticeContent(t *testing.T) {
	top := []jobs.FailureReason{
		{Code: "1007", Pattern: "# Marketo leads share this email (ids [#]); merge them in Marketo", Count: 30},
		{Code: "1003", Pattern: `Value for field "…" is invalid`, Count: 5},
		{Code: "certain-write", Pattern: "write the lead id back to Certain: HTTP #", Count: 2},
	}
	n := jobs.NewRunNotice("prod", partialRun(), top)
	if n.Subject != "certain-marketo prod: sync-leads job summit-sync ended partial" {
		t.Errorf("subject %q", n.Subject)
	}
	for _, want := range []string{
		"A run of job summit-sync ended partial (certain-marketo prod).",
		"Job:     summit-sync (sync-leads)",
		"Account: ACME, event HS26",
		"Run:     20260401T080311Z-1a2b3c4d (schedule), started 2026-04-01T08:03:11Z, took 2m29s",
		"Records: created 120, updated 3400, unchanged 15000, skipped 12, failed 37, profilesUpdated 2",
		"Calls:   Marketo 48, Certain 212",
		"Most frequent failure reasons (of 37 failed records):",
		"      30  1007          # Marketo leads share this email (ids [#]); merge them in Marketo",
		"       2  certain-write write the lead id back to Certain: HTTP #",
		"cmctl failures 20260401T080311Z-1a2b3c4d",
		"cmctl runs summit-sync",
	} {
		if !strings.Contains(n.Body, want) {
			t.Errorf("notice lacks %q:\n%s", want, n.Body)
		}
	}
	if strings.Contains(n.Body, "Error:") || strings.Contains(n.Body, "next scheduled time") {
		t.Errorf("a partial run's notice names no error:\n%s", n.Body)
	}
	want := map[string]string{"stage": "prod", "jobType": "sync-leads", "jobId": "summit-sync", "account": "ACME",
		"event": "HS26", "outcome": "partial", "runId": "20260401T080311Z-1a2b3c4d"}
	if fmt.Sprint(n.Attributes) != fmt.Sprint(want) {
		t.Errorf("attributes %v, want %v", n.Attributes, want)
	}

	failed := partialRun()
	failed.Outcome, failed.Counts, failed.Event = store.RunFailed, map[string]int{}, ""
	failed.Error = "configuration error: job \"summit-sync\": Marketo rejected the credentials of ops@acme.example (code 601)"
	failed.JobID = "summit-sync-with-a-very-long-job-identifier-that-goes-on-and-on-\u00e9t\u00e9-and-on-until-it-is-too-long"
	n = jobs.NewRunNotice("prod", failed, nil)
	if len(n.Subject) >= 100 || strings.ContainsAny(n.Subject, "\u00e9\n") || !strings.HasSuffix(n.Subject, "...") {
		t.Errorf("subject %q (%d bytes): want printable ASCII under 100 characters, cut with ...", n.Subject, len(n.Subject))
	}
	for _, want := range []string{"Records: none", `Error:   configuration error: job "summit-sync": Marketo rejected the credentials of <email> (code 601)`,
		"runs again at its next scheduled time"} {
		if !strings.Contains(n.Body, want) {
			t.Errorf("failed-run notice lacks %q:\n%s", want, n.Body)
		}
	}
	if strings.Contains(n.Body, "acme.example") || strings.Contains(n.Body, "Most frequent") || strings.Contains(n.Body, "event") {
		t.Errorf("failed-run notice leaks the address or lists reasons or an event it does not have:\n%s", n.Body)
	}
	if _, ok := n.Attributes["event"]; ok {
		t.Errorf("attributes %v: an empty event is left out", n.Attributes)
	}
}

// A run that ends partial sends one notice with its most frequent reasons;
// the same failures again within the quiet period send none; different
// ones, or the same after it, do; a notice that could not be sent does not
// start the quiet period.
func TestRunNoticesAndQuietPeriod(t *testing.T) {
	reason := "Field 'phone' invalid"
	env := jobstest.New(t, jobstest.WithFunc(testType, func(ctx context.Context, rc *jobs.RunContext) error {
		for i := range 5 {
			rc.Run.Record(store.RecordOutcome{Key: fmt.Sprintf("R-%d", i), Outcome: store.OutcomeFailed, Code: "1003", Reason: reason})
		}
		rc.Run.Record(store.RecordOutcome{Key: "R-9", Email: "ann@example.org", Outcome: store.OutcomeFailed, Code: "1007",
			Reason: "2 Marketo leads share this email ann@example.org (ids [4 5])"})
		rc.Run.Record(store.RecordOutcome{Key: "R-10", Outcome: store.OutcomeFailed, Code: "1004", Reason: "rule B"})
		rc.Run.Record(store.RecordOutcome{Key: "R-11", Outcome: store.OutcomeFailed, Code: "1006", Reason: "field x"})
		rc.Run.Record(store.RecordOutcome{Key: "R-12", Outcome: store.OutcomeCreated})
		return nil
	}))
	nt := &recordingNotifier{}
	env.Executor.Report = jobs.Reporter{Stage: "dev", Notifier: nt, Quiet: time.Hour}
	env.PutJob(t, testJob("j5"))
	env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": "HS26"}) // jobs read their event first
	ctx := context.Background()
	r1 := env.RunJob(t, ctx, "j5")
	got := nt.notices()
	if len(got) != 1 {
		t.Fatalf("%d notices after a partial run, want 1", len(got))
	}
	body := got[0].Body
	for _, want := range []string{"cmctl failures " + r1.ID, "Most frequent failure reasons (of 8 failed records):",
		`5  1003          Field "…" invalid`, "1  1004          rule B", "1  1006          field x"} {
		if !strings.Contains(body, want) {
			t.Errorf("notice lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "example.org") || strings.Contains(body, "R-9") || strings.Contains(body, "1007") {
		t.Errorf("notice holds an e-mail address, a key or a fourth reason:\n%s", body)
	}

	env.Clock.Advance(20 * time.Minute) // the job's interval is 15m: due again
	env.RunJob(t, ctx, "j5")
	if n := len(nt.notices()); n != 1 {
		t.Fatalf("%d notices after the same failures within the quiet period, want still 1", n)
	}
	reason = "Field 'phone' too long" // a new cause
	env.Clock.Advance(20 * time.Minute)
	env.RunJob(t, ctx, "j5")
	if n := len(nt.notices()); n != 2 {
		t.Fatalf("%d notices after new failure reasons, want 2", n)
	}
	env.Clock.Advance(time.Hour + time.Minute) // past the quiet period of the second
	env.RunJob(t, ctx, "j5")
	if n := len(nt.notices()); n != 3 {
		t.Fatalf("%d notices after the quiet period, want 3", n)
	}

	// A failed delivery leaves no quiet period behind.
	reason = "Field 'phone' refused"
	nt.fail = errors.New("topic unreachable")
	env.Clock.Advance(20 * time.Minute)
	env.RunJob(t, ctx, "j5")
	nt.fail = nil
	env.Clock.Advance(20 * time.Minute)
	env.RunJob(t, ctx, "j5")
	if n := len(nt.notices()); n != 4 {
		t.Fatalf("%d notices after a failed delivery and a rerun, want 4 (the rerun's)", n)
	}
}

// A succeeded run sends no notice; Quiet 0 sends every one.
func TestRunNoticeOnlyForFailedOrPartial(t *testing.T) {
	fail := false
	env := jobstest.New(t, jobstest.WithFunc(testType, func(ctx context.Context, rc *jobs.RunContext) error {
		rc.Run.Record(store.RecordOutcome{Key: "R-1", Outcome: store.OutcomeCreated})
		if fail {
			return errors.New("certain: GET /registrations: HTTP 503 after 4 tries")
		}
		return nil
	}))
	nt := &recordingNotifier{}
	env.Executor.Report = jobs.Reporter{Notifier: nt}
	env.PutJob(t, testJob("j6"))
	env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": "HS26"}) // jobs read their event first
	ctx := context.Background()
	env.RunJob(t, ctx, "j6")
	if n := len(nt.notices()); n != 0 {
		t.Fatalf("%d notices after a succeeded run, want 0", n)
	}
	fail = true
	for range 2 {
		env.Clock.Advance(20 * time.Minute)
		if r := env.RunJob(t, ctx, "j6"); r.Outcome != store.RunFailed {
			t.Fatalf("outcome %s, want failed", r.Outcome)
		}
	}
	got := nt.notices()
	if len(got) != 2 || !strings.Contains(got[0].Body, "Error:   certain: GET /registrations: HTTP 503 after 4 tries") ||
		got[0].Attributes["outcome"] != "failed" || got[0].Subject != "certain-marketo: sync-leads job j6 ended failed" {
		t.Fatalf("notices %+v, want two failed-run notices (no quiet period)", got)
	}
}

var _ store.Idempotency = (*memstore.Store)(nil)

// trigger-campaign's run line carries, per campaign request, the time from
// the change (changedAt) to the request: the change-to-campaign latency.
func TestTriggerEmitsChangeToCampaignLatency(t *testing.T) {
	env := newTriggerEnv(t, false)
	var buf bytes.Buffer
	env.trigger.Report = jobs.Reporter{Metrics: &buf, Stage: "prod"}
	ctx := context.Background()
	_, a := seedReg(env.Env, map[string]any{"email": "kai@example.org", "organization": "Contoso"}, "Pre-Registered")
	_, b := seedReg(env.Env, map[string]any{"email": "noor@example.org", "organization": "Fabrikam"}, "Pre-Registered")
	env.PutJob(t, triggerJob("trig-lat", nil))
	first := change(env.Env, a, "Invited", "Pre-Registered")
	env.Clock.Advance(30 * time.Second)
	second := change(env.Env, b, "Invited", "Pre-Registered")
	env.Clock.Advance(45 * time.Second) // detected, queued, batched
	noErrors(t, env.trigger.Handle(ctx, []jobs.ChangeMessage{first, second}))
	lines := emfLines(t, buf.Bytes())
	if len(lines) != 1 {
		t.Fatalf("%d EMF lines, want the run's:\n%s", len(lines), buf.String())
	}
	l := lines[0]
	if l["JobType"] != "trigger-campaign" || l["LeadsRequested"] != 2.0 || l["Runs"] != 1.0 {
		t.Errorf("run line %v", l)
	}
	// The simulator's clock is the run's: the request is at +75 s for the
	// first change and +45 s for the second.
	if got := fmt.Sprint(l["ChangeToCampaignMs"]); got != "[75000 45000]" && got != "[45000 75000]" {
		t.Errorf("ChangeToCampaignMs = %s, want 75000 and 45000", got)
	}
}
