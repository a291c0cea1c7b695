package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/rie"
)

// The work queues as the template declares them: each job function and the
// detector consumes its own, through an event source mapping that needs
// Docker to emulate; the test plays the mapping (receive, invoke with the
// SQS event, delete what the response does not list as failed).

// workQueue is one function's work queue in moto.
type workQueue struct {
	id, url, arn string // id: the template's logical id
}

// workQueueIDs maps each function (its directory) to its work queue's
// logical id in template.yaml.
var workQueueIDs = map[string]string{
	"import-leads":         "ImportLeadsWorkQueue",
	"sync-leads":           "SyncLeadsWorkQueue",
	"engagement-metrics":   "EngagementMetricsWorkQueue",
	"interest-metrics":     "InterestMetricsWorkQueue",
	"registration-changes": "DetectorWorkQueue",
}

// createWorkQueues creates every work queue and its DLQ (attributes as in
// the template) and returns them by function directory.
func (w *world) createWorkQueues(ctx context.Context) map[string]workQueue {
	w.t.Helper()
	out := map[string]workQueue{}
	for fn, id := range workQueueIDs {
		dlq := w.createQueue(ctx, "certain-marketo-e2e-"+strings.Replace(id, "WorkQueue", "WorkDLQ", 1), nil)
		redrive, _ := json.Marshal(map[string]string{"deadLetterTargetArn": dlq, "maxReceiveCount": "10"})
		name := "certain-marketo-e2e-" + id
		res, err := w.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name),
			Attributes: map[string]string{"VisibilityTimeout": "5400", "RedrivePolicy": string(redrive)}})
		if err != nil {
			w.t.Fatalf("create queue %s: %v", name, err)
		}
		a, err := w.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: res.QueueUrl,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		if err != nil {
			w.t.Fatalf("queue %s attributes: %v", name, err)
		}
		out[fn] = workQueue{id: id, url: aws.ToString(res.QueueUrl), arn: a.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]}
	}
	return out
}

// receive takes up to max messages from fn's work queue, waiting up to
// wait seconds for the first.
func (w *world) receive(ctx context.Context, fn string, max, wait int32) []sqstypes.Message {
	w.t.Helper()
	out, err := w.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(w.work[fn].url), MaxNumberOfMessages: max, WaitTimeSeconds: wait,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
	})
	if err != nil {
		w.t.Fatalf("receive from %s's work queue: %v", fn, err)
	}
	return out.Messages
}

// consume hands msgs to fn as its event source mapping would (one SQS
// event), requires no batch item failure, deletes them, and returns the
// invocation's log lines.
func (w *world) consume(fn, what string, env []string, msgs []sqstypes.Message) string {
	w.t.Helper()
	ev := events.SQSEvent{}
	for _, m := range msgs {
		ev.Records = append(ev.Records, w.sqsRecord(m, w.work[fn].arn))
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		w.t.Fatal(err)
	}
	var resp events.SQSEventResponse
	logs := w.invokeEnv(fn, what, env, payload, &resp)
	if len(resp.BatchItemFailures) != 0 {
		w.t.Fatalf("%s (%s) reported failures %+v\nlogs:\n%s", fn, what, resp.BatchItemFailures, logs)
	}
	for _, m := range msgs {
		if _, err := w.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(w.work[fn].url), ReceiptHandle: m.ReceiptHandle}); err != nil {
			w.t.Fatalf("delete message: %v", err)
		}
	}
	return logs
}

// invokeEnv is invoke with an explicit environment; it returns the logs.
func (w *world) invokeEnv(fn, what string, env []string, event []byte, out any) string {
	w.t.Helper()
	t0 := time.Now()
	resp, logs := rie.Invoke(w.t, w.rieBin, filepath.Join(w.bin, fn), env, event)
	w.timings = append(w.timings, fmt.Sprintf("%-22s %-40s %v", fn, what, time.Since(t0).Round(time.Millisecond)))
	var probe struct {
		ErrorType string `json:"errorType"`
	}
	if err := json.Unmarshal(resp, &probe); err != nil || probe.ErrorType != "" {
		w.t.Fatalf("%s (%s) failed: %s (%v)\nlogs:\n%s", fn, what, resp, err, logs)
	}
	rie.CheckJSONLogLines(w.t, logs)
	if err := json.Unmarshal(resp, out); err != nil {
		w.t.Fatalf("%s (%s): decode response %s: %v", fn, what, resp, err)
	}
	return logs
}

// withTimeout is env with the function timeout the emulator enforces set
// to secs.
func withTimeout(env []string, secs int) []string {
	out := slices.Clone(env)
	for i, kv := range out {
		if strings.HasPrefix(kv, "AWS_LAMBDA_FUNCTION_TIMEOUT=") {
			out[i] = fmt.Sprintf("AWS_LAMBDA_FUNCTION_TIMEOUT=%d", secs)
		}
	}
	return out
}

// queuedRun is a direct run as deployed: the invocation queues it and
// answers its run id; the work queue's message, handed back to the
// function, runs it; the run record under that id is returned.
func (w *world) queuedRun(fn, what string, jobID string) store.Run {
	w.t.Helper()
	ctx := context.Background()
	event, err := json.Marshal(app.Invocation{JobID: jobID})
	if err != nil {
		w.t.Fatal(err)
	}
	var resp app.Response
	w.invoke(fn, what+" (queued)", event, &resp)
	if resp.Queued == nil || resp.Queued.JobID != jobID || resp.Queued.RunID == "" || resp.Queued.Kind != jobs.RunKindDirect {
		w.t.Fatalf("%s: direct run of %s answered %+v, want its queued message", fn, jobID, resp)
	}
	if _, err := w.store.GetRun(ctx, resp.Queued.RunID); err == nil {
		w.t.Fatalf("%s: run %s exists before its message was consumed", fn, resp.Queued.RunID)
	}
	msgs := w.receive(ctx, fn, 10, 1)
	if len(msgs) != 1 {
		w.t.Fatalf("%s: %d messages on the work queue after a direct run, want 1", fn, len(msgs))
	}
	m, err := jobs.DecodeRun([]byte(aws.ToString(msgs[0].Body)))
	if err != nil || m != *resp.Queued {
		w.t.Fatalf("%s: the queued message %+v (%v), want the one answered %+v", fn, m, err, *resp.Queued)
	}
	w.consume(fn, what, w.envs[fn], msgs)
	r, err := w.store.GetRun(ctx, resp.Queued.RunID)
	if err != nil {
		w.t.Fatalf("%s: run %s after its message was consumed: %v", fn, resp.Queued.RunID, err)
	}
	return r
}

// fanOut: the deployed path of a schedule tick. Two sync-leads jobs are due
// at once; the tick (dispatcher) queues one run message for each on
// SyncLeadsWorkQueue and runs nothing; each message runs its job in its own
// invocation. One invocation is short and Certain slow, so its run stops at
// the soft deadline and queues its own continuation, which arrives seconds
// later (not a tick later) and finishes the run from the checkpoint: its
// two runs together wrote exactly what the other job's one run did.
func (w *world) fanOut() {
	w.t.Helper()
	ctx := context.Background()
	base := w.jobs[config.TypeSyncLeads]
	ids := []string{"e2e-fanout-slow", "e2e-fanout-quick"}
	for _, id := range ids {
		j := base
		j.ID, j.Name = id, id
		j.Params.ForceFull = false
		if err := w.store.PutJob(ctx, j); err != nil {
			w.t.Fatalf("store job %s: %v", id, err)
		}
	}
	// Small Certain pages, each slow: the slow job's short invocation reads
	// a few and stops at its soft deadline.
	conn, err := w.store.GetConnection(ctx, w.data.Account)
	if err != nil {
		w.t.Fatal(err)
	}
	restore := conn
	// One Certain call at a time (no pages fetched ahead), so the 6 s
	// invocation below reads its pages one after another and stops part-way.
	conn.PageSize, conn.MaxInFlight = 10, 1
	if err := w.store.PutConnection(ctx, conn); err != nil {
		w.t.Fatal(err)
	}
	defer func() {
		w.cert.SetLatency(0)
		if err := w.store.PutConnection(ctx, restore); err != nil {
			w.t.Errorf("restore the connection: %v", err)
		}
	}()

	var resp app.Response
	w.invoke("sync-leads", "schedule tick (dispatch)", mustJSON(w.t, app.Invocation{JobType: config.TypeSyncLeads, ScheduledTime: time.Now().UTC().Format(time.RFC3339)}), &resp)
	if resp.Dispatch == nil {
		w.t.Fatalf("the tick answered %+v, want what it dispatched", resp)
	}
	for _, id := range ids {
		if !slices.Contains(resp.Dispatch.Queued, id) {
			w.t.Fatalf("the tick queued %v (skipped %v), want %s", resp.Dispatch.Queued, resp.Dispatch.Skipped, id)
		}
		if runs, _ := w.store.ListRuns(ctx, id, 5); len(runs) != 0 {
			w.t.Fatalf("job %s has runs %+v after the tick; the tick must only queue", id, runs)
		}
	}
	byJob := map[string]sqstypes.Message{}
	for len(byJob) < len(resp.Dispatch.Queued) {
		msgs := w.receive(ctx, "sync-leads", 10, 1)
		if len(msgs) == 0 {
			w.t.Fatalf("the work queue holds %d of the %d messages the tick queued", len(byJob), len(resp.Dispatch.Queued))
		}
		for _, m := range msgs {
			rm, err := jobs.DecodeRun([]byte(aws.ToString(m.Body)))
			if err != nil || rm.Kind != jobs.RunKindSchedule {
				w.t.Fatalf("queued %s (%v), want schedule run messages", aws.ToString(m.Body), err)
			}
			byJob[rm.JobID] = m
		}
	}

	// The slow job, in an invocation of 6 s against 300 ms Certain pages.
	w.cert.SetLatency(300 * time.Millisecond)
	w.consume("sync-leads", "run of e2e-fanout-slow (6 s timeout)", withTimeout(w.envs["sync-leads"], 6), []sqstypes.Message{byJob["e2e-fanout-slow"]})
	w.cert.SetLatency(0)
	first, err := w.store.ListRuns(ctx, "e2e-fanout-slow", 5)
	if err != nil || len(first) != 1 || first[0].Outcome != store.RunCheckpointed {
		w.t.Fatalf("e2e-fanout-slow runs %+v (%v), want one checkpointed run", first, err)
	}
	stopped := time.Now()
	msgs := w.receive(ctx, "sync-leads", 10, 10)
	if len(msgs) == 0 {
		w.t.Fatal("no continuation on the work queue within 10 s of the checkpointed run")
	}
	var cont []sqstypes.Message
	for _, m := range msgs {
		rm, err := jobs.DecodeRun([]byte(aws.ToString(m.Body)))
		if err == nil && rm.Kind == jobs.RunKindContinuation && rm.JobID == "e2e-fanout-slow" {
			cont = append(cont, m)
		} else if _, err := w.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(w.work["sync-leads"].url),
			ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
			w.t.Fatal(err)
		}
	}
	if len(cont) != 1 {
		w.t.Fatalf("messages after the checkpointed run %d, want its one continuation", len(cont))
	}
	arrived := time.Since(stopped)
	w.consume("sync-leads", "continuation of e2e-fanout-slow", w.envs["sync-leads"], cont)
	w.consume("sync-leads", "run of e2e-fanout-quick", w.envs["sync-leads"], []sqstypes.Message{byJob["e2e-fanout-quick"]})

	slow, err := w.store.ListRuns(ctx, "e2e-fanout-slow", 5)
	if err != nil || len(slow) != 2 || slow[0].Trigger != "continuation" || (slow[0].Outcome != store.RunSucceeded && slow[0].Outcome != store.RunPartial) {
		w.t.Fatalf("e2e-fanout-slow runs %+v (%v), want the checkpointed run and a continuation that finished", slow, err)
	}
	quick, err := w.store.ListRuns(ctx, "e2e-fanout-quick", 5)
	if err != nil || len(quick) != 1 || (quick[0].Outcome != store.RunSucceeded && quick[0].Outcome != store.RunPartial) {
		w.t.Fatalf("e2e-fanout-quick runs %+v (%v), want one finished run", quick, err)
	}
	// Nothing lost, nothing twice: the two runs' per-record outcomes add up
	// to the uninterrupted run's (sync-leads resumes at the first page with
	// a record not yet sent, so the continuation may read a page again;
	// the records of it already sent are found unchanged).
	sum := map[string]int{}
	for _, r := range slow {
		for k, v := range r.Counts {
			sum[k] += v
		}
	}
	for _, k := range []string{store.OutcomeCreated, store.OutcomeUpdated, store.OutcomeUnchanged, store.OutcomeFailed, store.OutcomeSkipped} {
		if sum[k] != quick[0].Counts[k] {
			w.t.Errorf("%s: the checkpointed run and its continuation count %d, the uninterrupted run %d (counts %v and %v)", k, sum[k], quick[0].Counts[k], sum, quick[0].Counts)
		}
	}
	if read := slow[1].Counts["registrationsRead"]; read == 0 || read >= quick[0].Counts["registrationsRead"] {
		w.t.Errorf("the stopped run read %d of %d registrations; want it stopped part-way", read, quick[0].Counts["registrationsRead"])
	}
	if n := w.queueDepthOf(ctx, w.work["sync-leads"].url); n != 0 {
		w.t.Errorf("%d messages left on SyncLeadsWorkQueue, want 0", n)
	}
	w.timings[len(w.timings)-1] += fmt.Sprintf("  continuation arrived %v after the stop; runs %v+%v vs %v",
		arrived.Round(100*time.Millisecond), slow[1].Counts["registrationsRead"], slow[0].Counts["registrationsRead"], quick[0].Counts["registrationsRead"])
}

// detectorTick runs one detector tick as deployed: the tick queues one
// scope message per watched event on DetectorWorkQueue; they are handed
// back to the detector, which polls them. It returns the dispatch and the
// polls' metrics line.
func (w *world) detectorTick(what string) (jobs.ScopeDispatch, map[string]float64) {
	w.t.Helper()
	ctx := context.Background()
	var res jobs.ScopeDispatch
	w.invoke("registration-changes", what+": tick", mustJSON(w.t, app.DetectorInvocation{JobType: app.DetectorJobType,
		ScheduledTime: time.Now().UTC().Format(time.RFC3339)}), &res)
	var msgs []sqstypes.Message
	for len(msgs) < res.Queued {
		got := w.receive(ctx, "registration-changes", 10, 1)
		if len(got) == 0 {
			break
		}
		msgs = append(msgs, got...)
	}
	if res.Queued == 0 || len(msgs) != res.Queued {
		w.t.Fatalf("%s: the tick queued %d scopes, %d messages on the detector's queue", what, res.Queued, len(msgs))
	}
	logs := w.consume("registration-changes", what+": polls", w.envs["registration-changes"], msgs)
	return res, pollMetrics(w, logs)
}

// pollMetrics finds the detector's polls metrics line in the logs.
func pollMetrics(w *world, logs string) map[string]float64 {
	w.t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil || line["DetectorScopesPolled"] == nil {
			continue
		}
		out := map[string]float64{}
		for k, v := range line {
			if f, ok := v.(float64); ok {
				out[k] = f
			}
		}
		return out
	}
	w.t.Fatalf("no DetectorScopesPolled metrics line in the detector's logs:\n%s", logs)
	return nil
}

func (w *world) queueDepthOf(ctx context.Context, url string) int {
	w.t.Helper()
	out, err := w.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible, sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		w.t.Fatalf("queue attributes: %v", err)
	}
	n := 0
	for _, v := range out.Attributes {
		var i int
		fmt.Sscan(v, &i)
		n += i
	}
	return n
}

func mustJSON(t interface{ Fatal(...any) }, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
