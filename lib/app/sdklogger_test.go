package app

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/smithy-go/logging"
)

// The AWS SDK's warnings become JSON lines of the function's log, with the
// level the SDK gave them (docs/operations.md §6).
func TestSDKLoggerWritesJSON(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l := SDKLogger(log)
	l.Logf(logging.Warn, "failed to discard remaining HTTP response body: %v", "use of closed network connection")
	l.Logf(logging.Debug, "request %d", 7)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2: %q", len(lines), buf.String())
	}
	want := []struct{ level, msg string }{
		{"WARN", "failed to discard remaining HTTP response body: use of closed network connection"},
		{"DEBUG", "request 7"},
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d is not JSON: %q", i, line)
		}
		if m["level"] != want[i].level || m["msg"] != want[i].msg || m["source"] != "aws-sdk" {
			t.Errorf("line %d = %v, want level %s msg %q source aws-sdk", i, m, want[i].level, want[i].msg)
		}
	}
}
