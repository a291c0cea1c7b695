package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

type stubTicker struct {
	ticks int
	err   error
}

func (s *stubTicker) Tick(context.Context) (jobs.DetectorResult, error) {
	s.ticks++
	return jobs.DetectorResult{Scopes: []jobs.ScopeResult{{Account: "ACME", Event: "HS26", Read: 3, Changes: 1, Sent: 1}}}, s.err
}

func TestDetectorHandlerSample(t *testing.T) {
	tk := &stubTicker{}
	out, err := lambda.NewHandler(app.DetectorHandler(tk, app.Telemetry{})).Invoke(context.Background(), readEvent(t, "schedule-tick-registration-changes.json"))
	if err != nil || tk.ticks != 1 {
		t.Fatalf("tick: %v, %d ticks", err, tk.ticks)
	}
	var res jobs.DetectorResult
	if err := json.Unmarshal(out, &res); err != nil || len(res.Scopes) != 1 || res.Scopes[0].Sent != 1 {
		t.Fatalf("response %s: %v", out, err)
	}
	for _, ok := range []string{`{}`, `null`, `{"scheduledTime":"2026-04-01T08:05:00Z"}`} {
		if _, err := lambda.NewHandler(app.DetectorHandler(tk, app.Telemetry{})).Invoke(context.Background(), []byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		`{"jobType":"sync-leads"}`:      "serves",
		`{"scheduledTime":"yesterday"}`: "RFC 3339",
		`{"jobId":"summit-sync"}`:       "unknown field",
		`[1]`:                           "invalid registration-changes payload",
	} {
		_, err := lambda.NewHandler(app.DetectorHandler(tk, app.Telemetry{})).Invoke(context.Background(), []byte(bad))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", bad, err, want)
		}
	}
	// A failing scope is the invocation's error.
	tk.err = errors.New("detector ACME/HS26: boom")
	if _, err := lambda.NewHandler(app.DetectorHandler(tk, app.Telemetry{})).Invoke(context.Background(), []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("scope error not returned: %v", err)
	}
}
