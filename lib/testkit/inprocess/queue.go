package inprocess

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/aws/aws-lambda-go/events"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

// QueueARN is the event source ARN the in-memory queue puts on its records.
const QueueARN = "arn:aws:sqs:us-east-1:000000000000:certain-marketo-local-changes"

// Queue is an in-memory stand-in for the registration-change SQS queue: the
// detector sends to it (jobs.ChangeSender) and Receive hands its messages to
// trigger-campaign as an events.SQSEvent. Like SQS, a message reported as a
// batch item failure is delivered again, with its receive count raised.
type Queue struct {
	mu      sync.Mutex
	seq     int
	pending []queued
	sent    []jobs.ChangeMessage
}

type queued struct {
	id       string
	body     string
	receives int
}

var _ jobs.ChangeSender = (*Queue)(nil)

// SendChanges implements jobs.ChangeSender: every message is accepted.
func (q *Queue) SendChanges(_ context.Context, msgs []jobs.ChangeMessage) ([]bool, error) {
	sent := make([]bool, len(msgs))
	q.mu.Lock()
	defer q.mu.Unlock()
	var firstErr error
	for i, m := range msgs {
		body, err := m.Encode()
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("local queue: encode change %d: %w", i, err)
			}
			continue
		}
		q.seq++
		q.pending = append(q.pending, queued{id: fmt.Sprintf("local-msg-%06d", q.seq), body: string(body)})
		q.sent = append(q.sent, m)
		sent[i] = true
	}
	return sent, firstErr
}

// Len is the number of messages waiting.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// Sent returns every message ever accepted, in order.
func (q *Queue) Sent() []jobs.ChangeMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]jobs.ChangeMessage(nil), q.sent...)
}

// Receive takes up to max (1..10000, the SQS batch limits; <= 0 means 10)
// waiting messages as one SQS event. Call Settle with the handler's response.
func (q *Queue) Receive(max int) events.SQSEvent {
	if max <= 0 {
		max = 10
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(max, len(q.pending))
	var ev events.SQSEvent
	for i := range n {
		m := &q.pending[i]
		m.receives++
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: m.id, Body: m.body, EventSource: "aws:sqs", EventSourceARN: QueueARN, AWSRegion: "us-east-1",
			Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(m.receives)},
			MessageAttributes: map[string]events.SQSMessageAttribute{
				"version": {DataType: "Number", StringValue: ptr(strconv.Itoa(jobs.ChangeVersion))},
			},
		})
	}
	return ev
}

// Settle deletes the received messages that the response does not list as
// failures; the failed ones go back on the queue, behind the others. It
// returns how many were deleted and how many stay.
func (q *Queue) Settle(ev events.SQSEvent, resp events.SQSEventResponse) (deleted, kept int) {
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	received := map[string]bool{}
	for _, r := range ev.Records {
		received[r.MessageId] = true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	// Failed messages go to the back, as SQS makes them visible again only
	// after their visibility timeout.
	var rest, retry []queued
	for _, m := range q.pending {
		switch {
		case !received[m.id]:
			rest = append(rest, m)
		case failed[m.id]:
			retry = append(retry, m)
		default:
			deleted++
		}
	}
	q.pending = append(rest, retry...)
	kept = len(retry)
	return deleted, kept
}

func ptr[T any](v T) *T { return &v }
