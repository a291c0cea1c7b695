package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// TestNoSecretAnywhere runs every job over the demo data through the
// functions' handlers, with faults that make the clients log, retry and
// fail (token expiry, 606, Certain 429/5xx, record failures), and fails if
// the Marketo client secret, any access token the clients used, or the
// Certain password appears in a log line (debug level), an error, a run
// record, a per-record outcome, or a URL either simulator received.
func TestNoSecretAnywhere(t *testing.T) {
	var logs bytes.Buffer
	w := NewWorld(t, Config{Log: &logs, Seed: 99})
	for _, f := range []Fault{TokenExpiry(), Bursts606(), CertainFaults(), RecordFailures()} {
		if f.Setup != nil {
			f.Setup(w)
		}
		if f.Before != nil {
			f.Before(w, "", 0)
		}
	}
	ctx := context.Background()
	var texts []string
	sched := lambda.NewHandler(app.ScheduledHandler(w.Executor, config.TypeImportLeads, config.TypeSyncLeads, config.TypeEngagementMetrics, config.TypeInterestMetrics))
	for _, id := range []string{JobImport, JobSync, JobEngagement, JobInterest} {
		out, err := sched.Invoke(ctx, []byte(fmt.Sprintf(`{"jobId":%q}`, id)))
		texts = append(texts, string(out))
		if err != nil {
			texts = append(texts, err.Error())
		}
	}
	// A tick, a bad payload (its error), and the change flow through SQS.
	if out, err := sched.Invoke(ctx, []byte(`{"jobType":"sync-leads","scheduledTime":"2026-06-03T16:00:00Z"}`)); err != nil {
		texts = append(texts, err.Error())
	} else {
		texts = append(texts, string(out))
	}
	if _, err := sched.Invoke(ctx, []byte(`{"jobId":"no-such-job"}`)); err != nil {
		texts = append(texts, err.Error())
	}
	if out, err := w.Run(ctx, StepTrigger); err != nil {
		texts = append(texts, err.Error())
	} else {
		texts = append(texts, out)
	}
	runs, err := w.Mem.ListRuns(ctx, "", 1000)
	if err != nil {
		// ListRuns may need a job id: gather per job.
		runs = nil
	}
	for _, j := range w.Jobs {
		rs, _ := w.Mem.ListRuns(ctx, j.ID, 1000)
		runs = append(runs, rs...)
	}
	if len(runs) < 5 {
		t.Fatalf("only %d runs recorded: the flow did not run", len(runs))
	}
	for _, r := range runs {
		b, _ := json.Marshal(r)
		texts = append(texts, string(b))
		outs, _ := w.Mem.ListOutcomes(ctx, r.ID, "")
		b, _ = json.Marshal(outs)
		texts = append(texts, string(b))
	}
	for _, c := range w.Marketo.Calls() {
		texts = append(texts, c.URL)
	}
	for _, c := range w.Certain.Calls() {
		texts = append(texts, c.Path+"?"+c.Query)
	}
	texts = append(texts, logs.String())
	all := strings.Join(texts, "\n")

	secrets := map[string]string{"Marketo client secret": w.Marketo.ClientSecret(), "Certain password": w.Certain.Password()}
	tokens := w.Net.Tokens()
	if len(tokens) < 2 {
		t.Fatalf("only %d access tokens seen: the token expiry did not happen", len(tokens))
	}
	for i, tok := range tokens {
		secrets[fmt.Sprint("access token ", i+1)] = tok
	}
	if !strings.Contains(logs.String(), `"level":"DEBUG"`) && !strings.Contains(logs.String(), `"level":"WARN"`) {
		t.Errorf("the log capture saw no debug or warn line; is the logger wired? (%d bytes)", logs.Len())
	}
	for name, v := range secrets {
		if len(v) < 6 {
			t.Fatalf("%s %q too short to search for", name, v)
		}
		if i := strings.Index(all, v); i >= 0 {
			t.Errorf("%s found: …%s…", name, all[max(0, i-120):i])
		}
	}
	t.Logf("searched %d bytes (logs %d, runs %d) for %d secret values", len(all), logs.Len(), len(runs), len(secrets))
}

// TestPlainHTTPRefused: http:// endpoints are refused unless a connection
// explicitly allows them (simulators only).
func TestPlainHTTPRefused(t *testing.T) {
	if _, err := marketo.New(marketo.Config{BaseURL: "http://123-ABC-456.mktorest.com", ClientID: "id", ClientSecret: "s3cret-value"}); err == nil || !strings.Contains(err.Error(), "http") {
		t.Errorf("marketo.New with http:// and AllowHTTP false: %v", err)
	} else if strings.Contains(err.Error(), "s3cret-value") {
		t.Errorf("marketo.New error shows the secret: %v", err)
	}
	if _, err := certain.New(certain.Config{BaseURL: "http://app.certain.example", Username: "u", Password: "pa55word-value"}); err == nil || !strings.Contains(err.Error(), "http") {
		t.Errorf("certain.New with http:// and AllowHTTP false: %v", err)
	} else if strings.Contains(err.Error(), "pa55word-value") {
		t.Errorf("certain.New error shows the password: %v", err)
	}
	d := NewWorld(t, Config{}).Conn
	d.AllowHTTP = false
	if err := d.Validate(); err == nil || !strings.Contains(err.Error(), "certainBaseURL") {
		t.Errorf("connection with http:// and allowHTTP false validated: %v", err)
	}
	d.CertainBaseURL = "https://app.certain.example"
	if err := d.Validate(); err != nil {
		t.Errorf("https connection refused: %v", err)
	}
}
