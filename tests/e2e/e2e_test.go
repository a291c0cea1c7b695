package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/certain-marketo/certain-marketo/infra/cmctl/ops"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/dynamostore"
	"github.com/certain-marketo/certain-marketo/lib/testkit/awstest"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
	"github.com/certain-marketo/certain-marketo/lib/testkit/external"
	"github.com/certain-marketo/certain-marketo/lib/testkit/rie"
)

const stage = "e2e"

// world is everything the functions run against, seeded.
type world struct {
	t        *testing.T
	rieBin   string
	bin      string // host bootstraps, one file per function
	envs     map[string][]string
	data     *demodata.Dataset
	mkto     *marketotest.Server
	cert     *certaintest.Server
	store    *dynamostore.Store
	sqs      *sqs.Client
	queue    string // change queue URL
	queueARN string
	work     map[string]workQueue  // each function's work queue, by directory
	alerts   alerts                // the operations topic and the queue subscribed to it
	jobs     map[string]config.Job // by type
	timings  []string
}

func TestScheduledJobsAndCampaignChainUnderRIE(t *testing.T) {
	start := time.Now()
	w := setup(t)

	// Each scheduled function runs its job by direct invocation.
	w.importLeads()
	w.importProfiles()
	w.syncLeads()
	w.metrics(config.TypeEngagementMetrics, "engagement-metrics", demodata.EngagementObject)
	w.metrics(config.TypeInterestMetrics, "interest-metrics", demodata.InterestObject)

	// The chain: detector -> queue -> trigger-campaign -> Marketo.
	w.campaignChain()

	// The fan-out: a tick queues each due job, each runs in its own
	// invocation, and a run stopped at its deadline continues from its own
	// message.
	w.fanOut()

	// A run that fails publishes one notice to the operations topic.
	w.failedRunNotice()

	t.Logf("invocations (each: emulator start, cold init, one event):\n  %s", strings.Join(w.timings, "\n  "))
	t.Logf("whole test %v", time.Since(start).Round(time.Millisecond))
}

func setup(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	external.Moto(t)
	w := &world{t: t, rieBin: rie.Binary(t), bin: t.TempDir(), jobs: map[string]config.Job{}}

	rie.BuildLocal(t, w.bin) // once per test run, into a temporary directory

	moto := awstest.StartMoto(t)
	cfg := moto.Config(t)
	names := dynamostore.TableNames{Config: "certain-marketo-e2e-config", State: "certain-marketo-e2e-state"}
	if err := awstest.CreateTables(ctx, cfg, names); err != nil {
		t.Fatalf("create tables: %v", err)
	}
	st, err := dynamostore.New(dynamodb.NewFromConfig(cfg), names.Config, names.State)
	if err != nil {
		t.Fatal(err)
	}
	w.store = st

	// The change queue and its DLQ, as the template declares them.
	w.sqs = sqs.NewFromConfig(cfg)
	dlq := w.createQueue(ctx, "certain-marketo-e2e-RegistrationChangeDLQ", nil)
	redrive, _ := json.Marshal(map[string]string{"deadLetterTargetArn": dlq, "maxReceiveCount": "5"})
	w.queueARN = w.createQueue(ctx, "certain-marketo-e2e-RegistrationChangeQueue", map[string]string{
		"VisibilityTimeout": "900", "RedrivePolicy": string(redrive)})

	// Each function's work queue and its DLQ.
	w.work = w.createWorkQueues(ctx)

	// The operations topic, with a queue subscribed to read the notices.
	w.alerts = newAlerts(t, ctx, cfg, w.sqs)

	// The simulators, with the demo data set and credentials known only to
	// them and to Secrets Manager.
	w.data = demodata.Demo()
	w.mkto = marketotest.NewServer(t, marketotest.WithCredentials("e2e-client", "e2e-marketo-secret"))
	w.cert = certaintest.NewServer(t, certaintest.WithCredentials("e2e-user", "e2e-certain-password"),
		certaintest.WithFieldNames(w.data.Options.Fields))
	w.cert.AddAccount(w.data.Account)
	if err := w.data.SeedCertain(w.cert); err != nil {
		t.Fatalf("seed Certain: %v", err)
	}
	if err := w.data.SeedMarketo(w.mkto); err != nil {
		t.Fatalf("seed Marketo: %v", err)
	}
	w.mkto.AddList(demodata.ProfilesListID, demodata.ProfilesListName, demodata.ProfilesListLeads(w.data))

	// Secrets by name under certain-marketo/<stage>/, referenced by ARN from
	// the connection, as the template's outputs suggest.
	sm := secretsmanager.NewFromConfig(cfg)
	put := func(name, kind, value string) string {
		if _, err := ops.CheckSecret(ctx, name, kind, []byte(value)); err != nil {
			t.Fatalf("secret %s: %v", name, err)
		}
		res, err := ops.PutSecret(ctx, sm, name, value)
		if err != nil {
			t.Fatal(err)
		}
		return res.ARN
	}
	marketoARN := put("certain-marketo/"+stage+"/marketo", "marketo",
		fmt.Sprintf(`{"baseURL":%q,"clientId":"e2e-client","clientSecret":"e2e-marketo-secret"}`, w.mkto.URL))
	certainARN := put("certain-marketo/"+stage+"/certain", "certain", `{"username":"e2e-user","password":"e2e-certain-password"}`)

	conn := demodata.DemoConnection(w.data, w.cert.URL, w.cert.Fields())
	conn.MarketoSecret, conn.CertainSecret = marketoARN, certainARN
	if !conn.AllowHTTP {
		t.Fatal("the demo connection must allow http:// (the simulators are plain HTTP)")
	}
	if err := st.PutConnection(ctx, conn); err != nil {
		t.Fatalf("store connection: %v", err)
	}
	for _, j := range demodata.DemoJobs(w.data) {
		if err := st.PutJob(ctx, j); err != nil {
			t.Fatalf("store job %s: %v", j.ID, err)
		}
		if _, dup := w.jobs[j.Type]; dup {
			t.Fatalf("two demo jobs of type %s", j.Type)
		}
		w.jobs[j.Type] = j
	}
	for _, typ := range []string{config.TypeImportLeads, config.TypeImportProfiles, config.TypeSyncLeads,
		config.TypeEngagementMetrics, config.TypeInterestMetrics, config.TypeTriggerCampaign} {
		if _, ok := w.jobs[typ]; !ok {
			t.Fatalf("no job of type %s seeded", typ)
		}
	}

	// The environment each function gets, with the Marketo budget shared
	// through the state table as deployed.
	refs := map[string]string{
		"Stage": stage, "ConfigTable": names.Config, "StateTable": names.State,
		"RegistrationChangeQueue": w.queue, "MarketoBudgetMode": "shared",
		"AlertTopic": w.alerts.topicARN, "RunNoticeQuiet": "6h",
	}
	for _, q := range w.work {
		refs[q.id] = q.url
	}
	w.envs = map[string][]string{}
	for dir, f := range readTemplate(t) {
		w.envs[dir] = lambdaEnv(t, f, refs, moto.Endpoint)
	}
	if got := envValue(w.envs["registration-changes"], "CHANGE_QUEUE_URL"); got != w.queue {
		t.Fatalf("registration-changes gets CHANGE_QUEUE_URL=%q, want the change queue %q", got, w.queue)
	}
	for fn, q := range w.work {
		if got := envValue(w.envs[fn], "WORK_QUEUE_URL"); got != q.url {
			t.Fatalf("%s gets WORK_QUEUE_URL=%q, want its work queue %s", fn, got, q.url)
		}
	}
	return w
}

// createQueue creates a queue and returns its ARN; the first call's URL is
// kept as the change queue when attrs are given.
func (w *world) createQueue(ctx context.Context, name string, attrs map[string]string) string {
	w.t.Helper()
	out, err := w.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		w.t.Fatalf("create queue %s: %v", name, err)
	}
	a, err := w.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		w.t.Fatalf("queue %s attributes: %v", name, err)
	}
	if attrs != nil {
		w.queue = aws.ToString(out.QueueUrl)
	}
	return a.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
}

// invoke runs one function's bootstrap under the emulator with event and
// decodes its response into out. A function error fails the test with the
// function's logs; every line it printed must be a JSON log line.
func (w *world) invoke(fn, what string, event []byte, out any) {
	w.t.Helper()
	env, ok := w.envs[fn]
	if !ok {
		w.t.Fatalf("no function %s", fn)
	}
	t0 := time.Now()
	resp, logs := rie.Invoke(w.t, w.rieBin, filepath.Join(w.bin, fn), env, event)
	took := time.Since(t0)
	w.timings = append(w.timings, fmt.Sprintf("%-22s %-40s %v", fn, what, took.Round(time.Millisecond)))
	var probe struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	if err := json.Unmarshal(resp, &probe); err != nil {
		w.t.Fatalf("%s (%s): response is not JSON: %q\nlogs:\n%s", fn, what, resp, logs)
	}
	if probe.ErrorType != "" || probe.ErrorMessage != "" {
		w.t.Fatalf("%s (%s) failed: %s\nlogs:\n%s", fn, what, resp, logs)
	}
	rie.CheckJSONLogLines(w.t, logs)
	if err := json.Unmarshal(resp, out); err != nil {
		w.t.Fatalf("%s (%s): decode response %s: %v", fn, what, resp, err)
	}
}

// directRun invokes fn with the direct-run event (events/direct-run.json's
// shape) for the job of type typ, which queues it; the queued message,
// handed back to fn as its work queue's event source mapping would, runs
// it under the run id the first invocation answered. It checks that run
// record and returns it.
func (w *world) directRun(fn, typ string) store.Run {
	w.t.Helper()
	ctx := context.Background()
	j := w.jobs[typ]
	r := w.queuedRun(fn, "direct run of "+j.ID, j.ID)
	runs, err := w.store.ListRuns(ctx, j.ID, 10)
	if err != nil {
		w.t.Fatalf("list runs of %s: %v", j.ID, err)
	}
	if len(runs) != 1 || runs[0].ID != r.ID {
		w.t.Fatalf("%s: runs in DynamoDB %+v, want exactly the queued run %s", j.ID, runs, r.ID)
	}
	if r.Outcome != store.RunSucceeded && r.Outcome != store.RunPartial {
		w.t.Fatalf("%s: run outcome %s (%s), want succeeded or partial", j.ID, r.Outcome, r.Error)
	}
	if r.Trigger != "direct" || r.JobID != j.ID {
		w.t.Errorf("%s: run %+v, want a direct run of the job", j.ID, r)
	}
	w.timings[len(w.timings)-1] += fmt.Sprintf("  %s %v, %d Marketo / %d Certain calls", r.Outcome, r.Counts, r.MarketoCalls, r.CertainCalls)
	if r.Counts[store.OutcomeFailed] > 0 {
		failed, err := w.store.ListOutcomes(ctx, r.ID, store.OutcomeFailed)
		if err != nil {
			w.t.Fatalf("%s: list failures: %v", j.ID, err)
		}
		by := map[string]int{}
		for _, o := range failed {
			by[o.Code+" "+o.Reason]++
		}
		w.timings[len(w.timings)-1] += fmt.Sprintf("; failures %v", by)
	}
	return r
}

// profileByEmail indexes the account's Certain profiles by lower-cased email.
func (w *world) profileByEmail() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, p := range w.cert.Profiles(w.data.Account) {
		if e, _ := p["email"].(string); e != "" {
			out[strings.ToLower(e)] = p
		}
	}
	return out
}

// import-leads registers the list's leads in the event: every lead of the
// static list that has an email is now registered in Certain with the job's
// status, and the run's created count is the registrations added.
func (w *world) importLeads() {
	w.t.Helper()
	ev := w.jobs[config.TypeImportLeads].Event
	before := len(w.cert.Registrations(w.data.Account, ev))
	r := w.directRun("import-leads", config.TypeImportLeads)
	regs := w.cert.Registrations(w.data.Account, ev)
	if added := len(regs) - before; added == 0 || added != r.Counts[store.OutcomeCreated] {
		w.t.Errorf("import-leads: %d registrations added in Certain, run counts %v", added, r.Counts)
	}
	f := w.cert.Fields()
	registered := map[string]string{} // email -> status
	for _, reg := range regs {
		p, _ := reg["profile"].(map[string]any)
		if e, _ := p["email"].(string); e != "" {
			registered[strings.ToLower(e)] = fmt.Sprint(reg[f.RegistrationStatus])
		}
	}
	byID := map[int]string{}
	for _, l := range w.mkto.Leads() {
		byID[l.ID()] = l.Email()
	}
	checked := 0
	for _, id := range w.data.Marketo.List.LeadIDs {
		email := strings.ToLower(byID[id])
		if !strings.Contains(email, "@") {
			continue
		}
		checked++
		if _, ok := registered[email]; !ok {
			w.t.Errorf("import-leads: list lead %d (%s) is not registered in Certain event %s", id, email, ev)
		}
	}
	if checked == 0 {
		w.t.Errorf("import-leads: the list %d has no lead with an email to check", w.data.Marketo.List.ID)
	}
}

// import-profiles creates a Certain profile for each list lead Certain did
// not know.
func (w *world) importProfiles() {
	w.t.Helper()
	before := len(w.cert.Profiles(w.data.Account))
	r := w.directRun("import-leads", config.TypeImportProfiles)
	if added := len(w.cert.Profiles(w.data.Account)) - before; added == 0 || added != r.Counts[store.OutcomeCreated] {
		w.t.Errorf("import-profiles: %d profiles added in Certain, run counts %v", added, r.Counts)
	}
}

// sync-leads creates or updates Marketo leads for the event's registrations
// in the job's statuses. Outcomes are per registration, and registrations
// whose profiles share an email (in any case) share one lead, so: the new
// leads are exactly the distinct emails of the "created" outcomes, each such
// email has one lead, each new lead carries a Certain profile's email, and
// every "updated" outcome is a lead that existed before.
func (w *world) syncLeads() {
	w.t.Helper()
	ctx := context.Background()
	before := map[int]bool{}
	for _, l := range w.mkto.Leads() {
		before[l.ID()] = true
	}
	r := w.directRun("sync-leads", config.TypeSyncLeads)
	outcome := func(o string) []store.RecordOutcome {
		outs, err := w.store.ListOutcomes(ctx, r.ID, o)
		if err != nil {
			w.t.Fatalf("sync-leads: list %s outcomes: %v", o, err)
		}
		if len(outs) != r.Counts[o] {
			w.t.Errorf("sync-leads: %d %s outcomes stored, run counts %v", len(outs), o, r.Counts)
		}
		return outs
	}
	created := map[string]bool{}
	for _, o := range outcome(store.OutcomeCreated) {
		created[strings.ToLower(o.Email)] = true
	}
	for email := range created {
		if ls := w.mkto.LeadsByEmail(email); len(ls) != 1 || before[ls[0].ID()] {
			w.t.Errorf("sync-leads reported %s created; Marketo has leads %v for it (want one new lead)", email, ls)
		}
	}
	for _, o := range outcome(store.OutcomeUpdated) {
		ls := w.mkto.LeadsByEmail(o.Email)
		if len(ls) != 1 || !before[ls[0].ID()] {
			w.t.Errorf("sync-leads reported %s (%s) updated; Marketo has leads %v for it (want one that existed before)", o.Key, o.Email, ls)
		}
	}
	profiles := w.profileByEmail()
	added := 0
	for _, l := range w.mkto.Leads() {
		if before[l.ID()] {
			continue
		}
		added++
		email := strings.ToLower(l.Email())
		if _, ok := profiles[email]; !ok || !created[email] {
			w.t.Errorf("sync-leads created Marketo lead %d (%q): in Certain %v, reported created %v", l.ID(), email, ok, created[email])
		}
	}
	if added == 0 || added != len(created) {
		w.t.Errorf("sync-leads: %d leads added in Marketo, %d distinct emails reported created (counts %v)", added, len(created), r.Counts)
	}
	w.timings[len(w.timings)-1] += fmt.Sprintf("; %d new leads", added)
}

// engagement-metrics and interest-metrics write one custom object record per
// lead they created a record for.
func (w *world) metrics(typ, fn, object string) {
	w.t.Helper()
	before := len(w.mkto.CustomObjectRecords(object))
	r := w.directRun(fn, typ)
	if added := len(w.mkto.CustomObjectRecords(object)) - before; added == 0 || added != r.Counts[store.OutcomeCreated] {
		w.t.Errorf("%s: %d %s records added in Marketo, run counts %v", fn, added, object, r.Counts)
	}
}

// campaignChain: a baseline detector tick, a status change in Certain, a
// second tick that queues it on the moto queue, trigger-campaign handed that
// message as Lambda's event source mapping would, exactly one campaign
// request with the configured tokens, and none more on redelivery.
func (w *world) campaignChain() {
	w.t.Helper()
	ctx := context.Background()
	tj := w.jobs[config.TypeTriggerCampaign]
	ev := tj.Event

	base, polls := w.detectorTick("baseline")
	if base.Scopes == 0 || polls["DetectorScopesPolled"] != float64(base.Queued) || polls["DetectorScopesFailed"] != 0 ||
		polls["DetectorRegistrationsRead"] == 0 || polls["DetectorChangesSent"] != 0 {
		w.t.Fatalf("baseline: queued %+v, polls %v; want every scope polled, registrations read, nothing sent", base, polls)
	}
	if _, ok, err := w.store.GetWatermark(ctx, jobs.DetectorScope(w.data.Account, ev)); err != nil || !ok {
		w.t.Fatalf("no watermark for %s/%s after the baseline (%v): the trigger job's event was not polled", w.data.Account, ev, err)
	}
	w.timings[len(w.timings)-1] += fmt.Sprintf("  %d scopes, read %v, sent %v", base.Queued, polls["DetectorRegistrationsRead"], polls["DetectorChangesSent"])
	if n := w.queueDepth(ctx); n != 0 {
		w.t.Fatalf("%d messages on the change queue after the baseline tick, want 0", n)
	}

	// A person in Certain moves one registration from the trigger's from-status
	// to its to-status.
	f := w.cert.Fields()
	var code string
	var profile map[string]any
	for _, r := range w.cert.Registrations(w.data.Account, ev) {
		p, _ := r["profile"].(map[string]any)
		if fmt.Sprint(r[f.RegistrationStatus]) == tj.Params.FromStatus && p != nil && p["email"] != nil {
			code, profile = fmt.Sprint(r["registrationCode"]), p
			break
		}
	}
	if code == "" {
		w.t.Fatalf("no %s registration in %s to change", tj.Params.FromStatus, ev)
	}
	w.cert.SetRegistrationStatus(w.data.Account, ev, code, tj.Params.ToStatus)
	if err := w.cert.Err(); err != nil {
		w.t.Fatalf("set status: %v", err)
	}

	_, second := w.detectorTick("tick after the status change")
	w.timings[len(w.timings)-1] += fmt.Sprintf("  read %v, sent %v", second["DetectorRegistrationsRead"], second["DetectorChangesSent"])
	if second["DetectorChangesSent"] != 1 || second["DetectorScopesFailed"] != 0 {
		w.t.Fatalf("second tick: polls %v, want exactly the one change sent", second)
	}
	msg := w.receiveOne(ctx)
	change, err := jobs.DecodeChange([]byte(aws.ToString(msg.Body)))
	if err != nil {
		w.t.Fatalf("the queued message is not a registration change: %v: %s", err, aws.ToString(msg.Body))
	}
	if change.RegistrationCode != code || change.NewStatus != tj.Params.ToStatus || change.PreviousStatus != tj.Params.FromStatus || change.Event != ev {
		w.t.Fatalf("queued change %+v, want %s %s -> %s in %s", change, code, tj.Params.FromStatus, tj.Params.ToStatus, ev)
	}

	sqsEvent := w.sqsEvent(msg)
	reqs0 := len(w.mkto.CampaignRequests())
	w.trigger(sqsEvent, "the queued change")
	leadID := w.leadOf(code)
	want := []string{
		"{{my.EventName}}=" + eventName(w.data, ev),
		"{{my.RegistrationCode}}=" + code,
		"{{my.Company}}=" + fmt.Sprint(profile["organization"]),
	}
	w.checkOneRequest(reqs0, tj.Params.CampaignID, leadID, want)
	runs, err := w.store.ListRuns(ctx, tj.ID, 10)
	if err != nil {
		w.t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Counts[store.OutcomeRequested] != 1 {
		w.t.Errorf("trigger-campaign runs in DynamoDB %+v, want one run with one requested", runs)
	} else {
		w.timings[len(w.timings)-1] += fmt.Sprintf("  %s %v", runs[0].Outcome, runs[0].Counts)
	}

	// Lambda deletes a message the function did not report as failed.
	if _, err := w.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(w.queue), ReceiptHandle: msg.ReceiptHandle}); err != nil {
		w.t.Fatalf("delete message: %v", err)
	}
	// A redelivery (SQS is at-least-once) of the same message: no second request.
	w.trigger(sqsEvent, "redelivery of the same message")
	w.checkOneRequest(reqs0, tj.Params.CampaignID, leadID, want)
	if runs, err = w.store.ListRuns(ctx, tj.ID, 10); err != nil {
		w.t.Fatal(err)
	}
	requested := 0
	for _, r := range runs {
		requested += r.Counts[store.OutcomeRequested]
	}
	if requested != 1 {
		w.t.Errorf("trigger-campaign runs after the redelivery %+v: %d requested in all, want 1", runs, requested)
	}
	w.timings[len(w.timings)-1] += fmt.Sprintf("  %d runs stored, %d requested in all", len(runs), requested)
	if n := w.queueDepth(ctx); n != 0 {
		w.t.Errorf("%d messages left on the change queue, want 0", n)
	}
}

func eventName(d *demodata.Dataset, code string) string {
	for _, e := range d.Events {
		if e.Code == code {
			return e.Name
		}
	}
	return ""
}

// trigger invokes trigger-campaign with ev and requires no batch item failure.
func (w *world) trigger(ev events.SQSEvent, what string) {
	w.t.Helper()
	payload, err := json.Marshal(ev)
	if err != nil {
		w.t.Fatal(err)
	}
	var resp events.SQSEventResponse
	w.invoke("trigger-campaign", what, payload, &resp)
	if len(resp.BatchItemFailures) != 0 {
		w.t.Fatalf("trigger-campaign (%s) reported failures %+v", what, resp.BatchItemFailures)
	}
}

// leadOf is the Marketo lead id the registration's profile holds (External
// Profile ID) after trigger-campaign.
func (w *world) leadOf(code string) int {
	w.t.Helper()
	f := w.cert.Fields()
	for _, r := range w.cert.Registrations(w.data.Account, w.jobs[config.TypeTriggerCampaign].Event) {
		if fmt.Sprint(r["registrationCode"]) != code {
			continue
		}
		p, _ := r["profile"].(map[string]any)
		id, err := strconv.Atoi(fmt.Sprint(p[f.ExternalID]))
		if err != nil {
			w.t.Fatalf("registration %s: profile %s=%v, want the Marketo lead id", code, f.ExternalID, p[f.ExternalID])
		}
		email := strings.ToLower(fmt.Sprint(p["email"]))
		for _, l := range w.mkto.LeadsByEmail(email) {
			if l.ID() == id {
				return id
			}
		}
		w.t.Fatalf("registration %s: profile points at lead %d, which is not the Marketo lead of %s", code, id, email)
	}
	w.t.Fatalf("registration %s not found", code)
	return 0
}

// checkOneRequest asserts that since the first reqs0 requests the Marketo
// simulator logged exactly one campaign request, for campaign and lead,
// with the tokens want ("name=value", in order).
func (w *world) checkOneRequest(reqs0, campaign, lead int, want []string) {
	w.t.Helper()
	reqs := w.mkto.CampaignRequests()[reqs0:]
	n := 0
	for _, r := range reqs {
		if !slices.Contains(r.LeadIDs, lead) {
			continue
		}
		n++
		var got []string
		for _, tk := range r.Tokens {
			got = append(got, tk.Name+"="+tk.Value)
		}
		if r.CampaignID != campaign || !slices.Equal(got, want) {
			w.t.Errorf("campaign request %d for lead %d with tokens %q, want campaign %d with %q", r.CampaignID, lead, got, campaign, want)
		}
	}
	if n != 1 || len(reqs) != 1 {
		w.t.Errorf("%d campaign requests for lead %d (%d in all), want exactly 1: %+v", n, lead, len(reqs), reqs)
	}
}

// receiveOne receives the one message on the change queue, with the
// attributes Lambda's event source mapping asks for.
func (w *world) receiveOne(ctx context.Context) sqstypes.Message {
	w.t.Helper()
	out, err := w.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(w.queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		w.t.Fatalf("receive from the change queue: %v", err)
	}
	if len(out.Messages) != 1 {
		w.t.Fatalf("%d messages on the change queue, want 1", len(out.Messages))
	}
	return out.Messages[0]
}

// sqsEvent wraps m, received from the change queue, as Lambda's SQS event
// source mapping hands it to the function.
func (w *world) sqsEvent(m sqstypes.Message) events.SQSEvent {
	return events.SQSEvent{Records: []events.SQSMessage{w.sqsRecord(m, w.queueARN)}}
}

// sqsRecord is m, received from the queue arn, as an SQS event record.
func (w *world) sqsRecord(m sqstypes.Message, arn string) events.SQSMessage {
	rec := events.SQSMessage{
		MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
		Md5OfBody: aws.ToString(m.MD5OfBody), Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
		Attributes: m.Attributes, MessageAttributes: map[string]events.SQSMessageAttribute{},
		EventSource: "aws:sqs", EventSourceARN: arn, AWSRegion: "us-east-1",
	}
	for k, v := range m.MessageAttributes {
		rec.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: v.StringValue, DataType: aws.ToString(v.DataType)}
	}
	if rec.MessageId == "" || rec.Attributes["ApproximateReceiveCount"] == "" {
		w.t.Fatalf("received message lacks messageId or ApproximateReceiveCount: %+v", m)
	}
	return rec
}

// queueDepth is the change queue's visible plus in-flight message count.
func (w *world) queueDepth(ctx context.Context) int {
	w.t.Helper()
	out, err := w.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(w.queue),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		w.t.Fatalf("queue attributes: %v", err)
	}
	n := 0
	for _, k := range []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible} {
		v, _ := strconv.Atoi(out.Attributes[string(k)])
		n += v
	}
	return n
}
