package app_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/testkit/awstest"
)

// countingHandler finishes every change and counts them.
type countingHandler struct{ seen map[string]int }

func (h *countingHandler) Handle(_ context.Context, msgs []jobs.ChangeMessage) []error {
	for _, m := range msgs {
		h.seen[m.RegistrationCode]++
	}
	return make([]error, len(msgs))
}

// A poison message reaches the DLQ through the queue's redrive policy, with
// its reason logged on every receive, while the valid message of the same
// batch is handled once and deleted: the flow Lambda's event source mapping
// runs, driven by hand against SQS on moto_server.
func TestPoisonMessageReachesDLQOnMoto(t *testing.T) {
	m := awstest.StartMoto(t)
	client := sqs.NewFromConfig(m.Config(t))
	ctx := context.Background()
	dlq, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("changes-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	dlqAttrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	const maxReceives = 2
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("changes"), Attributes: map[string]string{
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, dlqAttrs.Attributes["QueueArn"], maxReceives),
	}})
	if err != nil {
		t.Fatal(err)
	}
	good, err := jobs.NewChange("ACME", "HS26", "R-1", "Invited", "Pre-Registered", time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)).Encode()
	if err != nil {
		t.Fatal(err)
	}
	poison := `{"version":1,"changeId":"c-1","account":"ACME"` // truncated JSON
	for _, body := range []string{string(good), poison} {
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}

	var logs bytes.Buffer
	h := &countingHandler{seen: map[string]int{}}
	handler := app.SQSChangeHandler(h, slog.New(slog.NewJSONHandler(&logs, nil)))
	for round := 0; round < 6; round++ {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		var ev events.SQSEvent
		for _, msg := range out.Messages {
			attrs := map[string]string{}
			for k, v := range msg.Attributes {
				attrs[k] = v
			}
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: aws.ToString(msg.MessageId), ReceiptHandle: aws.ToString(msg.ReceiptHandle),
				Body: aws.ToString(msg.Body), Attributes: attrs, EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:changes"})
		}
		resp, err := handler(ctx, ev)
		if err != nil {
			t.Fatalf("the handler failed the whole batch: %v", err)
		}
		failed := map[string]bool{}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		// What the event source mapping does: delete the successes; a
		// failure becomes visible again (here at once instead of after the
		// visibility timeout).
		for _, r := range ev.Records {
			if failed[r.MessageId] {
				_, err = client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: q.QueueUrl, ReceiptHandle: aws.String(r.ReceiptHandle), VisibilityTimeout: 0})
			} else {
				_, err = client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: aws.String(r.ReceiptHandle)})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if h.seen["R-1"] != 1 {
		t.Fatalf("the valid change was handled %d times, want once", h.seen["R-1"])
	}
	dead, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: dlq.QueueUrl, MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(dead.Messages) != 1 || aws.ToString(dead.Messages[0].Body) != poison {
		t.Fatalf("DLQ holds %d messages %v, want the poison message", len(dead.Messages), dead.Messages)
	}
	left, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10})
	if err != nil || len(left.Messages) != 0 {
		t.Fatalf("queue still holds %d messages (err %v)", len(left.Messages), err)
	}
	if n := strings.Count(logs.String(), "malformed registration-change message"); n != maxReceives {
		t.Fatalf("the reason was logged %d times, want once per receive (%d):\n%s", n, maxReceives, logs.String())
	}
}
