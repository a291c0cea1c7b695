// Package memqueue is an in-memory stand-in for SQS with the delivery
// semantics the product relies on: delayed first delivery, a visibility
// timeout that hides a received message until it is deleted or made visible
// again, ChangeMessageVisibility, receive counts and a dead-letter list after
// MaxReceives. A Broker holds queues by URL and answers the SQS calls lib/app
// makes (SendMessageBatch, ChangeMessageVisibility), so the product's own SQS
// adapters run against it. Tests may drop or duplicate messages as they are
// sent, and hand received batches to a handler as Lambda's event source
// mapping would (Receive, then Settle with the handler's response).
package memqueue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Broker is a set of queues on one clock.
type Broker struct {
	mu     sync.Mutex
	now    func() time.Time
	queues map[string]*Queue // by URL
	seq    int
}

// NewBroker returns a broker on the clock now (nil: the wall clock).
func NewBroker(now func() time.Time) *Broker {
	if now == nil {
		now = time.Now
	}
	return &Broker{now: now, queues: map[string]*Queue{}}
}

// Queue is one queue of a broker.
type Queue struct {
	b    *Broker
	Name string
	URL  string
	ARN  string
	// Visibility hides a received message until then (default 30 s).
	Visibility time.Duration
	// MaxReceives moves a message to DeadLetters when it would be received
	// once more (0: never).
	MaxReceives int
	// OnSend, when set, says how many copies of a sent body to keep: 0
	// drops it (a lost message), 2 or more duplicate it.
	OnSend func(body string) int

	msgs []*message
	dead []string
	sent int
}

type message struct {
	id        string
	body      string
	visibleAt time.Time
	receives  int
	receipt   string
	sentAt    time.Time
}

// Queue returns the queue of that name, created on first use.
func (b *Broker) Queue(name string) *Queue {
	b.mu.Lock()
	defer b.mu.Unlock()
	url := "https://sqs.us-east-1.amazonaws.com/000000000000/" + name
	if q, ok := b.queues[url]; ok {
		return q
	}
	q := &Queue{b: b, Name: name, URL: url, ARN: "arn:aws:sqs:us-east-1:000000000000:" + name, Visibility: 30 * time.Second}
	b.queues[url] = q
	return q
}

func (b *Broker) byURL(url string) (*Queue, error) {
	q, ok := b.queues[url]
	if !ok {
		return nil, fmt.Errorf("memqueue: no queue %q", url)
	}
	return q, nil
}

// SendMessageBatch implements the SQS call (at most 10 entries, DelaySeconds
// 0-900).
func (b *Broker) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q, err := b.byURL(aws.ToString(in.QueueUrl))
	if err != nil {
		return nil, err
	}
	if len(in.Entries) == 0 || len(in.Entries) > 10 {
		return nil, fmt.Errorf("memqueue: %d entries in a batch (1-10)", len(in.Entries))
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if e.DelaySeconds < 0 || e.DelaySeconds > 900 {
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InvalidParameterValue"), SenderFault: true})
			continue
		}
		q.send(aws.ToString(e.MessageBody), time.Duration(e.DelaySeconds)*time.Second)
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String("sent")})
	}
	return out, nil
}

// send adds a body (b.mu held).
func (q *Queue) send(body string, delay time.Duration) {
	q.sent++
	copies := 1
	if q.OnSend != nil {
		copies = q.OnSend(body)
	}
	now := q.b.now()
	for range copies {
		q.b.seq++
		q.msgs = append(q.msgs, &message{id: "mq-" + strconv.Itoa(q.b.seq), body: body, visibleAt: now.Add(delay), sentAt: now})
	}
}

// Send adds one message body, delivered after delay.
func (q *Queue) Send(body string, delay time.Duration) {
	q.b.mu.Lock()
	defer q.b.mu.Unlock()
	q.send(body, delay)
}

// ChangeMessageVisibility implements the SQS call for a message received
// and not yet deleted (at most 12 hours).
func (b *Broker) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q, err := b.byURL(aws.ToString(in.QueueUrl))
	if err != nil {
		return nil, err
	}
	if in.VisibilityTimeout < 0 || in.VisibilityTimeout > 43200 {
		return nil, fmt.Errorf("memqueue: VisibilityTimeout %d out of 0-43200", in.VisibilityTimeout)
	}
	for _, m := range q.msgs {
		if m.receipt != "" && m.receipt == aws.ToString(in.ReceiptHandle) {
			m.visibleAt = b.now().Add(time.Duration(in.VisibilityTimeout) * time.Second)
			return &sqs.ChangeMessageVisibilityOutput{}, nil
		}
	}
	return nil, errors.New("memqueue: ReceiptHandleIsInvalid")
}

// Receive takes up to max visible messages (oldest first) as one SQS event
// and hides them for the queue's visibility timeout. Messages received
// MaxReceives times before go to the dead letters instead.
func (q *Queue) Receive(max int) events.SQSEvent {
	q.b.mu.Lock()
	defer q.b.mu.Unlock()
	now := q.b.now()
	var ready []*message
	keep := q.msgs[:0]
	for _, m := range q.msgs {
		if !m.visibleAt.After(now) && q.MaxReceives > 0 && m.receives >= q.MaxReceives {
			q.dead = append(q.dead, m.body)
			continue
		}
		keep = append(keep, m)
		if !m.visibleAt.After(now) {
			ready = append(ready, m)
		}
	}
	q.msgs = keep
	slices.SortStableFunc(ready, func(a, b *message) int { return a.visibleAt.Compare(b.visibleAt) })
	var ev events.SQSEvent
	for _, m := range ready[:min(max, len(ready))] {
		m.receives++
		q.b.seq++
		m.receipt = m.id + "#" + strconv.Itoa(q.b.seq)
		m.visibleAt = now.Add(q.Visibility)
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: m.id, ReceiptHandle: m.receipt, Body: m.body, EventSource: "aws:sqs", EventSourceARN: q.ARN, AWSRegion: "us-east-1",
			Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(m.receives),
				"SentTimestamp": strconv.FormatInt(m.sentAt.UnixMilli(), 10)},
		})
	}
	return ev
}

// Settle deletes the received messages the response does not list as
// failures, as Lambda's event source mapping does; the failed ones stay
// hidden until their visibility ends. It returns how many were deleted.
func (q *Queue) Settle(ev events.SQSEvent, resp events.SQSEventResponse) int {
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	done := map[string]bool{}
	for _, r := range ev.Records {
		if !failed[r.MessageId] {
			done[r.ReceiptHandle] = true
		}
	}
	q.b.mu.Lock()
	defer q.b.mu.Unlock()
	n := 0
	keep := q.msgs[:0]
	for _, m := range q.msgs {
		if done[m.receipt] {
			n++
			continue
		}
		keep = append(keep, m)
	}
	q.msgs = keep
	return n
}

// Len is the number of messages on the queue (visible, delayed or in
// flight).
func (q *Queue) Len() int {
	q.b.mu.Lock()
	defer q.b.mu.Unlock()
	return len(q.msgs)
}

// NextVisible is when the next message becomes visible (zero: none).
func (q *Queue) NextVisible() time.Time {
	q.b.mu.Lock()
	defer q.b.mu.Unlock()
	var at time.Time
	for _, m := range q.msgs {
		if at.IsZero() || m.visibleAt.Before(at) {
			at = m.visibleAt
		}
	}
	return at
}

// Bodies returns the bodies on the queue, in order.
func (q *Queue) Bodies() []string {
	q.b.mu.Lock()
	defer q.b.mu.Unlock()
	out := make([]string, len(q.msgs))
	for i, m := range q.msgs {
		out[i] = m.body
	}
	return out
}

// DeadLetters returns the bodies moved to the dead letters.
func (q *Queue) DeadLetters() []string {
	q.b.mu.Lock()
	defer q.b.mu.Unlock()
	return slices.Clone(q.dead)
}

// Sent counts the bodies sent (before OnSend's drops and copies).
func (q *Queue) Sent() int {
	q.b.mu.Lock()
	defer q.b.mu.Unlock()
	return q.sent
}
