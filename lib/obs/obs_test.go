package obs

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

func decodeLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line is not one JSON object: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestNewLoggerJSONShape(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, "JSON", "INFO")
	ctx := WithJob(context.Background(), "summit-sync", "ACME", "HS26")
	ctx = WithRun(ctx, "run-1")
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "req-9"})
	log.InfoContext(ctx, "run started", "records", 3)

	lines := decodeLines(t, buf.String())
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1: %q", len(lines), buf.String())
	}
	got := lines[0]
	want := map[string]any{
		"level": "INFO", "message": "run started", "records": float64(3),
		KeyJobID: "summit-sync", KeyAccount: "ACME", KeyEvent: "HS26", KeyRunID: "run-1", KeyRequestID: "req-9",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("key %q = %v, want %v (line %v)", k, got[k], v, got)
		}
	}
	if _, ok := got["timestamp"]; !ok {
		t.Errorf("no timestamp key: %v", got)
	}
	for _, k := range []string{"time", "msg"} {
		if _, ok := got[k]; ok {
			t.Errorf("slog's default key %q still present: %v", k, got)
		}
	}
}

func TestNewLoggerLevelFilter(t *testing.T) {
	tests := []struct {
		level     string
		wantLines []string // levels that pass
	}{
		{"TRACE", []string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR"}},
		{"debug", []string{"DEBUG", "INFO", "WARN", "ERROR"}},
		{"INFO", []string{"INFO", "WARN", "ERROR"}},
		{"", []string{"INFO", "WARN", "ERROR"}},
		{"WARN", []string{"WARN", "ERROR"}},
		{"ERROR", []string{"ERROR"}},
		{"nonsense", []string{"INFO", "WARN", "ERROR"}},
	}
	for _, tc := range tests {
		t.Run(tc.level, func(t *testing.T) {
			var buf bytes.Buffer
			log := NewLogger(&buf, "json", tc.level)
			ctx := context.Background()
			log.Log(ctx, LevelTrace, "t")
			log.DebugContext(ctx, "d")
			log.InfoContext(ctx, "i")
			log.WarnContext(ctx, "w")
			log.ErrorContext(ctx, "e")
			var got []string
			for _, l := range decodeLines(t, buf.String()) {
				got = append(got, l["level"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tc.wantLines, ",") {
				t.Errorf("levels written = %v, want %v", got, tc.wantLines)
			}
		})
	}
}

func TestParseLevelRejectsUnknown(t *testing.T) {
	if _, err := ParseLevel("LOUD"); err == nil || !strings.Contains(err.Error(), `"LOUD"`) {
		t.Errorf("ParseLevel(LOUD) error = %v, want one naming the value", err)
	}
	if l, err := ParseLevel("fatal"); err != nil || l != LevelFatal {
		t.Errorf("ParseLevel(fatal) = %v, %v", l, err)
	}
}

func TestNewLoggerText(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, "Text", "INFO")
	log.InfoContext(WithEvent(context.Background(), "ACME", "HS26"), "detector tick")
	s := buf.String()
	for _, want := range []string{"level=INFO", `message="detector tick"`, "account=ACME", "event=HS26", "timestamp="} {
		if !strings.Contains(s, want) {
			t.Errorf("text line %q lacks %q", s, want)
		}
	}
	if strings.HasPrefix(strings.TrimSpace(s), "{") {
		t.Errorf("text format wrote JSON: %q", s)
	}
}

func TestWithReplacesSameKey(t *testing.T) {
	ctx := WithRun(context.Background(), "run-1")
	ctx2 := WithRun(ctx, "run-2")
	if got := Attrs(ctx2); len(got) != 1 || got[0].Value.String() != "run-2" {
		t.Errorf("Attrs after replacing runId = %v, want only run-2", got)
	}
	if got := Attrs(ctx); len(got) != 1 || got[0].Value.String() != "run-1" {
		t.Errorf("parent context changed: %v", got)
	}
	if got := Attrs(context.Background()); got != nil {
		t.Errorf("empty context has attrs %v", got)
	}
}

func TestLoggerWithAttrsKeepsContextAttrs(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, "JSON", "INFO").With(slog.String("fn", "sync-leads"))
	log.InfoContext(WithJob(context.Background(), "j1", "A", "E"), "x")
	l := decodeLines(t, buf.String())[0]
	if l["fn"] != "sync-leads" || l[KeyJobID] != "j1" {
		t.Errorf("line %v lacks logger or context attrs", l)
	}
}
