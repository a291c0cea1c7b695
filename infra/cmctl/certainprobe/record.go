package certainprobe

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/certain-marketo/certain-marketo/lib/config"
)

// Exchange is one recorded request and answer (--record): the format the
// contract test of lib/certain replays (lib/certain/testdata/contract).
type Exchange struct {
	Request  RecordedRequest  `json:"request"`
	Response RecordedResponse `json:"response"`
}

// RecordedRequest is a request without its credentials (never recorded).
type RecordedRequest struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Query  string          `json:"query,omitempty"` // url.Values.Encode order
	Body   json.RawMessage `json:"body,omitempty"`
}

// RecordedResponse is an answer; Body is the JSON itself, or a JSON string
// for any other body.
type RecordedResponse struct {
	Status      int             `json:"status"`
	ContentType string          `json:"contentType,omitempty"`
	RetryAfter  string          `json:"retryAfter,omitempty"`
	Body        json.RawMessage `json:"body"`
}

// Manifest describes a recording: the settings the client reads were made
// with and how many rows each read returned.
type Manifest struct {
	Account  string            `json:"account"`
	Event    string            `json:"event"`
	Settings config.Connection `json:"settings"`
	Reads    map[string]int    `json:"reads"`
}

// recorder keeps what the transport saw: the 429s for the report and, with
// a directory, every exchange, redacted.
type recorder struct {
	dir   string
	mu    sync.Mutex
	n     int
	err   error
	reads map[string]int
}

func newRecorder(dir string) (*recorder, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("--record: %w", err)
		}
	}
	return &recorder{dir: dir, reads: map[string]int{}}, nil
}

// wrap returns a copy of hc whose transport goes through the recorder.
func (r *recorder) wrap(hc *http.Client, rep *Report) *http.Client {
	c := *hc
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = &recTransport{base: base, r: r, rep: rep}
	return &c
}

type recTransport struct {
	base http.RoundTripper
	r    *recorder
	rep  *Report
}

// RoundTrip passes the request on and keeps a copy of the answer.
func (t *recTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && req.GetBody != nil {
		if rc, err := req.GetBody(); err == nil {
			reqBody, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, err
	}
	t.r.mu.Lock()
	defer t.r.mu.Unlock()
	if resp.StatusCode == http.StatusTooManyRequests {
		t.rep.Throttled++
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			t.rep.RetryAfter = append(t.rep.RetryAfter, ra)
		}
	}
	if t.r.dir != "" && t.r.err == nil {
		t.r.err = t.r.write(req, reqBody, resp, body)
	}
	return resp, nil
}

// write saves one exchange, redacted. mu held.
func (r *recorder) write(req *http.Request, reqBody []byte, resp *http.Response, body []byte) error {
	r.n++
	q := req.URL.Query()
	for k, vs := range q {
		for i := range vs {
			vs[i] = redactValue(k, vs[i])
		}
	}
	ex := Exchange{
		Request: RecordedRequest{Method: req.Method, Path: req.URL.Path, Query: q.Encode(), Body: redactBody(reqBody)},
		Response: RecordedResponse{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"),
			RetryAfter: resp.Header.Get("Retry-After"), Body: redactBody(body)},
	}
	name := fmt.Sprintf("%03d-%s-%s.json", r.n, req.Method, resourceOf(req.URL.Path))
	return writeFile(filepath.Join(r.dir, name), ex)
}

// resourceOf names a path for a file name: its resource segment.
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range parts {
		if p == "v1" && i+1 < len(parts) {
			return parts[i+1]
		}
	}
	if len(parts) > 0 {
		return parts[len(parts)-1]
	}
	return "root"
}

// finish writes the manifest and reports a recording that failed.
func (r *recorder) finish(rep Report, settings config.Connection) error {
	if r.dir == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return fmt.Errorf("--record: %w", r.err)
	}
	return writeFile(filepath.Join(r.dir, "probe.json"), Manifest{Account: rep.Account, Event: rep.Event, Settings: settings, Reads: r.reads})
}

// writeFile writes v as indented JSON, without escaping & < >.
func writeFile(path string, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// personal are the keys whose values are personal data (compared in lower
// case; "phone…" and "address…" prefixes too).
func personal(key string) bool {
	k := strings.ToLower(key)
	switch k {
	case "email", "firstname", "lastname", "middlename", "salutation", "suffix", "nickname", "name", "contactname",
		"username", "password", "fax", "mobile", "line1", "line2", "line3", "line4", "postalcode", "zip", "jobtitle",
		"position", "title", "birthdate", "dateofbirth", "txtevtcreatedby", "txtevtmodifiedby", "createdby", "modifiedby":
		return true
	}
	return strings.HasPrefix(k, "phone") || strings.HasPrefix(k, "address")
}

var emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)

// pseudonym replaces a value by a stable stand-in: the same value gives
// the same stand-in, so duplicates and searches still line up.
func pseudonym(v string) string {
	sum := sha256.Sum256([]byte(v))
	return "redacted-" + hex.EncodeToString(sum[:4])
}

// redactValue redacts one value under key.
func redactValue(key, v string) string {
	if v == "" {
		return v
	}
	if personal(key) {
		if strings.Contains(v, "@") {
			return pseudonym(v) + "@example.invalid"
		}
		return pseudonym(v)
	}
	return emailRE.ReplaceAllStringFunc(v, func(e string) string { return pseudonym(e) + "@example.invalid" })
}

// redactBody redacts a JSON body key by key; any other body is kept as a
// JSON string with e-mail addresses replaced.
func redactBody(b []byte) json.RawMessage {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		s, _ := json.Marshal(redactValue("", string(b)))
		return s
	}
	out, _ := json.Marshal(redactTree("", v))
	return out
}

func redactTree(key string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = redactTree(k, e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = redactTree(key, e)
		}
		return x
	case string:
		return redactValue(key, x)
	}
	return v
}
