package app

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

// WorkQueueAPI is what a work queue's adapter calls (*sqs.Client): sending,
// and hiding a received message for a while.
type WorkQueueAPI interface {
	SQSSendAPI
	ChangeVisibilityAPI
}

var _ WorkQueueAPI = (*sqs.Client)(nil)

// WorkQueue is a function's own work queue (WORK_QUEUE_URL): the run
// messages of a job function (jobs.RunQueue) or the scope messages of the
// detector (jobs.ScopeQueue). The function sends to it (its schedule tick,
// continuations, direct runs) and consumes it through its event source
// mapping.
type WorkQueue struct {
	Client   WorkQueueAPI
	QueueURL string
	Now      func() time.Time
}

var (
	_ jobs.RunQueue   = (*WorkQueue)(nil)
	_ jobs.ScopeQueue = (*WorkQueue)(nil)
)

func (q *WorkQueue) now() time.Time {
	if q.Now != nil {
		return q.Now()
	}
	return time.Now()
}

// SendRuns implements jobs.RunQueue: 10 messages per SendMessageBatch call,
// each delayed by delay (rounded up to a second, at most 15 minutes).
func (q *WorkQueue) SendRuns(ctx context.Context, msgs []jobs.RunMessage, delay time.Duration) ([]bool, error) {
	bodies := make([][]byte, len(msgs))
	var firstErr error
	for i, m := range msgs {
		b, err := m.Encode()
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("encode run message %d: %w", i, err)
		}
		bodies[i] = b
	}
	sent, err := q.send(ctx, bodies, delay)
	if firstErr == nil {
		firstErr = err
	}
	return sent, firstErr
}

// SendScopes implements jobs.ScopeQueue.
func (q *WorkQueue) SendScopes(ctx context.Context, msgs []jobs.ScopeMessage) ([]bool, error) {
	bodies := make([][]byte, len(msgs))
	var firstErr error
	for i, m := range msgs {
		b, err := m.Encode()
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("encode scope message %d: %w", i, err)
		}
		bodies[i] = b
	}
	sent, err := q.send(ctx, bodies, 0)
	if firstErr == nil {
		firstErr = err
	}
	return sent, firstErr
}

// delaySeconds is a delay as SQS takes it: whole seconds, rounded up, 0-900.
func delaySeconds(d time.Duration) int32 {
	s := (d + time.Second - 1) / time.Second
	return int32(min(max(s, 0), jobs.MaxQueueDelay/time.Second))
}

// send sends the non-nil bodies, 10 per call, and reports which were
// accepted. It stops at the first call that fails outright.
func (q *WorkQueue) send(ctx context.Context, bodies [][]byte, delay time.Duration) ([]bool, error) {
	sent := make([]bool, len(bodies))
	ds := delaySeconds(delay)
	var firstErr error
	for start := 0; start < len(bodies); start += 10 {
		end := min(start+10, len(bodies))
		in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.QueueURL)}
		for i := start; i < end; i++ {
			if bodies[i] == nil {
				continue
			}
			in.Entries = append(in.Entries, types.SendMessageBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(bodies[i])), DelaySeconds: ds})
		}
		if len(in.Entries) == 0 {
			continue
		}
		out, err := q.Client.SendMessageBatch(ctx, in)
		if err != nil {
			return sent, fmt.Errorf("send messages %d-%d to the work queue: %w", start, end-1, err)
		}
		for _, ok := range out.Successful {
			if i, err := strconv.Atoi(aws.ToString(ok.Id)); err == nil && i >= start && i < end {
				sent[i] = true
			}
		}
		if len(out.Failed) > 0 && firstErr == nil {
			f := out.Failed[0]
			firstErr = fmt.Errorf("work queue refused %d of %d messages (first: %s %s)", len(out.Failed), len(in.Entries), aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
	return sent, firstErr
}

// Hide keeps a received message invisible for d (0: visible again at once;
// at most MaxPostpone).
func (q *WorkQueue) Hide(ctx context.Context, receipt string, d time.Duration) error {
	d = min(max(d, 0), MaxPostpone)
	_, err := q.Client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(q.QueueURL), ReceiptHandle: aws.String(receipt), VisibilityTimeout: int32(d / time.Second),
	})
	if err != nil {
		return fmt.Errorf("hide message for %s: %w", d, err)
	}
	return nil
}

// RetryBackoff is how long a failed work message stays hidden before its
// next delivery: 30 s after the first receive, doubling, at most 15 minutes.
// A message that keeps failing reaches the dead-letter queue after the
// queue's maxReceiveCount receives (about an hour and a half with 10).
func RetryBackoff(receives int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < receives && d < jobs.MaxQueueDelay; i++ {
		d *= 2
	}
	return min(d, jobs.MaxQueueDelay)
}
