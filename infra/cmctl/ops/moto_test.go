package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/dynamostore"
	"github.com/certain-marketo/certain-marketo/lib/testkit/awstest"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
)

// TestAgainstMoto runs the AWS-facing commands against one moto_server;
// each subtest uses its own tables or queues.
func TestAgainstMoto(t *testing.T) {
	m := awstest.StartMoto(t)
	cfg := m.Config(t)
	ctx := context.Background()
	n := 0
	tables := func(t *testing.T) (map[string]string, *dynamostore.Store) {
		t.Helper()
		n++
		names := dynamostore.TableNames{Config: fmt.Sprintf("cfg-%d", n), State: fmt.Sprintf("state-%d", n)}
		if err := awstest.CreateTables(ctx, cfg, names); err != nil {
			t.Fatal(err)
		}
		st, err := dynamostore.New(dynamoClient(cfg), names.Config, names.State)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{EnvConfigTable: names.Config, EnvStateTable: names.State}, st
	}

	t.Run("put then list-jobs", func(t *testing.T) {
		env, st := tables(t)
		dir, _ := filepath.Abs("testdata")
		f := func(n string) string { return filepath.Join(dir, n) }
		// A bad file anywhere means nothing is written.
		r := cmctl(t, env, "put", f("good-connection.yaml"), f("good-jobs.json"), f("bad-mapping.yaml"))
		if r.code != ExitFailure || !strings.Contains(r.stderr, `fieldMapping[1].certain: required`) {
			t.Fatalf("put with a bad file: exit %d\n%s", r.code, r.stderr)
		}
		if jobs, _ := st.ListJobs(ctx, ""); len(jobs) != 0 {
			t.Fatalf("bad put wrote %d jobs", len(jobs))
		}
		// A job whose connection is neither in the files nor stored.
		r = cmctl(t, env, "put", f("good-bundle.yml"))
		if r.code != ExitFailure || !strings.Contains(r.stderr, `good-bundle.yml[0]: job "hs26-interest": account: no connection for account "ACME" in these files or in the config table`) {
			t.Fatalf("put without connection: exit %d\n%s", r.code, r.stderr)
		}

		r = cmctl(t, env, "put", f("good-connection.yaml"), f("good-jobs.json"))
		if r.code != ExitOK {
			t.Fatalf("put: exit %d\n%s", r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, "1 connection(s) and 2 job(s) written") {
			t.Errorf("put output:\n%s", r.stdout)
		}
		// The mapping and the bundle now resolve against the stored connection.
		r = cmctl(t, env, "put", f("good-mapping.json"), f("good-bundle.yml"))
		if r.code != ExitOK {
			t.Fatalf("put mapping: exit %d\n%s", r.code, r.stderr)
		}
		conn, err := st.GetConnection(ctx, "ACME")
		if err != nil || len(conn.FieldMapping) != 3 || conn.FieldMapping[2] != (config.FieldMap{Certain: "organization", Marketo: "company"}) || len(conn.Statuses) != 3 {
			t.Fatalf("stored connection after mapping put: %+v, %v", conn, err)
		}
		// A status unknown to the stored connection is caught on put.
		bad := filepath.Join(t.TempDir(), "j.json")
		os.WriteFile(bad, []byte(`{"kind":"job","id":"x","account":"ACME","event":"E","type":"sync-leads","name":"n","enabled":true,"schedule":{"interval":"1h"},"params":{"statuses":["No-show"]}}`), 0o600)
		r = cmctl(t, env, "put", bad)
		if r.code != ExitFailure || !strings.Contains(r.stderr, `params.statuses[0]: unknown registration status "No-show" for account "ACME"`) {
			t.Fatalf("put with unknown status: exit %d\n%s", r.code, r.stderr)
		}

		// One job has run: its state shows in list-jobs.
		next := time.Date(2026, 4, 1, 15, 0, 0, 0, time.UTC)
		if ok, err := st.ClaimJob(ctx, "hs26-sync", "run-a", 0, time.Now().Add(time.Minute), time.Now()); !ok || err != nil {
			t.Fatalf("claim: %v %v", ok, err)
		}
		if err := st.ReleaseJob(ctx, "hs26-sync", "run-a", next, store.RunPartial); err != nil {
			t.Fatal(err)
		}
		r = cmctl(t, env, "list-jobs")
		if r.code != ExitOK {
			t.Fatalf("list-jobs: exit %d\n%s", r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID ") {
			t.Fatalf("list-jobs:\n%s", r.stdout)
		}
		for _, want := range []string{
			"hs26-import    import-leads      ACME     HS26   false    cron 0 6 * * 1-5 America/Chicago",
			"- (disabled)",
			"hs26-interest  interest-metrics  ACME     HS26   true     every 1h from 2026-04-01T00:00:00Z",
			"next tick (never ran)",
			"hs26-sync      sync-leads        ACME     HS26   true     every 15m",
			"2026-04-01T15:00:00Z   partial at ",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("list-jobs lacks %q:\n%s", want, r.stdout)
			}
		}
		r = cmctl(t, env, "list-jobs", "--type", "sync-leads", "--json")
		var rows []JobRow
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 {
			t.Fatalf("list-jobs --json: %v\n%s", err, r.stdout)
		}
		if rows[0].ID != "hs26-sync" || rows[0].LastOutcome != store.RunPartial || rows[0].NextDue == nil || !rows[0].NextDue.Equal(next) || rows[0].LastRunID != "run-a" {
			t.Errorf("row: %+v", rows[0])
		}
	})

	t.Run("runs and failures", func(t *testing.T) {
		env, st := tables(t)
		t0 := time.Date(2026, 4, 1, 14, 0, 0, 0, time.UTC)
		for i, outcome := range []string{store.RunSucceeded, store.RunPartial} {
			run := store.Run{ID: fmt.Sprintf("run-%d", i), JobID: "j1", JobType: config.TypeSyncLeads, Account: "ACME", Event: "HS26",
				Trigger: "schedule", Started: t0.Add(time.Duration(i) * time.Hour), Finished: t0.Add(time.Duration(i)*time.Hour + 90*time.Second),
				Outcome: outcome, Counts: map[string]int{"created": 10 + i, "failed": i}, MarketoCalls: 7 + i, CertainCalls: 3}
			if err := st.PutRun(ctx, run); err != nil {
				t.Fatal(err)
			}
		}
		outs := []store.RecordOutcome{
			{Key: "REG-1", Email: "a@example.com", Outcome: store.OutcomeFailed, Reason: "Invalid email address", Code: "1003"},
			{Key: "REG-2", Outcome: store.OutcomeSkipped, Reason: "no email"},
			{Key: "REG-3", Email: "c@example.com", Outcome: store.OutcomeCreated},
		}
		if _, err := st.AddOutcomes(ctx, "run-1", outs); err != nil {
			t.Fatal(err)
		}
		run, _ := st.GetRun(ctx, "run-1")
		run.OutcomesDropped = 42
		if err := st.PutRun(ctx, run); err != nil {
			t.Fatal(err)
		}

		r := cmctl(t, env, "runs", "j1")
		if r.code != ExitOK {
			t.Fatalf("runs: exit %d\n%s", r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[1], "run-1 ") || !strings.HasPrefix(lines[2], "run-0 ") {
			t.Fatalf("runs not newest first:\n%s", r.stdout)
		}
		for _, want := range []string{"1m30s", "partial", "created=11 failed=1", "  8  ", "  3  "} {
			if !strings.Contains(lines[1], want) {
				t.Errorf("runs line lacks %q: %s", want, lines[1])
			}
		}
		r = cmctl(t, env, "runs", "j1", "--limit", "1", "--json")
		var rows []RunRow
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || rows[0].ID != "run-1" || rows[0].MarketoCalls != 8 {
			t.Fatalf("runs --json: %v %+v", err, rows)
		}
		r = cmctl(t, env, "runs", "nope")
		if r.code != ExitFailure || !strings.Contains(r.stderr, `job "nope": not found in `+env[EnvConfigTable]+` and has no runs`) {
			t.Errorf("runs of unknown job: exit %d %s", r.code, r.stderr)
		}

		r = cmctl(t, env, "failures", "run-1")
		if r.code != ExitOK {
			t.Fatalf("failures: exit %d\n%s", r.code, r.stderr)
		}
		for _, want := range []string{"REG-1  a@example.com  failed   1003  Invalid email address", "REG-2  -              skipped  -     no email",
			"42 per-record outcome(s) were not kept (over the bound of 5000 per run)"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("failures lacks %q:\n%s", want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "REG-3") {
			t.Errorf("failures lists a created record:\n%s", r.stdout)
		}
		r = cmctl(t, env, "failures", "run-1", "--outcome", "skipped", "--json")
		var fj failuresJSON
		if err := json.Unmarshal([]byte(r.stdout), &fj); err != nil || len(fj.Outcomes) != 1 || fj.Outcomes[0].Key != "REG-2" || fj.Dropped != 42 {
			t.Fatalf("failures --json: %v %+v", err, fj)
		}
		r = cmctl(t, env, "failures", "run-9")
		if r.code != ExitFailure || !strings.Contains(r.stderr, `run "run-9": not found`) {
			t.Errorf("unknown run: exit %d %s", r.code, r.stderr)
		}
	})

	t.Run("redrive-dlq moves every message", func(t *testing.T) {
		q := sqs.NewFromConfig(cfg)
		dlq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("changes-dlq")})
		if err != nil {
			t.Fatal(err)
		}
		attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl, AttributeNames: []sqstypesName{"QueueArn"}})
		if err != nil {
			t.Fatal(err)
		}
		main, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("changes"), Attributes: map[string]string{
			"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"5"}`, attrs.Attributes["QueueArn"]),
		}})
		if err != nil {
			t.Fatal(err)
		}
		const total = 23
		want := map[string]bool{}
		for i := range total {
			body := fmt.Sprintf(`{"n":%d}`, i)
			want[body] = true
			if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: dlq.QueueUrl, MessageBody: aws.String(body),
				MessageAttributes: map[string]sqsAttr{"reason": {DataType: aws.String("String"), StringValue: aws.String("poison")}}}); err != nil {
				t.Fatal(err)
			}
		}
		env := map[string]string{EnvQueueURL: *main.QueueUrl, EnvDLQURL: *dlq.QueueUrl}
		r := cmctl(t, env, "redrive-dlq", "--max", "5", "--wait", "0")
		if r.code != ExitOK || !strings.Contains(r.stdout, "received 5, moved 5, send failed 0") {
			t.Fatalf("redrive --max 5: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		r = cmctl(t, env, "redrive-dlq", "--json", "--wait", "0")
		var res RedriveResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != ExitOK || res.Moved != total-5 || res.Received != total-5 {
			t.Fatalf("redrive: exit %d %v %+v %s", r.code, err, res, r.stderr)
		}
		got := receiveAll(t, q, *main.QueueUrl)
		if len(got) != total {
			t.Fatalf("queue holds %d messages, want %d", len(got), total)
		}
		for _, m := range got {
			if !want[aws.ToString(m.Body)] {
				t.Errorf("unexpected body %s", aws.ToString(m.Body))
			}
			delete(want, aws.ToString(m.Body))
			if a, ok := m.MessageAttributes["reason"]; !ok || aws.ToString(a.StringValue) != "poison" {
				t.Errorf("message attributes lost: %+v", m.MessageAttributes)
			}
		}
		if left := receiveAll(t, q, *dlq.QueueUrl); len(left) != 0 {
			t.Errorf("DLQ still holds %d messages", len(left))
		}
	})

	t.Run("put-secret round trip never prints the value", func(t *testing.T) {
		dir := t.TempDir()
		const secretValue = "s3cr3t-Value-xyz"
		p := filepath.Join(dir, "m.json")
		os.WriteFile(p, []byte(`{"munchkinId":"123-ABC-456","clientId":"cid","clientSecret":"`+secretValue+`"}`), 0o600)
		r := cmctl(t, nil, "put-secret", "certain-marketo/dev/acme-marketo", "--file", p)
		if r.code != ExitOK || !strings.Contains(r.stdout, `secret "certain-marketo/dev/acme-marketo" (marketo credentials) created`) {
			t.Fatalf("create: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		p2 := filepath.Join(dir, "m2.json")
		os.WriteFile(p2, []byte(`{"munchkinId":"123-ABC-456","clientId":"cid","clientSecret":"`+secretValue+`-2"}`), 0o600)
		r2 := cmctl(t, nil, "put-secret", "certain-marketo/dev/acme-marketo", "--file", p2, "--json")
		var res PutSecretResult
		if err := json.Unmarshal([]byte(r2.stdout), &res); err != nil || res.Action != "updated" || res.Kind != "marketo" {
			t.Fatalf("update: %v %+v %s", err, res, r2.stderr)
		}
		got, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("certain-marketo/dev/acme-marketo")})
		if err != nil || !strings.Contains(aws.ToString(got.SecretString), secretValue+"-2") {
			t.Fatalf("stored value not updated: %v", err)
		}
		// A wrong shape is refused, naming the key but not the value.
		p3 := filepath.Join(dir, "bad.json")
		os.WriteFile(p3, []byte(`{"username":"u","pasword":"`+secretValue+`"}`), 0o600)
		r3 := cmctl(t, nil, "put-secret", "cert", "--file", p3, "--kind", "certain")
		if r3.code != ExitFailure || !strings.Contains(r3.stderr, `unknown key "pasword"`) {
			t.Errorf("bad secret: exit %d %s", r3.code, r3.stderr)
		}
		for _, out := range []string{r.stdout, r.stderr, r2.stdout, r2.stderr, r3.stdout, r3.stderr} {
			if strings.Contains(out, secretValue) || strings.Contains(out, "cid") {
				t.Errorf("output reveals the secret:\n%s", out)
			}
		}
	})

	t.Run("run in-process on the simulators", func(t *testing.T) {
		env, st := tables(t)
		env["MARKETO_BUDGET_MODE"] = "shared"
		mk := marketotest.NewServer(t)
		ce := certaintest.NewServer(t)
		ce.AddAccount("ACME")
		d := demodata.Generate(demodata.Options{Seed: 7, Registrations: 30, Account: "ACME", Events: []string{"HS26"}})
		if err := d.SeedCertain(ce); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		mf, cf := filepath.Join(dir, "m.json"), filepath.Join(dir, "c.json")
		os.WriteFile(mf, fmt.Appendf(nil, `{"baseURL":%q,"clientId":%q,"clientSecret":%q}`, mk.URL, mk.ClientID(), mk.ClientSecret()), 0o600)
		os.WriteFile(cf, fmt.Appendf(nil, `{"username":%q,"password":%q}`, certaintest.DefaultUsername, certaintest.DefaultPassword), 0o600)
		for name, file := range map[string]string{"run-test/marketo": mf, "run-test/certain": cf} {
			if r := cmctl(t, nil, "put-secret", name, "--file", file); r.code != ExitOK {
				t.Fatalf("put-secret %s: %s", name, r.stderr)
			}
		}
		fieldsJSON, _ := json.Marshal(ce.Fields())
		cfgFile := filepath.Join(dir, "acme.json")
		os.WriteFile(cfgFile, fmt.Appendf(nil, `[
		 {"kind":"connection","account":"ACME","certainBaseURL":%q,"certainSecret":"run-test/certain","marketoSecret":"run-test/marketo",
		  "allowHTTP":true,"certainFields":%s,
		  "fieldMapping":[{"certain":"email","marketo":"email"},{"certain":"firstName","marketo":"firstName"},{"certain":"lastName","marketo":"lastName"}]},
		 {"kind":"job","id":"hs26-sync","account":"ACME","event":"HS26","type":"sync-leads","name":"sync","enabled":true,
		  "schedule":{"interval":"15m"},"params":{"statuses":["Attended","Pre-Registered","New","Invited","Cancelled"]}}]`, ce.URL, fieldsJSON), 0o600)
		if r := cmctl(t, env, "put", cfgFile); r.code != ExitOK {
			t.Fatalf("put: %s", r.stderr)
		}
		// A plan first: what the run will do, with nothing written.
		pr := cmctlProgress(t, env, 5*time.Millisecond, "plan", "hs26-sync", "--in-process", "--json")
		if pr.code != ExitOK {
			t.Fatalf("plan: exit %d\n%s\n%s", pr.code, pr.stdout, pr.stderr)
		}
		var plan jobs.Plan
		if err := json.Unmarshal([]byte(pr.stdout), &plan); err != nil {
			t.Fatalf("plan output: %v\n%s", err, pr.stdout)
		}
		if !plan.DryRun || !plan.Complete || plan.Counts["created"] == 0 || plan.Writes.Calls.SyncLeads == 0 || len(plan.Records) != plan.Totals.Records {
			t.Fatalf("plan %+v", plan)
		}
		for _, c := range mk.Calls() {
			if c.Method == "POST" && !strings.Contains(c.URL, "_method=GET") && !strings.HasPrefix(c.Path, "/identity") {
				t.Errorf("the plan wrote to Marketo: %s", c.URL)
			}
		}
		for _, c := range ce.Calls() {
			if c.Method != "GET" {
				t.Errorf("the plan wrote to Certain: %s %s", c.Method, c.Path)
			}
		}
		if runs, _ := st.ListRuns(ctx, "hs26-sync", 5); len(runs) != 0 {
			t.Errorf("the plan left runs: %+v", runs)
		}
		if s, _ := st.GetJobState(ctx, "hs26-sync"); s.Version != 0 || !s.NextDue.IsZero() {
			t.Errorf("the plan moved the job's state: %+v", s)
		}
		if !strings.Contains(pr.stderr, "plan hs26-sync: read ") {
			t.Errorf("no progress line on stderr:\n%s", pr.stderr)
		}
		tr := cmctl(t, env, "plan", "hs26-sync", "--in-process", "--limit", "2")
		if tr.code != ExitOK || !strings.Contains(tr.stdout, "plan of job hs26-sync (sync-leads, ACME/HS26): a dry run, nothing was written") ||
			!strings.Contains(tr.stdout, fmt.Sprintf("records (2 of %d records; --limit N for more):", plan.Totals.Records)) ||
			!strings.Contains(tr.stdout, fmt.Sprintf("%d created", plan.Counts["created"])) {
			t.Errorf("plan text: exit %d\n%s\n%s", tr.code, tr.stdout, tr.stderr)
		}
		r := cmctl(t, env, "run", "hs26-sync", "--in-process", "--json")
		if r.code != ExitOK {
			t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		var sum struct {
			RunID        string         `json:"runId"`
			Outcome      string         `json:"outcome"`
			Counts       map[string]int `json:"counts"`
			MarketoCalls int            `json:"marketoCalls"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
			t.Fatalf("run output: %v\n%s", err, r.stdout)
		}
		if sum.Outcome != store.RunSucceeded || sum.Counts["created"] == 0 || sum.MarketoCalls == 0 {
			t.Fatalf("run summary %+v", sum)
		}
		for _, k := range []string{"created", "updated", "skipped", "failed", "unchanged"} {
			if sum.Counts[k] != plan.Counts[k] {
				t.Errorf("%s: planned %d, ran %d", k, plan.Counts[k], sum.Counts[k])
			}
		}
		// The run is recorded where runs and list-jobs read it.
		rr := cmctl(t, env, "runs", "hs26-sync", "--json")
		var rows []RunRow
		if err := json.Unmarshal([]byte(rr.stdout), &rows); err != nil || len(rows) != 1 || rows[0].ID != sum.RunID || rows[0].Trigger != "direct" {
			t.Fatalf("runs after run: %v %+v", err, rows)
		}
		if s, _ := st.GetJobState(ctx, "hs26-sync"); s.LastRunID != sum.RunID || s.LastOutcome != store.RunSucceeded {
			t.Errorf("job state after run: %+v", s)
		}
		// A trigger-campaign job is not run on demand.
		tc := filepath.Join(dir, "tc.json")
		os.WriteFile(tc, []byte(`{"kind":"job","id":"tc","account":"ACME","event":"HS26","type":"trigger-campaign","name":"t","enabled":true,
		  "schedule":{"interval":"15m"},"params":{"campaignId":5,"toStatus":"Attended"}}`), 0o600)
		if r := cmctl(t, env, "put", tc); r.code != ExitOK {
			t.Fatalf("put tc: %s", r.stderr)
		}
		// A trigger-campaign job is planned for the registrations named.
		regCode := d.Registrations[0].Code
		r = cmctlProgress(t, env, 5*time.Millisecond, "plan", "tc", "--in-process", "--registration", regCode, "--json")
		var tplan jobs.Plan
		if err := json.Unmarshal([]byte(r.stdout), &tplan); r.code != ExitOK || err != nil || tplan.Totals.Changes != 1 || tplan.Changes[0].RegistrationCode != regCode {
			t.Errorf("plan tc: exit %d %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, "plan tc: read ") {
			t.Errorf("no progress line for the trigger plan on stderr:\n%s", r.stderr)
		}
		if r = cmctl(t, env, "plan", "hs26-sync", "--in-process", "--registration", regCode); r.code != ExitUsage {
			t.Errorf("--registration on a sync-leads job: exit %d %s", r.code, r.stderr)
		}
		r = cmctl(t, env, "run", "tc", "--in-process")
		if r.code != ExitFailure || !strings.Contains(r.stderr, `job "tc" is a trigger-campaign job: it runs on registration changes from the queue, not on demand`) {
			t.Errorf("run trigger-campaign: exit %d %s", r.code, r.stderr)
		}
	})

	t.Run("retry-failures re-drives a trigger run's failed changes once", func(t *testing.T) {
		env, st := tables(t)
		env["MARKETO_BUDGET_MODE"] = "shared"
		mk := marketotest.NewServer(t)
		ce := certaintest.NewServer(t)
		ce.AddAccount("ACME")
		ce.AddEvent("ACME", map[string]any{"eventCode": "HS26", "eventName": "Harbour Summit"})
		mk.AddCampaign(marketotest.Campaign{ID: 5150, Name: "Registered", Type: "trigger", Active: true, Requestable: true})
		twin1 := mk.AddLead(marketo.Lead{"email": "twin@example.org"})
		twin2 := mk.AddLead(marketo.Lead{"email": "twin@example.org"})
		pin := ce.AddProfile("ACME", map[string]any{"email": "twin@example.org"})
		code := ce.AddRegistration("ACME", "HS26", pin, map[string]any{"registrationStatusLabel": "Pre-Registered"})
		dir := t.TempDir()
		mf, cf := filepath.Join(dir, "m.json"), filepath.Join(dir, "c.json")
		os.WriteFile(mf, fmt.Appendf(nil, `{"baseURL":%q,"clientId":%q,"clientSecret":%q}`, mk.URL, mk.ClientID(), mk.ClientSecret()), 0o600)
		os.WriteFile(cf, fmt.Appendf(nil, `{"username":%q,"password":%q}`, certaintest.DefaultUsername, certaintest.DefaultPassword), 0o600)
		for name, file := range map[string]string{"retry-test/marketo": mf, "retry-test/certain": cf} {
			if r := cmctl(t, nil, "put-secret", name, "--file", file); r.code != ExitOK {
				t.Fatalf("put-secret %s: %s", name, r.stderr)
			}
		}
		fieldsJSON, _ := json.Marshal(ce.Fields())
		cfgFile := filepath.Join(dir, "acme.json")
		os.WriteFile(cfgFile, fmt.Appendf(nil, `[
		 {"kind":"connection","account":"ACME","certainBaseURL":%q,"certainSecret":"retry-test/certain","marketoSecret":"retry-test/marketo",
		  "allowHTTP":true,"certainFields":%s,"fieldMapping":[{"certain":"email","marketo":"email"}]},
		 {"kind":"job","id":"hs26-registered","account":"ACME","event":"HS26","type":"trigger-campaign","name":"registered","enabled":true,
		  "schedule":{"interval":"15m"},"params":{"campaignId":5150,"toStatus":"Pre-Registered"}}]`, ce.URL, fieldsJSON), 0o600)
		if r := cmctl(t, env, "put", cfgFile); r.code != ExitOK {
			t.Fatalf("put: %s", r.stderr)
		}
		// The change arrives while two Marketo leads share the e-mail: the
		// campaign cannot be requested (1007).
		mkc, err := mk.NewClient()
		if err != nil {
			t.Fatal(err)
		}
		cc, err := certain.New(ce.Config())
		if err != nil {
			t.Fatal(err)
		}
		tr := &jobs.Trigger{Store: st, Connector: staticConnector{jobs.Clients{Marketo: mkc, Certain: cc}}}
		msg := jobs.NewChange("ACME", "HS26", code, "Invited", "Pre-Registered", time.Now().UTC().Truncate(time.Second))
		for _, err := range tr.Handle(ctx, []jobs.ChangeMessage{msg}) {
			if err != nil {
				t.Fatal(err)
			}
		}
		runs, err := st.ListRuns(ctx, "hs26-registered", 1)
		if err != nil || len(runs) != 1 || runs[0].Counts[store.OutcomeFailed] != 1 {
			t.Fatalf("trigger run %+v %v, want one failed change", runs, err)
		}
		runID := runs[0].ID
		retry := func(wantCode int) retryJSON {
			t.Helper()
			r := cmctl(t, env, "retry-failures", runID, "--json")
			var out retryJSON
			if r.code != wantCode || json.Unmarshal([]byte(r.stdout), &out) != nil || len(out.Changes) != 1 {
				t.Fatalf("retry-failures: exit %d, want %d\n%s\n%s", r.code, wantCode, r.stdout, r.stderr)
			}
			return out
		}
		// Not fixed yet: it fails again, with the reason.
		if out := retry(ExitFailure); out.Changes[0].Result != store.OutcomeFailed || out.Changes[0].Code != "1007" || out.Changes[0].RunID == "" {
			t.Fatalf("before the fix: %+v", out.Changes)
		}
		mk.MergeLeads(twin1, twin2)
		if out := retry(ExitOK); out.Changes[0].Result != store.OutcomeRequested || out.Changes[0].Registration != code {
			t.Fatalf("after the fix: %+v", out.Changes)
		}
		if out := retry(ExitOK); out.Changes[0].Result != jobs.RedriveDuplicate {
			t.Fatalf("third time: %+v, want duplicate", out.Changes)
		}
		reqs := mk.CampaignRequests()
		if len(reqs) != 1 || len(reqs[0].LeadIDs) != 1 || reqs[0].LeadIDs[0] != twin1 {
			t.Fatalf("campaign requests %+v, want exactly one for lead %d", reqs, twin1)
		}
		// Only trigger-campaign runs are re-driven; an unknown run is named.
		if r := cmctl(t, env, "retry-failures", "no-such-run"); r.code != ExitFailure || !strings.Contains(r.stderr, `run "no-such-run": not found`) {
			t.Errorf("unknown run: exit %d %s", r.code, r.stderr)
		}
		if err := st.PutRun(ctx, store.Run{ID: "sync-run", JobID: "hs26-sync", JobType: config.TypeSyncLeads, Started: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if r := cmctl(t, env, "retry-failures", "sync-run"); r.code != ExitFailure || !strings.Contains(r.stderr, "retry-failures re-drives trigger-campaign changes") {
			t.Errorf("sync-leads run: exit %d %s", r.code, r.stderr)
		}
	})

	t.Run("probe-marketo by account, credentials from Secrets Manager", func(t *testing.T) {
		env, _ := tables(t)
		sim := marketoProbeSim(t)
		dir := t.TempDir()
		mf := filepath.Join(dir, "m.json")
		os.WriteFile(mf, fmt.Appendf(nil, `{"baseURL":%q,"identityURL":%q,"clientId":%q,"clientSecret":%q}`, sim.URL, sim.URL+"/identity", sim.ClientID(), sim.ClientSecret()), 0o600)
		if r := cmctl(t, nil, "put-secret", "probe-test/marketo", "--file", mf); r.code != ExitOK {
			t.Fatalf("put-secret: %s", r.stderr)
		}
		cfgFile := filepath.Join(dir, "acme.json")
		os.WriteFile(cfgFile, []byte(`[
		 {"kind":"connection","account":"ACME","certainBaseURL":"https://acme.certain.example","certainSecret":"probe-test/certain",
		  "marketoSecret":"probe-test/marketo","allowHTTP":true,"quotaZone":"UTC-6",
		  "fieldMapping":[{"certain":"email","marketo":"email"},{"certain":"registration.isConfirmed","marketo":"attendedBefore"}]},
		 {"kind":"job","id":"hs26-import","account":"ACME","event":"HS26","type":"import-leads","name":"i","enabled":true,
		  "schedule":{"interval":"15m"},"params":{"listId":1001,"registrationStatus":"Invited"}},
		 {"kind":"job","id":"hs26-trigger","account":"ACME","event":"HS26","type":"trigger-campaign","name":"t","enabled":true,
		  "schedule":{"interval":"15m"},"params":{"campaignId":2001,"toStatus":"Attended"}}]`), 0o600)
		if r := cmctl(t, env, "put", cfgFile); r.code != ExitOK {
			t.Fatalf("put: %s", r.stderr)
		}
		r := cmctl(t, env, "probe-marketo", "--connection", "ACME")
		if r.code != ExitOK {
			t.Fatalf("probe: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"PASS  credentials", "PASS  lead field attendedBefore", `from Certain "registration.isConfirmed" (boolean)`,
			"PASS  job hs26-import: static list 1001", "PASS  job hs26-trigger: campaign 2001", "6 checks, 0 failed"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("probe output lacks %q:\n%s", want, r.stdout)
			}
		}
		if strings.Contains(r.stdout+r.stderr, sim.ClientSecret()) {
			t.Error("the probe printed the client secret")
		}
	})

}

// staticConnector hands out fixed clients.
type staticConnector struct{ cl jobs.Clients }

func (s staticConnector) Connect(context.Context, config.Connection) (jobs.Clients, error) {
	return s.cl, nil
}
