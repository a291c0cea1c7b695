package reliability

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// API names one of the two remote services.
type API string

// The APIs the fault network stands in front of.
const (
	APIMarketo API = "marketo"
	APICertain API = "certain"
)

// Kinds of network fault.
const (
	Fault5xx       = "5xx"        // a gateway answers 502/503/504; the server never saw the call
	FaultTimeout   = "timeout"    // the client's read timed out; the server never saw the call
	FaultDrop      = "drop"       // the connection reset before the server saw the call
	FaultDropAfter = "drop-after" // the server did the work; the answer was lost
	FaultRecord    = "record"     // Marketo Sync Leads refused single records (1004/1006/1007)
)

// timeoutError is a net.Error whose Timeout is true.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout (injected)" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// errReset is an injected connection reset.
var errReset = errors.New("read: connection reset by peer (injected)")

// CallInfo describes one call that went through the fault network.
type CallInfo struct {
	API    API
	Seq    int // 1-based per API
	Method string
	Path   string
	Status int // 0 when no answer reached the client
	// Reached is true when the server received the call.
	Reached bool
	// Read is true for a POST that reads (Marketo's ?_method=GET form of a
	// read with a long query, e.g. Get Leads by Filter Type).
	Read bool
}

// FaultNet is an http.RoundTripper in front of each simulator that injects
// faults at a seeded random rate, runs hooks after every call, and counts
// what it did, so a run is reproducible from its seed.
type FaultNet struct {
	base http.RoundTripper

	mu          sync.Mutex
	rng         *rand.Rand
	rate        map[API]float64
	kinds       map[API][]string
	delay       map[API]time.Duration
	recordRate  float64
	recordCodes []string
	hooks       []func(CallInfo)
	seq         map[API]int
	unreached   map[API]int
	ambiguous   map[API]int
	injected    map[string]int
	bearer      map[string]bool
}

// NewFaultNet returns a network without faults over base.
func NewFaultNet(seed uint64, base http.RoundTripper) *FaultNet {
	return &FaultNet{base: base, rng: rand.New(rand.NewPCG(seed, 0xfa017)), rate: map[API]float64{}, kinds: map[API][]string{},
		delay: map[API]time.Duration{}, seq: map[API]int{}, unreached: map[API]int{}, ambiguous: map[API]int{}, bearer: map[string]bool{}, injected: map[string]int{}}
}

// SetRandom makes rate (0..1) of api's calls fail with one of kinds.
func (n *FaultNet) SetRandom(api API, rate float64, kinds ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rate[api], n.kinds[api] = rate, kinds
}

// SetDelay holds every call of api for d of wall time (so calls overlap).
func (n *FaultNet) SetDelay(api API, d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delay[api] = d
}

// SetRecordFaults makes rate of the records of each Marketo Sync Leads call
// come back skipped with one of codes, without Marketo applying them.
func (n *FaultNet) SetRecordFaults(rate float64, codes ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.recordRate, n.recordCodes = rate, codes
}

// Clear removes the random faults, delays and record faults (hooks stay).
func (n *FaultNet) Clear() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rate, n.kinds, n.delay = map[API]float64{}, map[API][]string{}, map[API]time.Duration{}
	n.recordRate = 0
}

// OnCall adds a hook run after every call.
func (n *FaultNet) OnCall(f func(CallInfo)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.hooks = append(n.hooks, f)
}

// ClearHooks removes every hook.
func (n *FaultNet) ClearHooks() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.hooks = nil
}

// Note counts a fault injected by other means (a simulator hook).
func (n *FaultNet) Note(kind string, k int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.injected[kind] += k
}

// Injected returns the faults injected so far, by "api kind".
func (n *FaultNet) Injected() map[string]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]int, len(n.injected))
	for k, v := range n.injected {
		out[k] = v
	}
	return out
}

// Total is the number of faults injected so far.
func (n *FaultNet) Total() int {
	t := 0
	for _, v := range n.Injected() {
		t += v
	}
	return t
}

// Unreached is the number of api's calls the server never received.
func (n *FaultNet) Unreached(api API) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.unreached[api]
}

// Ambiguous is the number of records in api's writes whose answer the
// network lost after the server did the work: the client cannot know.
func (n *FaultNet) Ambiguous(api API) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ambiguous[api]
}

// Tokens returns every bearer token the clients sent.
func (n *FaultNet) Tokens() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return sortedKeys(n.bearer)
}

// Rand returns a value in [0,1) from the network's seeded source.
func (n *FaultNet) Rand() float64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rng.Float64()
}

// For returns the round tripper of one API.
func (n *FaultNet) For(api API) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) { return n.roundTrip(api, r) })
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (n *FaultNet) roundTrip(api API, r *http.Request) (*http.Response, error) {
	identity := strings.HasPrefix(r.URL.Path, "/identity/")
	n.mu.Lock()
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		n.bearer[tok] = true
	}
	n.seq[api]++
	info := CallInfo{API: api, Seq: n.seq[api], Method: r.Method, Path: r.URL.Path, Read: r.URL.Query().Get("_method") == http.MethodGet}
	kind := ""
	if !identity && n.rate[api] > 0 && len(n.kinds[api]) > 0 && n.rng.Float64() < n.rate[api] {
		kind = n.kinds[api][n.rng.IntN(len(n.kinds[api]))]
		n.injected[string(api)+" "+kind]++
	}
	delay := n.delay[api]
	var drop []int
	var codes []string
	if api == APIMarketo && kind == "" && n.recordRate > 0 && r.Method == http.MethodPost && r.URL.Path == "/rest/v1/leads.json" {
		drop, codes = n.pickRecords(r)
	}
	if kind == Fault5xx || kind == FaultTimeout || kind == FaultDrop {
		n.unreached[api]++
	}
	if kind == FaultDropAfter && r.Method == http.MethodPost {
		n.ambiguous[api] += writeRecords(r)
		if strings.HasPrefix(r.URL.Path, "/rest/v1/campaigns/") {
			n.injected["ambiguous campaign request"]++
		}
	}
	n.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	resp, err := n.send(api, kind, r, drop, codes)
	info.Reached = kind != Fault5xx && kind != FaultTimeout && kind != FaultDrop
	if resp != nil && kind != FaultDropAfter {
		info.Status = resp.StatusCode
	}
	n.mu.Lock()
	hooks := append([]func(CallInfo){}, n.hooks...)
	n.mu.Unlock()
	for _, h := range hooks {
		h(info)
	}
	return resp, err
}

func (n *FaultNet) send(api API, kind string, r *http.Request, drop []int, codes []string) (*http.Response, error) {
	switch kind {
	case Fault5xx:
		status := []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}[int(r.ContentLength+int64(len(r.URL.Path)))%3]
		return &http.Response{StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"text/html"}}, Body: io.NopCloser(strings.NewReader("<html>gateway error</html>")), Request: r}, nil
	case FaultTimeout:
		return nil, timeoutError{}
	case FaultDrop:
		return nil, errReset
	case FaultDropAfter:
		resp, err := n.base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, errReset
	}
	if len(drop) > 0 {
		return n.sendWithRecordFaults(r, drop, codes)
	}
	return n.base.RoundTrip(r)
}

// pickRecords chooses the records of a Sync Leads body to refuse; the
// caller holds n.mu. It leaves r's body readable.
func (n *FaultNet) pickRecords(r *http.Request) ([]int, []string) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return nil, nil
	}
	var in struct {
		Input []json.RawMessage `json:"input"`
	}
	if json.Unmarshal(body, &in) != nil {
		return nil, nil
	}
	var drop []int
	var codes []string
	for i := range in.Input {
		if n.rng.Float64() < n.recordRate {
			drop = append(drop, i)
			c := n.recordCodes[n.rng.IntN(len(n.recordCodes))]
			codes = append(codes, c)
			n.injected[string(APIMarketo)+" "+FaultRecord+" "+c]++
		}
	}
	return drop, codes
}

// sendWithRecordFaults removes the refused records from the body, sends
// the rest, and splices "skipped" results for the refused ones into the
// answer at their input positions, as Marketo answers record by record.
func (n *FaultNet) sendWithRecordFaults(r *http.Request, drop []int, codes []string) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	var in map[string]json.RawMessage
	var input []json.RawMessage
	if json.Unmarshal(body, &in) != nil || json.Unmarshal(in["input"], &input) != nil {
		return nil, fmt.Errorf("reliability: record faults: unreadable Sync Leads body")
	}
	refused := map[int]string{}
	for i, d := range drop {
		refused[d] = codes[i]
	}
	var kept []json.RawMessage
	for i, rec := range input {
		if _, ok := refused[i]; !ok {
			kept = append(kept, rec)
		}
	}
	var resp *http.Response
	var results []json.RawMessage
	var env map[string]json.RawMessage
	if len(kept) > 0 {
		in["input"], _ = json.Marshal(kept)
		nb, _ := json.Marshal(in)
		r2 := r.Clone(r.Context())
		r2.Body, r2.ContentLength = io.NopCloser(bytes.NewReader(nb)), int64(len(nb))
		r2.Header.Del("Content-Length")
		r2.Header.Del("Accept-Encoding") // a plain answer, to splice into
		if resp, err = n.base.RoundTrip(r2); err != nil {
			return nil, err
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &env) != nil || string(env["success"]) != "true" ||
			json.Unmarshal(env["result"], &results) != nil || len(results) != len(kept) {
			// A response-level answer: the client retries the whole call.
			resp.Body = io.NopCloser(bytes.NewReader(raw))
			resp.ContentLength = int64(len(raw))
			return resp, nil
		}
	} else {
		env = map[string]json.RawMessage{"requestId": json.RawMessage(`"rel#1"`), "success": json.RawMessage("true")}
		resp = &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"application/json"}}, Request: r}
	}
	merged := make([]json.RawMessage, 0, len(input))
	k := 0
	for i := range input {
		if c, ok := refused[i]; ok {
			merged = append(merged, json.RawMessage(fmt.Sprintf(`{"status":"skipped","reasons":[{"code":%q,"message":"%s (injected)"}]}`, c, recordMessage(c))))
			continue
		}
		merged = append(merged, results[k])
		k++
	}
	env["result"], _ = json.Marshal(merged)
	out, _ := json.Marshal(env)
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Del("Content-Length")
	return resp, nil
}

func recordMessage(code string) string {
	switch code {
	case "1004":
		return "Lead not found"
	case "1006":
		return "Field not found"
	case "1007":
		return "Multiple lead match lookup criteria"
	}
	return "Record refused"
}

// writeRecords is how many records a write carries: the length of its
// "input" array (Marketo batches), else one.
func writeRecords(r *http.Request) int {
	if r.Body == nil || r.GetBody == nil {
		return 1
	}
	b, err := r.GetBody()
	if err != nil {
		return 1
	}
	defer b.Close()
	var in struct {
		Input []json.RawMessage `json:"input"`
	}
	if raw, err := io.ReadAll(b); err != nil || json.Unmarshal(raw, &in) != nil || len(in.Input) == 0 {
		return 1
	}
	return len(in.Input)
}
