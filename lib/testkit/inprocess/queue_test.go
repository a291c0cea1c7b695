package inprocess

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
)

// A message reported as a batch item failure is delivered again, after the
// others, with its receive count raised; the rest are deleted.
func TestQueueRedeliversFailures(t *testing.T) {
	q := &Queue{}
	at := time.Date(2026, 4, 1, 14, 0, 0, 0, time.UTC)
	var msgs []jobs.ChangeMessage
	for _, code := range []string{"R-1", "R-2", "R-3"} {
		msgs = append(msgs, jobs.NewChange("ACME", "HS26", code, "Invited", "Pre-Registered", at))
	}
	sent, err := q.SendChanges(context.Background(), msgs)
	if err != nil || len(sent) != 3 || !sent[0] || !sent[1] || !sent[2] {
		t.Fatalf("send: %v %v", sent, err)
	}
	ev := q.Receive(2)
	if len(ev.Records) != 2 || ev.Records[0].Attributes["ApproximateReceiveCount"] != "1" {
		t.Fatalf("first receive %+v", ev.Records)
	}
	m, err := jobs.DecodeChange([]byte(ev.Records[0].Body))
	if err != nil || m.RegistrationCode != "R-1" {
		t.Fatalf("body decodes to %+v, %v", m, err)
	}
	del, kept := q.Settle(ev, events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: ev.Records[0].MessageId}}})
	if del != 1 || kept != 1 || q.Len() != 2 {
		t.Fatalf("settle: deleted %d kept %d len %d, want 1, 1, 2", del, kept, q.Len())
	}
	ev2 := q.Receive(10)
	if len(ev2.Records) != 2 || ev2.Records[1].MessageId != ev.Records[0].MessageId || ev2.Records[1].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("second receive %+v: want R-3, then R-1 on its second receive", ev2.Records)
	}
	q.Settle(ev2, events.SQSEventResponse{})
	if q.Len() != 0 || len(q.Sent()) != 3 {
		t.Errorf("after settling all: len %d, sent %d", q.Len(), len(q.Sent()))
	}
}

// Start wires a working product: the jobs are stored, the secrets resolve
// through the connector, and an unknown function is a clear error.
func TestStart(t *testing.T) {
	ctx := context.Background()
	env, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	stored, err := env.Store.ListJobs(ctx, "")
	if err != nil || len(stored) != 6 {
		t.Fatalf("stored jobs %d, %v; want 6", len(stored), err)
	}
	if _, err := env.Invoke(ctx, "no-such-fn", []byte(`{}`)); err == nil {
		t.Error("unknown function: no error")
	}
	// A direct run is queued on the function's work queue; delivered, it
	// goes through the secrets and the connector to both simulators.
	out, err := env.Invoke(ctx, FnImportLeads, []byte(`{"jobId":"`+demodata.JobImportProfiles+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	if env.Marketo.CountedCalls() != 0 || env.WorkQueue(FnImportLeads).Len() != 1 {
		t.Fatalf("direct run answered %s with %d Marketo calls and %d queued; want it queued, not run", out, env.Marketo.CountedCalls(), env.WorkQueue(FnImportLeads).Len())
	}
	d, err := env.Deliver(ctx, FnImportLeads, time.Second)
	if err != nil || d.Messages != 1 || d.Deleted != 1 {
		t.Fatalf("deliver = %+v, %v; want the one message done", d, err)
	}
	if env.Marketo.CountedCalls() == 0 || len(env.Certain.Calls()) == 0 {
		t.Errorf("the delivered direct run made no simulator calls")
	}
	runs, err := env.Store.ListRuns(ctx, demodata.JobImportProfiles, 5)
	if err != nil || len(runs) != 1 || runs[0].Trigger != "direct" {
		t.Errorf("runs %+v, %v; want the one direct run", runs, err)
	}
	// A bad payload is rejected by the real handler.
	if _, err := env.Invoke(ctx, FnSyncLeads, []byte(`{"jobType":"import-leads"}`)); err == nil {
		t.Error("sync-leads accepted an import-leads tick")
	}
}
