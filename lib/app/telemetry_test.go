package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

func lines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// The heartbeat counts a tick as completed only when every watched scope
// was queued; a batch of polls counts its scopes by result.
func TestDetectorMetrics(t *testing.T) {
	var buf bytes.Buffer
	tm := Telemetry{W: &buf, Stage: "prod", Now: func() time.Time { return time.Unix(1_775_000_000, 0) }}
	if err := tm.DetectorTick(jobs.ScopeDispatch{Scopes: 3, Queued: 3}, nil); err != nil {
		t.Fatal(err)
	}
	if err := tm.DetectorTick(jobs.ScopeDispatch{Scopes: 3, Queued: 1, Unqueued: 2}, errors.New("detector: queued 1 of 3 scopes")); err != nil {
		t.Fatal(err)
	}
	polls := []jobs.ScopeResult{{Account: "ACME", Event: "HS26", Read: 40, Sent: 3}, {Account: "ACME", Event: "EX27", Read: 2},
		{Account: "ACME", Event: "EX28", Error: "detector ACME/EX28: HTTP 503"}, {Account: "ACME", Event: "EX29", Skipped: "polled since this tick"}}
	if err := tm.DetectorPolls(polls); err != nil {
		t.Fatal(err)
	}
	ls := lines(t, buf.Bytes())
	if len(ls) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(ls), buf.String())
	}
	for i, want := range []map[string]float64{
		{"DetectorTicks": 1, "DetectorTicksCompleted": 1, "DetectorScopesQueued": 3},
		{"DetectorTicks": 1, "DetectorTicksCompleted": 0, "DetectorScopesQueued": 1},
		{"DetectorScopesPolled": 2, "DetectorScopesFailed": 1, "DetectorScopesSkipped": 1, "DetectorRegistrationsRead": 42, "DetectorChangesSent": 3},
	} {
		for k, v := range want {
			if ls[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v", i, k, ls[i][k], v)
			}
		}
		if ls[i]["Stage"] != "prod" {
			t.Errorf("line %d: Stage = %v", i, ls[i]["Stage"])
		}
	}
	if err := (Telemetry{}).DetectorTick(jobs.ScopeDispatch{}, nil); err != nil {
		t.Errorf("no writer: %v", err)
	}
}

// An invocation's end reports the daily usage of each Marketo instance it
// called, once, against the connection's daily share.
func TestBudgetUsageMetrics(t *testing.T) {
	c := &Connector{Budgets: InProcessBudgets}
	used, err := c.budget("123-ABC-456", config.Budget{CallsPer20s: 50, Concurrent: 5, Daily: 8}, marketo.DefaultQuotaZone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.budget("app.other.example", config.Budget{CallsPer20s: 50, Concurrent: 5, Daily: 8}, marketo.DefaultQuotaZone); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		rel, err := used.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		rel()
	}
	var buf bytes.Buffer
	tm := Telemetry{W: &buf, Stage: "prod"}
	if err := c.BudgetUsage(tm); err != nil {
		t.Fatal(err)
	}
	ls := lines(t, buf.Bytes())
	if len(ls) != 1 {
		t.Fatalf("%d lines, want one for the instance used:\n%s", len(ls), buf.String())
	}
	l := ls[0]
	if l["MarketoInstance"] != "123-ABC-456" || l["Stage"] != "prod" || l["MarketoDailyCalls"] != 2.0 ||
		l["MarketoDailyBudget"] != 8.0 || l["MarketoDailyUsedPercent"] != 25.0 {
		t.Errorf("usage line %v, want 2 calls of 8 (25%%) for 123-ABC-456", l)
	}
	buf.Reset()
	if err := c.BudgetUsage(tm); err != nil || buf.Len() != 0 {
		t.Errorf("a second report with no calls in between wrote %q (%v), want nothing", buf.String(), err)
	}
	// The wrapper still gives back what a budget holds.
	if err := c.ReleaseBudgets(context.Background()); err != nil {
		t.Errorf("release: %v", err)
	}
}

type fakePublisher struct {
	in  *sns.PublishInput
	err error
}

func (f *fakePublisher) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	f.in = in
	return &sns.PublishOutput{MessageId: aws.String("m-1")}, f.err
}

func TestSNSNotifierPublishes(t *testing.T) {
	pub := &fakePublisher{}
	n := &SNSNotifier{Client: pub, TopicARN: "arn:aws:sns:us-east-1:123456789012:alerts"}
	notice := jobs.Notice{Subject: "certain-marketo prod: sync-leads job s ended failed", Body: "A run of job s ended failed.\n",
		Attributes: map[string]string{"outcome": "failed", "jobType": "sync-leads"}}
	if err := n.Notify(context.Background(), notice); err != nil {
		t.Fatal(err)
	}
	in := pub.in
	if aws.ToString(in.TopicArn) != n.TopicARN || aws.ToString(in.Subject) != notice.Subject || aws.ToString(in.Message) != notice.Body {
		t.Errorf("publish input %+v", in)
	}
	got := map[string]string{}
	for k, v := range in.MessageAttributes {
		if aws.ToString(v.DataType) != "String" {
			t.Errorf("attribute %s has type %s", k, aws.ToString(v.DataType))
		}
		got[k] = aws.ToString(v.StringValue)
	}
	if fmt.Sprint(got) != "map[jobType:sync-leads outcome:failed]" {
		t.Errorf("attributes %v", got)
	}
	pub.err = errors.New("AuthorizationError: not authorized to perform SNS:Publish")
	if err := n.Notify(context.Background(), notice); err == nil || !strings.Contains(err.Error(), "alerts") || !strings.Contains(err.Error(), "not authorized") {
		t.Errorf("error %v, want one naming the topic and the cause", err)
	}
}
