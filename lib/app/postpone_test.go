package app

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

type quotaHandler struct{ resetAt time.Time }

// Handle fails the first change with Marketo's daily quota and the second
// with an ordinary error.
func (q quotaHandler) Handle(_ context.Context, msgs []jobs.ChangeMessage) []error {
	errs := make([]error, len(msgs))
	errs[0] = fmt.Errorf("request campaign: %w", &marketo.QuotaError{ResetAt: q.resetAt})
	if len(msgs) > 1 {
		errs[1] = errors.New("certain: 503")
	}
	return errs
}

type visibilitySpy struct {
	calls []*sqs.ChangeMessageVisibilityInput
}

func (v *visibilitySpy) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	v.calls = append(v.calls, in)
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

func changeRecord(t *testing.T, id, reg string) events.SQSMessage {
	t.Helper()
	m := jobs.NewChange("ACME", "HS26", reg, "Invited", "Pre-Registered", time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC))
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return events.SQSMessage{MessageId: id, ReceiptHandle: "rh-" + id, Body: string(b)}
}

// A change stopped by the daily quota stays invisible until the reset (so it
// does not spend its receives and land in the DLQ); other failures are only
// reported for redelivery.
func TestQuotaStoppedChangeIsPostponedUntilReset(t *testing.T) {
	now := time.Date(2026, 4, 1, 20, 0, 0, 0, time.UTC)
	reset := marketo.NextDailyReset(now, marketo.ChicagoLocation()) // 05:00 UTC the next day
	spy := &visibilitySpy{}
	h := SQSChangeHandler(quotaHandler{resetAt: reset}, nil, &Postponer{Client: spy, QueueURL: "q", Now: func() time.Time { return now }})
	resp, err := h(context.Background(), events.SQSEvent{Records: []events.SQSMessage{changeRecord(t, "m1", "R-1"), changeRecord(t, "m2", "R-2")}})
	if err != nil || len(resp.BatchItemFailures) != 2 {
		t.Fatalf("resp %+v, err %v: want both reported", resp, err)
	}
	if len(spy.calls) != 1 || aws.ToString(spy.calls[0].ReceiptHandle) != "rh-m1" {
		t.Fatalf("visibility calls %+v, want one for m1", spy.calls)
	}
	if got, want := spy.calls[0].VisibilityTimeout, int32((reset.Sub(now)+time.Minute)/time.Second); got != want {
		t.Fatalf("visibility %d s, want %d s (until the reset and a minute)", got, want)
	}
	// A reset further away than SQS allows is capped.
	spy.calls = nil
	h = SQSChangeHandler(quotaHandler{resetAt: now.Add(30 * time.Hour)}, nil, &Postponer{Client: spy, QueueURL: "q", Now: func() time.Time { return now }})
	if _, err := h(context.Background(), events.SQSEvent{Records: []events.SQSMessage{changeRecord(t, "m3", "R-3")}}); err != nil {
		t.Fatal(err)
	}
	if len(spy.calls) != 1 || spy.calls[0].VisibilityTimeout != int32(MaxPostpone/time.Second) {
		t.Fatalf("visibility calls %+v, want one capped at %s", spy.calls, MaxPostpone)
	}
}

type closingBudget struct{ closed int }

func (b *closingBudget) Acquire(context.Context) (func(), error) { return func() {}, nil }
func (b *closingBudget) Close(context.Context) error             { b.closed++; return nil }

// Every budget that holds something across calls is given back at the end
// of an invocation.
func TestReleaseBudgetsClosesSharedBudgets(t *testing.T) {
	b := &closingBudget{}
	c := &Connector{Budgets: func(string, config.Budget, marketo.QuotaZone) (marketo.Budget, error) { return b, nil }}
	if _, err := c.budget("123-ABC-456", config.Budget{}, marketo.DefaultQuotaZone); err != nil {
		t.Fatal(err)
	}
	if err := c.ReleaseBudgets(context.Background()); err != nil || b.closed != 1 {
		t.Fatalf("closed %d times, err %v; want once", b.closed, err)
	}
}
