package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

// syncBuffer is a bytes.Buffer safe for the drawing goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, buf *syncBuffer, cond func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if s := buf.String(); cond(s) {
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("output never matched: %q", buf.String())
	return ""
}

func TestPlainModeWritesWholeLines(t *testing.T) {
	var buf syncBuffer
	n := 0
	var mu sync.Mutex
	stop := Start(&buf, Options{Mode: Plain, Every: 10 * time.Millisecond}, func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return "step " + strings.Repeat("x", n)
	})
	waitFor(t, &buf, func(s string) bool { return strings.Count(s, "\n") >= 3 })
	stop()
	stop() // twice is harmless
	s := buf.String()
	if strings.ContainsAny(s, "\r\x1b") {
		t.Errorf("plain output holds carriage returns or escapes: %q", s)
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if lines[0] != "step x" || lines[1] != "step xx" {
		t.Errorf("lines %q", lines)
	}
	after := buf.String()
	time.Sleep(30 * time.Millisecond)
	if buf.String() != after {
		t.Error("lines written after stop")
	}
}

func TestTerminalModeRedrawsAndClears(t *testing.T) {
	var buf syncBuffer
	stop := Start(&buf, Options{Mode: Terminal}, func() string { return "run x: read 3" })
	waitFor(t, &buf, func(s string) bool { return strings.Count(s, "run x: read 3") >= 2 })
	stop()
	s := buf.String()
	if !strings.HasPrefix(s, "\r\x1b[Krun x: read 3\r\x1b[K") || !strings.HasSuffix(s, "\r\x1b[K") || strings.Contains(s, "\n") {
		t.Errorf("terminal output %q: want lines redrawn in place and cleared at the end", s)
	}
}

func TestLines(t *testing.T) {
	s := JobLine("plan hs-sync", jobs.ProgressSnapshot{Read: 600, Total: 2400, Done: 550, Sent: 500, Failed: 2,
		MarketoCalls: 4, MarketoDaily: 10000, CertainCalls: 7, Elapsed: 30 * time.Second, Left: 90 * time.Second})
	want := "plan hs-sync: read 600/2400 · done 550 · sent 500 · failed 2 · Marketo 4 calls (daily share 10000) · Certain 7 · 0:30 elapsed · ~1:30 left"
	if s != want {
		t.Errorf("JobLine:\n got %s\nwant %s", s, want)
	}
	if s := JobLine("run imp", jobs.ProgressSnapshot{Read: 300, Elapsed: time.Hour + 2*time.Second}); s != "run imp: read 300 · done 0 · sent 0 · Marketo 0 calls · Certain 0 · 1:00:02 elapsed" {
		t.Errorf("JobLine without a total: %s", s)
	}
	if s := MoveLine("redrive-dlq", 100, 98, 2, 400, 10*time.Second); s != "redrive-dlq: received 100 of ~400 · moved 98 · failed 2 · 0:10 elapsed · ~0:30 left" {
		t.Errorf("MoveLine: %s", s)
	}
	if got := fit("abcdefghij", 6); got != "abcd…" {
		t.Errorf("fit = %q", got)
	}
}
