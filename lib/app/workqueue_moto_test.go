package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/testkit/awstest"
)

// TestWorkQueueOnMoto sends run and scope messages through the real SDK to
// a queue on moto_server: all arrive and decode, a delayed one only after
// its delay, and Hide sets when a received message comes back.
func TestWorkQueueOnMoto(t *testing.T) {
	m := awstest.StartMoto(t)
	client := sqs.NewFromConfig(m.Config(t))
	ctx := context.Background()
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("work"), Attributes: map[string]string{"VisibilityTimeout": "5400"}})
	if err != nil {
		t.Fatal(err)
	}
	q := &app.WorkQueue{Client: client, QueueURL: aws.ToString(out.QueueUrl)}
	due := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	want := map[string]bool{}
	var runs []jobs.RunMessage
	for i := range 23 {
		r := jobs.RunMessage{Version: jobs.RunVersion, JobID: fmt.Sprintf("job-%02d", i), Kind: jobs.RunKindSchedule, Due: due}
		runs = append(runs, r)
		want[r.JobID] = true
	}
	sent, err := q.SendRuns(ctx, runs, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range sent {
		if !ok {
			t.Fatalf("run message %d not sent", i)
		}
	}
	if sent, err := q.SendScopes(ctx, []jobs.ScopeMessage{{Version: 1, Account: "ACME", Event: "HS26", Tick: due}}); err != nil || !sent[0] {
		t.Fatalf("scope message: %v %v", sent, err)
	}
	scopes := 0
	for tries := 0; (len(want) > 0 || scopes == 0) && tries < 20; tries++ {
		got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: out.QueueUrl, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range got.Messages {
			if r, err := jobs.DecodeRun([]byte(aws.ToString(msg.Body))); err == nil {
				delete(want, r.JobID)
			} else if _, serr := jobs.DecodeScope([]byte(aws.ToString(msg.Body))); serr == nil {
				scopes++
			} else {
				t.Fatalf("queued body decodes as neither: %v / %v", err, serr)
			}
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: out.QueueUrl, ReceiptHandle: msg.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(want) != 0 || scopes != 1 {
		t.Fatalf("%d run messages never arrived, %d scope messages; want 0 and 1", len(want), scopes)
	}

	// A continuation delayed 2 s: not there at once, there after the delay.
	cont := jobs.RunMessage{Version: jobs.RunVersion, JobID: "big", Kind: jobs.RunKindContinuation, Due: due}
	if _, err := q.SendRuns(ctx, []jobs.RunMessage{cont}, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	receive := func(wait int32) []string {
		got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: out.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: wait})
		if err != nil {
			t.Fatal(err)
		}
		var rh []string
		for _, msg := range got.Messages {
			rh = append(rh, aws.ToString(msg.ReceiptHandle))
		}
		return rh
	}
	if rh := receive(0); len(rh) != 0 {
		t.Fatalf("the delayed message arrived at once")
	}
	time.Sleep(2100 * time.Millisecond)
	rh := receive(1)
	if len(rh) != 1 {
		t.Fatalf("%d messages after the delay, want the continuation", len(rh))
	}
	// Hidden for the queue's visibility (90 min) after the receive; Hide 0
	// brings it back at once, Hide 1 h hides it again.
	if err := q.Hide(ctx, rh[0], 0); err != nil {
		t.Fatal(err)
	}
	rh = receive(1)
	if len(rh) != 1 {
		t.Fatalf("%d messages after Hide(0), want the continuation back", len(rh))
	}
	if err := q.Hide(ctx, rh[0], time.Hour); err != nil {
		t.Fatal(err)
	}
	if rh := receive(0); len(rh) != 0 {
		t.Fatalf("a message hidden for an hour came back")
	}
}
