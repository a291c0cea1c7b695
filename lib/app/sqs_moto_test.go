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

// TestSQSSenderOnMoto sends changes through the real SDK to an SQS queue on
// moto_server and reads them back through DecodeChange.
func TestSQSSenderOnMoto(t *testing.T) {
	m := awstest.StartMoto(t)
	client := sqs.NewFromConfig(m.Config(t))
	ctx := context.Background()
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("changes")})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	want := map[string]jobs.ChangeMessage{}
	var msgs []jobs.ChangeMessage
	for i := range 23 {
		c := jobs.NewChange("ACME", "HS26", fmt.Sprintf("R-%03d", i), "Invited", "Pre-Registered", at.Add(time.Duration(i)*time.Second))
		msgs = append(msgs, c)
		want[c.ChangeID] = c
	}
	sent, err := (&app.SQSSender{Client: client, QueueURL: aws.ToString(q.QueueUrl)}).SendChanges(ctx, msgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range sent {
		if !ok {
			t.Fatalf("message %d not sent", i)
		}
	}
	for tries := 0; len(want) > 0 && tries < 20; tries++ {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range out.Messages {
			c, err := jobs.DecodeChange([]byte(aws.ToString(msg.Body)))
			if err != nil {
				t.Fatalf("queued body does not decode: %v", err)
			}
			if want[c.ChangeID] != c {
				t.Fatalf("unexpected or changed message %+v", c)
			}
			delete(want, c.ChangeID)
		}
	}
	if len(want) != 0 {
		t.Fatalf("%d messages never arrived", len(want))
	}
}
