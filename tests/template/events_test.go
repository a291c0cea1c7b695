package template

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

// changeV1 is the documented v1 registration-change message.
type changeV1 struct {
	Version          int    `json:"version"`
	ChangeID         string `json:"changeId"`
	Account          string `json:"account"`
	Event            string `json:"event"`
	RegistrationCode string `json:"registrationCode"`
	PreviousStatus   string `json:"previousStatus"`
	NewStatus        string `json:"newStatus"`
	ChangedAt        string `json:"changedAt"`
}

func (c changeV1) problem() string {
	switch {
	case c.Version != 1:
		return "version is not 1"
	case c.ChangeID == "" || c.Account == "" || c.Event == "" || c.RegistrationCode == "" || c.NewStatus == "":
		return "a required field is empty"
	}
	if _, err := time.Parse(time.RFC3339, c.ChangedAt); err != nil {
		return "changedAt is not RFC 3339"
	}
	return ""
}

func readEvent(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "events", name))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("events/%s: %v", name, err)
	}
}

func TestSQSSampleEvents(t *testing.T) {
	var good events.SQSEvent
	readEvent(t, "sqs-registration-changes.json", &good)
	if len(good.Records) != 2 {
		t.Fatalf("sqs-registration-changes.json has %d records, want 2", len(good.Records))
	}
	ids := map[string]bool{}
	for i, r := range good.Records {
		if r.MessageId == "" || ids[r.MessageId] || r.EventSource != "aws:sqs" {
			t.Errorf("record %d: messageId %q (unique, non-empty) eventSource %q", i, r.MessageId, r.EventSource)
		}
		ids[r.MessageId] = true
		var c changeV1
		dec := json.NewDecoder(strings.NewReader(r.Body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			t.Errorf("record %d body is not a v1 change: %v", i, err)
			continue
		}
		if p := c.problem(); p != "" {
			t.Errorf("record %d: %s: %s", i, p, r.Body)
		}
	}

	var bad events.SQSEvent
	readEvent(t, "sqs-registration-changes-malformed.json", &bad)
	broken := 0
	for _, r := range bad.Records {
		var c changeV1
		if err := json.Unmarshal([]byte(r.Body), &c); err != nil || c.problem() != "" {
			broken++
		}
	}
	if broken != 1 || len(bad.Records) != 2 {
		t.Errorf("malformed sample: %d of %d records broken, want 1 of 2 (one bad next to one good)", broken, len(bad.Records))
	}
}

func TestDirectRunSamples(t *testing.T) {
	for _, name := range []string{"direct-run.json", "direct-run-force.json"} {
		var run struct {
			JobID string `json:"jobId"`
			Force *bool  `json:"force"`
		}
		readEvent(t, name, &run)
		if run.JobID != "summit-sync" {
			t.Errorf("%s jobId = %q, want summit-sync", name, run.JobID)
		}
	}
}

// events/env.json (for `sam local invoke --env-vars`) gives every function
// each variable the template fills from the stack (a !Ref or !GetAtt, which
// sam local cannot resolve), so a local invoke never starts without one.
func TestEnvJSONCoversStackValues(t *testing.T) {
	tp := loadTemplate(t)
	var env map[string]map[string]string
	readEvent(t, "env.json", &env)
	for _, id := range tp.functionIDs() {
		for name, v := range tp.envVars(id) {
			if _, literal := v.(string); literal {
				continue
			}
			if _, ok := env[id][name]; ok {
				continue
			}
			if _, ok := env["Parameters"][name]; !ok {
				t.Errorf("events/env.json gives %s no %s (the template sets it from the stack: %v)", id, name, v)
			}
		}
	}
}

// The work-queue samples: every body of the good ones decodes as the
// message its function consumes; the malformed ones hold exactly one that
// does not (the first), beside a good one.
func TestWorkQueueSampleEvents(t *testing.T) {
	for _, tc := range []struct {
		good, bad string
		decode    func([]byte) error
	}{
		{"sqs-run-job.json", "sqs-run-job-malformed.json", func(b []byte) error { _, err := jobs.DecodeRun(b); return err }},
		{"sqs-detector-scopes.json", "sqs-detector-scopes-malformed.json", func(b []byte) error { _, err := jobs.DecodeScope(b); return err }},
	} {
		var good, bad events.SQSEvent
		readEvent(t, tc.good, &good)
		readEvent(t, tc.bad, &bad)
		if len(good.Records) == 0 || len(bad.Records) != 2 {
			t.Fatalf("%s has %d records, %s %d; want some and 2", tc.good, len(good.Records), tc.bad, len(bad.Records))
		}
		for i, r := range good.Records {
			if err := tc.decode([]byte(r.Body)); err != nil || r.MessageId == "" || r.EventSource != "aws:sqs" {
				t.Errorf("%s record %d: %v (messageId %q, eventSource %q)", tc.good, i, err, r.MessageId, r.EventSource)
			}
		}
		if tc.decode([]byte(bad.Records[0].Body)) == nil || tc.decode([]byte(bad.Records[1].Body)) != nil {
			t.Errorf("%s: want its first body refused and its second accepted", tc.bad)
		}
	}
}
