package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// alerts is the stack's operations topic in moto, with an SQS queue
// subscribed to it so that the test reads what was published.
type alerts struct {
	topicARN string
	queueURL string
}

func newAlerts(t *testing.T, ctx context.Context, cfg aws.Config, q *sqs.Client) alerts {
	t.Helper()
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("certain-marketo-e2e-AlertTopic")})
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("certain-marketo-e2e-alert-reader")})
	if err != nil {
		t.Fatalf("create alert queue: %v", err)
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sns.NewFromConfig(cfg).Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}); err != nil {
		t.Fatalf("subscribe the queue to the topic: %v", err)
	}
	return alerts{topicARN: aws.ToString(topic.TopicArn), queueURL: aws.ToString(out.QueueUrl)}
}

// notification is the SNS envelope an SQS subscription receives.
type notification struct {
	Type              string
	TopicArn          string
	Subject           string
	Message           string
	MessageAttributes map[string]struct{ Type, Value string }
}

// drainAlerts receives every notice published so far.
func (w *world) drainAlerts(ctx context.Context) []notification {
	w.t.Helper()
	var out []notification
	for {
		res, err := w.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.alerts.queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			w.t.Fatalf("receive notices: %v", err)
		}
		if len(res.Messages) == 0 {
			return out
		}
		for _, m := range res.Messages {
			var n notification
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &n); err != nil {
				w.t.Fatalf("notice %q is not an SNS notification: %v", aws.ToString(m.Body), err)
			}
			out = append(out, n)
			if _, err := w.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(w.alerts.queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				w.t.Fatal(err)
			}
		}
	}
}

// failedRunNotice: an import-leads job whose Marketo list does not exist
// ends failed, and import-leads publishes exactly one notice for that run
// to the topic: subject and attributes that name it, the job, the event,
// the error and the command that lists its failures, no secret and no
// e-mail address. Every other notice published so far (runs that ended
// partial) carries no e-mail address either.
func (w *world) failedRunNotice() {
	w.t.Helper()
	ctx := context.Background()
	before := w.drainAlerts(ctx)
	for _, n := range before {
		w.checkNoticeClean(n)
		if n.MessageAttributes["outcome"].Value != store.RunPartial || !strings.Contains(n.Message, "Most frequent failure reasons") {
			w.t.Errorf("notice of a run before the failed one: %q, want a partial run's notice with its failure reasons:\n%s", n.Subject, n.Message)
		}
	}
	if len(before) > 0 {
		w.t.Logf("a partial run's notice:\nSubject: %s\n%s", before[0].Subject, before[0].Message)
	}

	j := w.jobs[config.TypeImportLeads]
	j.ID, j.Name, j.Params.ListID = "e2e-missing-list", "list that does not exist", 987654
	if err := w.store.PutJob(ctx, j); err != nil {
		w.t.Fatalf("store job: %v", err)
	}
	r := w.queuedRun("import-leads", "direct run of a job whose list is missing", j.ID)
	if r.Outcome != store.RunFailed {
		w.t.Fatalf("run of %s = %+v, want a failed run", j.ID, r)
	}
	runID := r.ID
	var mine []notification
	for _, n := range w.drainAlerts(ctx) {
		w.checkNoticeClean(n)
		if n.MessageAttributes["runId"].Value == runID {
			mine = append(mine, n)
		}
	}
	if len(mine) != 1 {
		w.t.Fatalf("%d notices for the failed run %s, want exactly 1", len(mine), runID)
	}
	n := mine[0]
	if n.Type != "Notification" || n.TopicArn != w.alerts.topicARN {
		w.t.Errorf("notice envelope %+v, want a Notification of %s", n, w.alerts.topicARN)
	}
	if want := fmt.Sprintf("certain-marketo %s: import-leads job %s ended failed", stage, j.ID); n.Subject != want {
		w.t.Errorf("subject %q, want %q", n.Subject, want)
	}
	for k, want := range map[string]string{"outcome": "failed", "jobId": j.ID, "jobType": config.TypeImportLeads, "stage": stage, "event": j.Event} {
		if got := n.MessageAttributes[k]; got.Value != want || got.Type != "String" {
			w.t.Errorf("attribute %s = %+v, want String %q", k, got, want)
		}
	}
	for _, want := range []string{"A run of job " + j.ID + " ended failed", "Job:     " + j.ID + " (import-leads)",
		"event " + j.Event, "Error:   ", "987654", "cmctl failures " + runID} {
		if !strings.Contains(n.Message, want) {
			w.t.Errorf("notice lacks %q:\n%s", want, n.Message)
		}
	}
	w.timings = append(w.timings, fmt.Sprintf("%-22s %-40s %d notices before it (partial runs), then 1", "alert topic", "notice of the failed run", len(before)))
	w.t.Logf("the failed run's notice:\nSubject: %s\n%s", n.Subject, n.Message)
}

// checkNoticeClean fails on a notice holding a secret or an e-mail address.
func (w *world) checkNoticeClean(n notification) {
	w.t.Helper()
	for _, secret := range []string{"e2e-marketo-secret", "e2e-certain-password", "e2e-client"} {
		if strings.Contains(n.Message, secret) || strings.Contains(n.Subject, secret) {
			w.t.Errorf("notice %q holds a credential", n.Subject)
		}
	}
	if strings.Contains(n.Message, "@") {
		w.t.Errorf("notice %q holds an e-mail address:\n%s", n.Subject, n.Message)
	}
}
