package ops

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/certain-marketo/certain-marketo/infra/progress"
)

// SQSAPI lists the SQS calls redrive-dlq makes; *sqs.Client satisfies it.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// RedriveResult counts what a redrive did.
type RedriveResult struct {
	Received int `json:"received"`
	Moved    int `json:"moved"` // sent to the queue and deleted from the DLQ
	// SendFailed stayed in the DLQ; they become visible there again after
	// the receive's visibility timeout.
	SendFailed int `json:"sendFailed"`
	// DeleteFailed were sent but are still in the DLQ: a later redrive
	// sends them again (trigger-campaign is idempotent per change, so the
	// copy does nothing twice).
	DeleteFailed int      `json:"deleteFailed"`
	Errors       []string `json:"errors,omitempty"`
}

// RedriveVisibility hides a received DLQ message for the time between its
// receive and its delete, so a redrive never sees its own message twice.
const RedriveVisibility = 120

// Redrive moves up to max messages (0 = until an empty receive) from dlq to
// queue. A message is deleted from the DLQ only after the queue accepted
// it, so no message is lost; the body, message attributes and, for FIFO
// queues, the group id travel with it.
//
// observe, when given, is told the counts after every batch (a progress
// line).
func Redrive(ctx context.Context, api SQSAPI, dlq, queue string, max int, waitSeconds int32, observe ...func(RedriveResult)) (RedriveResult, error) {
	var res RedriveResult
	defer func() {
		for _, f := range observe {
			f(res)
		}
	}()
	fifo := strings.HasSuffix(queue, ".fifo")
	for max == 0 || res.Received < max {
		n := int32(10)
		if max > 0 && max-res.Received < 10 {
			n = int32(max - res.Received)
		}
		out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(dlq), MaxNumberOfMessages: n, WaitTimeSeconds: waitSeconds,
			VisibilityTimeout:           RedriveVisibility,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			return res, fmt.Errorf("receive from DLQ %s: %w", dlq, err)
		}
		if len(out.Messages) == 0 {
			return res, nil
		}
		res.Received += len(out.Messages)
		entries := make([]sqstypes.SendMessageBatchRequestEntry, len(out.Messages))
		for i, m := range out.Messages {
			entries[i] = sqstypes.SendMessageBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), MessageBody: m.Body, MessageAttributes: m.MessageAttributes,
			}
			if fifo {
				entries[i].MessageGroupId = aws.String(m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageGroupId)])
				entries[i].MessageDeduplicationId = m.MessageId
			}
		}
		sent, err := api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queue), Entries: entries})
		if err != nil {
			// Nothing is known to be sent: delete nothing.
			res.SendFailed += len(out.Messages)
			return res, fmt.Errorf("send to queue %s: %w (%d message(s) stay in the DLQ)", queue, err, len(out.Messages))
		}
		for _, f := range sent.Failed {
			res.SendFailed++
			res.Errors = append(res.Errors, fmt.Sprintf("send: %s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
		}
		var dels []sqstypes.DeleteMessageBatchRequestEntry
		for _, s := range sent.Successful {
			i, err := strconv.Atoi(aws.ToString(s.Id))
			if err != nil || i < 0 || i >= len(out.Messages) {
				return res, fmt.Errorf("send to queue %s: unexpected batch entry id %q", queue, aws.ToString(s.Id))
			}
			dels = append(dels, sqstypes.DeleteMessageBatchRequestEntry{Id: s.Id, ReceiptHandle: out.Messages[i].ReceiptHandle})
		}
		if len(dels) == 0 {
			continue
		}
		del, err := api.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(dlq), Entries: dels})
		if err != nil {
			res.DeleteFailed += len(dels)
			return res, fmt.Errorf("delete from DLQ %s: %w (%d message(s) were sent and are still in the DLQ)", dlq, err, len(dels))
		}
		res.Moved += len(del.Successful)
		for _, f := range del.Failed {
			res.DeleteFailed++
			res.Errors = append(res.Errors, fmt.Sprintf("delete: %s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
		}
		for _, f := range observe {
			f(res)
		}
	}
	return res, nil
}

// queueDepthAPI reads a queue's approximate length (*sqs.Client).
type queueDepthAPI interface {
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// queueDepth is the approximate number of visible messages of queue, 0
// when it cannot be read (the progress line then shows no estimate).
func queueDepth(ctx context.Context, api any, queue string) int {
	q, ok := api.(queueDepthAPI)
	if !ok {
		return 0
	}
	out, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queue),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	return n
}

// redriveWithProgress is Redrive with a progress line on stderr.
func redriveWithProgress(ctx context.Context, e Env, api SQSAPI, dlq, queue string, max int, wait int32) (RedriveResult, error) {
	total := queueDepth(ctx, api, dlq)
	if max > 0 && (total == 0 || max < total) {
		total = max
	}
	var mu sync.Mutex
	var last RedriveResult
	start := e.now()
	stop := progress.Start(e.Stderr, e.progressOptions(), func() string {
		mu.Lock()
		r := last
		mu.Unlock()
		return progress.MoveLine("redrive-dlq", r.Received, r.Moved, r.SendFailed+r.DeleteFailed, total, e.now().Sub(start))
	})
	defer stop()
	return Redrive(ctx, api, dlq, queue, max, wait, func(r RedriveResult) {
		mu.Lock()
		last = r
		mu.Unlock()
	})
}

func runRedrive(ctx context.Context, e Env, args []string) error {
	var c common
	fs := newFlags("redrive-dlq", e, &c)
	max := fs.Int("max", 0, "move at most N messages")
	wait := fs.Int("wait", 1, "long-poll seconds before deciding the DLQ is empty")
	noProgress := fs.Bool("no-progress", false, "no progress line on stderr")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usagef("unexpected argument %q", pos[0])
	case *max < 0:
		return usagef("--max %d: want 0 (all) or more", *max)
	case *wait < 0 || *wait > 20:
		return usagef("--wait %d: want 0 to 20 seconds", *wait)
	case c.dlqURL == "":
		return usagef("no DLQ: set --dlq-url or %s", EnvDLQURL)
	case c.queueURL == "":
		return usagef("no queue: set --queue-url or %s", EnvQueueURL)
	case c.dlqURL == c.queueURL:
		return usagef("--dlq-url and --queue-url are the same queue")
	}
	cfg, err := e.awsConfig(ctx)
	if err != nil {
		return err
	}
	var res RedriveResult
	var rerr error
	if *noProgress {
		res, rerr = Redrive(ctx, sqs.NewFromConfig(cfg), c.dlqURL, c.queueURL, *max, int32(*wait))
	} else {
		res, rerr = redriveWithProgress(ctx, e, sqs.NewFromConfig(cfg), c.dlqURL, c.queueURL, *max, int32(*wait))
	}
	if c.json {
		if err := writeJSON(e.Stdout, res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.Stdout, "received %d, moved %d, send failed %d (still in the DLQ), delete failed %d (sent; still in the DLQ)\n",
			res.Received, res.Moved, res.SendFailed, res.DeleteFailed)
		for _, m := range res.Errors {
			fmt.Fprintln(e.Stderr, m)
		}
	}
	if rerr != nil {
		return rerr
	}
	if res.SendFailed > 0 || res.DeleteFailed > 0 {
		return errReported
	}
	return nil
}
