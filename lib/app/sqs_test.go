package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatalf("sample event: %v", err)
	}
	return b
}

// sqsEnv seeds the registrations the samples in events/ name, each with a
// known Marketo lead, and two trigger-campaign jobs.
func sqsEnv(t *testing.T, dynamo bool) (*jobstest.Env, *jobs.Trigger, map[string]int) {
	t.Helper()
	opts := []jobstest.Option{jobstest.WithConnection(func(c *config.Connection) {
		c.Statuses = append(config.DefaultStatuses(), config.Status{Name: "Registered", Category: config.CategoryAccepted})
	})}
	if dynamo {
		opts = append(opts, jobstest.WithDynamo())
	}
	env := jobstest.New(t, opts...)
	env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": "HS26", "eventName": "Harbour Summit"})
	leads := map[string]int{}
	for _, code := range []string{"R-100231", "R-100232", "R-100233"} {
		email := strings.ToLower(code) + "@example.org"
		id := env.Marketo.AddLead(marketo.Lead{"email": email})
		pin := env.Certain.AddProfile(jobstest.Account, map[string]any{"email": email, "externalKey": fmt.Sprint(id), "sourceOfProfile": "Marketo"})
		env.Certain.AddRegistration(jobstest.Account, "HS26", pin, map[string]any{"registrationCode": code, "registrationStatusLabel": "Registered"})
		leads[code] = id
	}
	env.Marketo.AddCampaign(marketotest.Campaign{ID: 5150, Type: "trigger", Active: true, Requestable: true})
	env.Marketo.AddCampaign(marketotest.Campaign{ID: 5160, Type: "trigger", Active: true, Requestable: true})
	for id, p := range map[string]config.Params{
		"to-preregistered": {CampaignID: 5150, ToStatus: "Pre-Registered"},
		"to-registered":    {CampaignID: 5160, ToStatus: "Registered"},
	} {
		env.PutJob(t, config.Job{ID: id, Account: jobstest.Account, Event: "HS26", Type: config.TypeTriggerCampaign, Name: id, Enabled: true,
			Schedule: config.Schedule{Interval: config.Duration(time.Hour)}, Params: p})
	}
	tr := &jobs.Trigger{Store: env.Store, Now: env.Clock.Now, Connector: jobstest.StaticConnector{Clients: env.Clients, Account: jobstest.Account}}
	return env, tr, leads
}

func invokeSQS(t *testing.T, h any, payload []byte) events.SQSEventResponse {
	t.Helper()
	out, err := lambda.NewHandler(h).Invoke(context.Background(), payload)
	if err != nil {
		t.Fatalf("handler returned an error for the batch: %v", err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	return resp
}

func TestSQSHandlerSample(t *testing.T) {
	for _, dyn := range []bool{false, true} {
		t.Run(map[bool]string{false: "memstore", true: "dynamodb"}[dyn], func(t *testing.T) {
			env, tr, leads := sqsEnv(t, dyn)
			h := app.SQSChangeHandler(tr, slog.New(slog.DiscardHandler))
			payload := readEvent(t, "sqs-registration-changes.json")
			resp := invokeSQS(t, h, payload)
			if len(resp.BatchItemFailures) != 0 {
				t.Fatalf("failures %+v", resp.BatchItemFailures)
			}
			reqs := env.Marketo.CampaignRequests()
			slices.SortFunc(reqs, func(a, b marketotest.CampaignRequest) int { return a.CampaignID - b.CampaignID })
			if len(reqs) != 2 || reqs[0].CampaignID != 5150 || !slices.Equal(reqs[0].LeadIDs, []int{leads["R-100231"]}) ||
				reqs[1].CampaignID != 5160 || !slices.Equal(reqs[1].LeadIDs, []int{leads["R-100232"]}) {
				t.Fatalf("campaign requests %+v", reqs)
			}
			// SQS redelivers the whole batch: nothing is triggered again.
			if resp := invokeSQS(t, h, payload); len(resp.BatchItemFailures) != 0 || len(env.Marketo.CampaignRequests()) != 2 {
				t.Fatalf("redelivery: %+v, %d requests", resp, len(env.Marketo.CampaignRequests()))
			}
		})
	}
}

func TestSQSHandlerMalformedSample(t *testing.T) {
	env, tr, leads := sqsEnv(t, false)
	var logs bytes.Buffer
	h := app.SQSChangeHandler(tr, slog.New(slog.NewJSONHandler(&logs, nil)))
	resp := invokeSQS(t, h, readEvent(t, "sqs-registration-changes-malformed.json"))
	want := []events.SQSBatchItemFailure{{ItemIdentifier: "5f4c1b2e-7a1d-4c1e-9b7a-000000000003"}}
	if !slices.Equal(resp.BatchItemFailures, want) {
		t.Fatalf("failures %+v, want only the malformed message", resp.BatchItemFailures)
	}
	var line map[string]any
	for l := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(l, "000000000003") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line["level"] != "ERROR" || !strings.Contains(fmt.Sprint(line["msg"]), "malformed") || !strings.Contains(fmt.Sprint(line["reason"]), "change message") {
		t.Fatalf("log line for the malformed message: %v\nall logs:\n%s", line, logs.String())
	}
	// The valid message of the same batch was processed.
	if reqs := env.Marketo.CampaignRequests(); len(reqs) != 1 || !slices.Equal(reqs[0].LeadIDs, []int{leads["R-100233"]}) {
		t.Fatalf("campaign requests %+v", reqs)
	}
}

// stubHandler fails the messages whose registration code is listed.
type stubHandler struct{ fail map[string]bool }

func (s stubHandler) Handle(_ context.Context, msgs []jobs.ChangeMessage) []error {
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		if s.fail[m.RegistrationCode] {
			errs[i] = errors.New("transient")
		}
	}
	return errs
}

func TestSQSHandlerReportsUnfinishedMessages(t *testing.T) {
	h := app.SQSChangeHandler(stubHandler{fail: map[string]bool{"R-100232": true}}, slog.New(slog.DiscardHandler))
	resp := invokeSQS(t, h, readEvent(t, "sqs-registration-changes.json"))
	want := []events.SQSBatchItemFailure{{ItemIdentifier: "5f4c1b2e-7a1d-4c1e-9b7a-000000000002"}}
	if !slices.Equal(resp.BatchItemFailures, want) {
		t.Fatalf("failures %+v", resp.BatchItemFailures)
	}
	// Full success marshals as an empty list, which SQS reads as "all done".
	out, err := lambda.NewHandler(app.SQSChangeHandler(stubHandler{}, nil)).Invoke(context.Background(), readEvent(t, "sqs-registration-changes.json"))
	if err != nil || string(out) != `{"batchItemFailures":null}` {
		t.Fatalf("success response %s, %v", out, err)
	}
}

// stubSQS accepts entries except those whose body names a listed
// registration, and can fail a whole call.
type stubSQS struct {
	calls    []*sqs.SendMessageBatchInput
	refuse   string
	failCall int // 1-based call that fails outright; 0 never
}

func (s *stubSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	s.calls = append(s.calls, in)
	if len(s.calls) == s.failCall {
		return nil, errors.New("connection reset")
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if s.refuse != "" && strings.Contains(aws.ToString(e.MessageBody), s.refuse) {
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("try again")})
			continue
		}
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func TestSQSSender(t *testing.T) {
	at := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	var msgs []jobs.ChangeMessage
	for i := range 25 {
		msgs = append(msgs, jobs.NewChange("ACME", "HS26", fmt.Sprintf("R-%03d", i), "Invited", "Pre-Registered", at))
	}
	stub := &stubSQS{refuse: `"R-004"`}
	s := &app.SQSSender{Client: stub, QueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/changes"}
	sent, err := s.SendChanges(context.Background(), msgs)
	if err == nil || !strings.Contains(err.Error(), "InternalError") {
		t.Fatalf("refused entry not reported: %v", err)
	}
	if len(stub.calls) != 3 || len(stub.calls[0].Entries) != 10 || len(stub.calls[2].Entries) != 5 || aws.ToString(stub.calls[0].QueueUrl) != s.QueueURL {
		t.Fatalf("calls %d", len(stub.calls))
	}
	for i, ok := range sent {
		if ok == (i == 4) {
			t.Fatalf("sent[%d] = %v", i, ok)
		}
	}
	back, err := jobs.DecodeChange([]byte(aws.ToString(stub.calls[1].Entries[0].MessageBody)))
	if err != nil || back != msgs[10] {
		t.Fatalf("body does not decode to the message: %+v, %v", back, err)
	}

	// A call failing outright stops: later batches are not sent.
	stub = &stubSQS{failCall: 2}
	sent, err = (&app.SQSSender{Client: stub, QueueURL: "q"}).SendChanges(context.Background(), msgs)
	if err == nil || len(stub.calls) != 2 || !sent[9] || sent[10] || sent[24] {
		t.Fatalf("outright failure: %v, %d calls, sent %v", err, len(stub.calls), sent)
	}
}
