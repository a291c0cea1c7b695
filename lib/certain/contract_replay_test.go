package certain_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
)

// recording is one folder of lib/certain/testdata/contract: the exchanges
// cmctl probe-certain --record saved (or a hand-written one in their
// shape) and its probe.json.
type recording struct {
	Account  string            `json:"account"`
	Event    string            `json:"event"`
	Settings config.Connection `json:"settings"`
	Reads    map[string]int    `json:"reads"`
	answers  map[string]recorded
}

type recorded struct {
	Request struct {
		Method, Path, Query string
	} `json:"request"`
	Response struct {
		Status      int             `json:"status"`
		ContentType string          `json:"contentType"`
		RetryAfter  string          `json:"retryAfter"`
		Body        json.RawMessage `json:"body"`
	} `json:"response"`
}

func exchangeKey(method, path, rawQuery string) string {
	q, _ := url.ParseQuery(rawQuery)
	return method + " " + path + "?" + q.Encode()
}

// body is the recorded body as sent: JSON as is, a JSON string unquoted.
func (r recorded) body() []byte {
	var s string
	if json.Unmarshal(r.Response.Body, &s) == nil {
		return []byte(s)
	}
	return r.Response.Body
}

func loadRecording(t *testing.T, dir string) recording {
	t.Helper()
	var rec recording
	b, err := os.ReadFile(filepath.Join(dir, "probe.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("%s/probe.json: %v", dir, err)
	}
	rec.answers = map[string]recorded{}
	files, _ := filepath.Glob(filepath.Join(dir, "[0-9]*.json"))
	for _, f := range files {
		var ex recorded
		b, err := os.ReadFile(f)
		if err == nil {
			err = json.Unmarshal(b, &ex)
		}
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		rec.answers[exchangeKey(ex.Request.Method, ex.Request.Path, ex.Request.Query)] = ex
	}
	return rec
}

// TestContractRecordings replays every recording in testdata/contract
// through the real client with the settings the probe inferred: the reads
// the probe made through the client read the same rows again, every
// envelope passes the client's checks, and every recorded error body
// reduces to a message without markup. A request the recording does not
// hold fails the test, so the client asks exactly what the tenant answered.
func TestContractRecordings(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "contract", "*"))
	if len(dirs) == 0 {
		t.Fatal("no recordings in testdata/contract")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) { replay(t, loadRecording(t, dir)) })
	}
}

func replay(t *testing.T, rec recording) {
	var mu sync.Mutex
	var missing []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex, ok := rec.answers[exchangeKey(r.Method, r.URL.Path, r.URL.RawQuery)]
		if !ok {
			mu.Lock()
			missing = append(missing, r.Method+" "+r.URL.RequestURI())
			mu.Unlock()
			http.Error(w, "not in the recording", http.StatusTeapot)
			return
		}
		if ex.Response.ContentType != "" {
			w.Header().Set("Content-Type", ex.Response.ContentType)
		}
		w.WriteHeader(ex.Response.Status)
		_, _ = w.Write(ex.body())
	}))
	defer ts.Close()
	s := rec.Settings
	s.CertainBaseURL, s.AllowHTTP = ts.URL, true
	cfg, err := s.CertainConfig("recorded", "recorded")
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxAttempts, cfg.Sleep = 1, func(context.Context, time.Duration) error { return nil }
	c, err := certain.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if ev, err := c.GetEvent(ctx, rec.Account, rec.Event); err != nil || ev.Code != rec.Event {
		t.Errorf("GetEvent = %+v, %v", ev, err)
	}
	counts := map[string]int{}
	counts["registrations"] = count(t, "registrations", c.RegistrationPages(ctx, rec.Account, rec.Event, certain.RegistrationQuery{}))
	if _, ok := rec.Reads["agendaItems"]; ok {
		counts["agendaItems"] = count(t, "agendaItems", c.AgendaItemPages(ctx, rec.Account, rec.Event))
	}
	if _, ok := rec.Reads["sessions"]; ok {
		counts["sessions"] = count(t, "sessions", c.SessionPages(ctx, rec.Account, rec.Event))
	}
	if _, ok := rec.Reads["appointments"]; ok {
		counts["appointments"] = count(t, "appointments", c.AppointmentPages(ctx, rec.Account, rec.Event, 0))
	}
	for k, want := range rec.Reads {
		if counts[k] != want {
			t.Errorf("%s: the client read %d rows, the recording %d", k, counts[k], want)
		}
	}
	if len(missing) > 0 {
		t.Errorf("requests the recording does not hold: %v", missing)
	}
	for k, ex := range rec.answers {
		if ex.Response.Status >= 400 {
			if msg := certain.ErrorMessage(ex.body()); msg == "" || strings.ContainsAny(msg, "<>") {
				t.Errorf("%s: error body reduced to %q", k, msg)
			}
		}
	}
}

// count drains a page iterator and returns its rows.
func count[T any](t *testing.T, what string, seq func(func(certain.Page[T], error) bool)) int {
	t.Helper()
	n := 0
	for p, err := range seq {
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return n
		}
		n += len(p.Items)
	}
	return n
}
