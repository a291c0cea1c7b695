package reliability

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"

	"github.com/aws/aws-lambda-go/events"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

// Queue is an in-memory change queue with SQS's delivery semantics that
// matter here: a message reported as a batch item failure comes back, and
// tests may duplicate and reorder deliveries at will.
type Queue struct {
	mu      sync.Mutex
	seq     int
	pending []events.SQSMessage
	sent    []jobs.ChangeMessage
}

var _ jobs.ChangeSender = (*Queue)(nil)

// SendChanges accepts every message.
func (q *Queue) SendChanges(_ context.Context, msgs []jobs.ChangeMessage) ([]bool, error) {
	ok := make([]bool, len(msgs))
	for i, m := range msgs {
		body, err := m.Encode()
		if err != nil {
			continue
		}
		q.Push(string(body))
		q.mu.Lock()
		q.sent = append(q.sent, m)
		q.mu.Unlock()
		ok[i] = true
	}
	return ok, nil
}

// Push enqueues a raw body (a new SQS message id).
func (q *Queue) Push(body string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	q.pending = append(q.pending, events.SQSMessage{MessageId: "m-" + strconv.Itoa(q.seq), Body: body,
		Attributes: map[string]string{"ApproximateReceiveCount": "0"}, EventSourceARN: "arn:aws:sqs:us-east-1:000000000000:rel-changes"})
}

// Sent returns every change the detector sent.
func (q *Queue) Sent() []jobs.ChangeMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]jobs.ChangeMessage(nil), q.sent...)
}

// Len is the number of messages waiting.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// DuplicateAndShuffle delivers every waiting message twice more (as SQS's
// at-least-once delivery may, under the same message id) in a random order.
func (q *Queue) DuplicateAndShuffle(rng *rand.Rand) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.pending)
	q.pending = append(q.pending, q.pending...)
	rng.Shuffle(len(q.pending), func(i, j int) { q.pending[i], q.pending[j] = q.pending[j], q.pending[i] })
	return n
}

// Receive takes up to n messages as one SQS event.
func (q *Queue) Receive(n int) events.SQSEvent {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.pending))
	ev := events.SQSEvent{Records: append([]events.SQSMessage(nil), q.pending[:n]...)}
	q.pending = q.pending[n:]
	for i := range ev.Records {
		c, _ := strconv.Atoi(ev.Records[i].Attributes["ApproximateReceiveCount"])
		ev.Records[i].Attributes = map[string]string{"ApproximateReceiveCount": strconv.Itoa(c + 1)}
	}
	return ev
}

// Nack puts back the messages of ev named in failures, or all of them when
// all is set (the invocation died).
func (q *Queue) Nack(ev events.SQSEvent, failures []events.SQSBatchItemFailure, all bool) {
	failed := map[string]bool{}
	for _, f := range failures {
		failed[f.ItemIdentifier] = true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, r := range ev.Records {
		if all || failed[r.MessageId] {
			q.pending = append(q.pending, r)
		}
	}
}
