package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/testkit/inprocess"
)

// The whole demo flow (credentials read through the secret source and the
// connector, every function's handler, debug-level logs) leaves no secret
// value in a log line, a run record, a per-record outcome, the demo's own
// output, or any URL either simulator received.
func TestDemoFlowLeaksNoSecret(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var logs bytes.Buffer
	env, err := inprocess.Start(ctx, inprocess.Options{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	res, err := Run(ctx, env, nil)
	if err != nil {
		t.Fatalf("demo flow: %v", err)
	}

	var haystack bytes.Buffer
	haystack.Write(logs.Bytes())
	if err := json.NewEncoder(&haystack).Encode(res); err != nil {
		t.Fatal(err)
	}
	for _, j := range env.Jobs {
		runs, err := env.Store.ListRuns(ctx, j.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			_ = json.NewEncoder(&haystack).Encode(r)
			outs, err := env.Store.ListOutcomes(ctx, r.ID, "")
			if err != nil {
				t.Fatal(err)
			}
			_ = json.NewEncoder(&haystack).Encode(outs)
		}
	}
	for _, c := range env.Marketo.Calls() {
		haystack.WriteString(c.URL + "\n")
	}
	for _, c := range env.Certain.Calls() {
		haystack.WriteString(c.Path + "?" + c.Query + "\n")
	}
	if logs.Len() == 0 || !strings.Contains(logs.String(), `"level":"DEBUG"`) {
		t.Fatalf("no debug log captured: the check would prove nothing")
	}
	tokens := env.Marketo.IssuedTokens()
	if len(tokens) == 0 {
		t.Fatal("the Marketo simulator issued no token: the flow did not authenticate")
	}
	secrets := append([]string{env.Marketo.ClientSecret(), env.Certain.Password()}, tokens...)
	for _, s := range secrets {
		if len(s) < 8 {
			t.Fatalf("secret %q too short to search for reliably", s)
		}
		if strings.Contains(haystack.String(), s) {
			t.Errorf("a secret value (%d chars, starting %q) appears in the logs, run records, outcomes, output or URLs", len(s), s[:3])
		}
	}
	t.Logf("searched %d bytes for %d secret values", haystack.Len(), len(secrets))
}
