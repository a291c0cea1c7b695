package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// ChangeHandler is what the SQS handler needs of *jobs.Trigger.
type ChangeHandler interface {
	Handle(ctx context.Context, msgs []jobs.ChangeMessage) []error
}

// SQSChangeHandler returns the trigger-campaign Lambda handler: it decodes
// every registration-change message of the batch, hands the valid ones to h,
// and reports each malformed message (logged with its reason) and each
// message h could not finish as a batch item failure. It never returns an
// error for the batch, so one bad record never redelivers the others; a
// malformed message reaches the DLQ after the queue's maxReceiveCount.
//
// With a Postponer, a message stopped by Marketo's daily quota is also kept
// invisible until the quota resets (at most MaxPostpone at a time), so that
// waiting for the reset costs it one or two receives rather than one every
// visibility timeout; each receive still counts towards maxReceiveCount, so
// a quota spent for days in a row sends it to the DLQ (redrive it then).
func SQSChangeHandler(h ChangeHandler, log *slog.Logger, pp ...*Postponer) func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	if log == nil {
		log = slog.Default()
	}
	var post *Postponer
	if len(pp) > 0 {
		post = pp[0]
	}
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		var msgs []jobs.ChangeMessage
		var ids, receipts []string
		for _, rec := range ev.Records {
			if rec.MessageId == "" {
				// SQS always sets it; without one no failure can be reported,
				// and an empty identifier would fail the whole batch.
				log.ErrorContext(ctx, "SQS record without messageId ignored", "eventSourceARN", rec.EventSourceARN)
				continue
			}
			m, err := jobs.DecodeChange([]byte(rec.Body))
			if err != nil {
				log.ErrorContext(ctx, "malformed registration-change message; reported as failed (DLQ after max receives)",
					"messageId", rec.MessageId, "receiveCount", rec.Attributes["ApproximateReceiveCount"], "reason", err.Error())
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
				continue
			}
			msgs = append(msgs, m)
			ids = append(ids, rec.MessageId)
			receipts = append(receipts, rec.ReceiptHandle)
		}
		for i, err := range h.Handle(ctx, msgs) {
			if err != nil {
				log.WarnContext(ctx, "registration change not finished; reported for redelivery",
					"messageId", ids[i], "changeId", msgs[i].ChangeID, "registration", msgs[i].RegistrationCode, "reason", err.Error())
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ids[i]})
				var qe *marketo.QuotaError
				if post != nil && errors.As(err, &qe) {
					if perr := post.Postpone(ctx, receipts[i], qe.ResetAt); perr != nil {
						log.WarnContext(ctx, "cannot postpone the change until Marketo's quota resets; it is redelivered sooner",
							"messageId", ids[i], "error", perr.Error())
					}
				}
			}
		}
		return resp, nil
	}
}

// ChangeVisibilityAPI is the SQS call that postpones a message (*sqs.Client).
type ChangeVisibilityAPI interface {
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// MaxPostpone is the longest a message is kept invisible (SQS allows 12 hours
// from its receipt).
const MaxPostpone = 11 * time.Hour

// Postponer keeps a received message invisible until a time.
type Postponer struct {
	Client   ChangeVisibilityAPI
	QueueURL string
	Now      func() time.Time
}

// Postpone hides the message until `until` (plus a minute), at most MaxPostpone.
func (p *Postponer) Postpone(ctx context.Context, receipt string, until time.Time) error {
	if receipt == "" {
		return errors.New("no receipt handle")
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	if until.IsZero() {
		until = marketo.DefaultQuotaZone.NextReset(now()) // a QuotaError without ResetAt
	}
	d := min(max(until.Sub(now())+time.Minute, time.Minute), MaxPostpone)
	_, err := p.Client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(p.QueueURL), ReceiptHandle: aws.String(receipt), VisibilityTimeout: int32(d / time.Second),
	})
	if err != nil {
		return fmt.Errorf("postpone message for %s: %w", d, err)
	}
	return nil
}

// SQSSendAPI is the one SQS call the change sender makes (*sqs.Client).
type SQSSendAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

var _ SQSSendAPI = (*sqs.Client)(nil)

// SQSSender sends registration-change messages to the change queue, 10 per
// SendMessageBatch call (the SQS maximum). It implements jobs.ChangeSender.
type SQSSender struct {
	Client   SQSSendAPI
	QueueURL string
}

var _ jobs.ChangeSender = (*SQSSender)(nil)

// SendChanges sends msgs and reports which were accepted. It stops at the
// first call that fails outright; entries SQS refuses individually are
// reported unsent.
func (s *SQSSender) SendChanges(ctx context.Context, msgs []jobs.ChangeMessage) ([]bool, error) {
	sent := make([]bool, len(msgs))
	var firstErr error
	for start := 0; start < len(msgs); start += 10 {
		end := min(start+10, len(msgs))
		in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(s.QueueURL)}
		for i := start; i < end; i++ {
			body, err := msgs[i].Encode()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("encode change %d: %w", i, err)
				}
				continue
			}
			in.Entries = append(in.Entries, types.SendMessageBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(body)),
				MessageAttributes: map[string]types.MessageAttributeValue{
					"version": {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(msgs[i].Version))},
				},
			})
		}
		if len(in.Entries) == 0 {
			continue
		}
		out, err := s.Client.SendMessageBatch(ctx, in)
		if err != nil {
			return sent, fmt.Errorf("send changes %d-%d to the change queue: %w", start, end-1, err)
		}
		for _, ok := range out.Successful {
			if i, err := strconv.Atoi(aws.ToString(ok.Id)); err == nil && i >= start && i < end {
				sent[i] = true
			}
		}
		if len(out.Failed) > 0 && firstErr == nil {
			f := out.Failed[0]
			firstErr = fmt.Errorf("change queue refused %d of %d messages (first: %s %s)", len(out.Failed), len(in.Entries), aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
	return sent, firstErr
}
