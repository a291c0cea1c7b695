package marketotest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
)

var epoch = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

type env struct {
	RequestID     string           `json:"requestId"`
	Success       bool             `json:"success"`
	Result        json.RawMessage  `json:"result"`
	Errors        []marketo.Reason `json:"errors"`
	NextPageToken string           `json:"nextPageToken"`
	status        int
}

func (e env) code() string {
	if len(e.Errors) > 0 {
		return e.Errors[0].Code
	}
	return ""
}

type raw struct {
	t   *testing.T
	sim *marketotest.Server
}

func (r raw) token() string {
	r.t.Helper()
	resp, err := http.PostForm(r.sim.URL+"/identity/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {r.sim.ClientID()}, "client_secret": {r.sim.ClientSecret()}})
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || a.AccessToken == "" {
		r.t.Fatalf("identity: %v %+v", err, a)
	}
	return a.AccessToken
}

func (r raw) do(method, path, tok, ct, body string) env {
	r.t.Helper()
	req, err := http.NewRequest(method, r.sim.URL+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e env
	e.status = resp.StatusCode
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &e); err != nil {
			r.t.Fatalf("%s %s: not an envelope: %s", method, path, b)
		}
		if !e.Success && (len(e.Errors) == 0 || e.RequestID == "") {
			r.t.Fatalf("failure without errors/requestId: %s", b)
		}
	}
	return e
}

func newRaw(t *testing.T, opts ...marketotest.Option) (raw, *marketotest.ManualClock) {
	clk := marketotest.NewManualClock(epoch)
	sim := marketotest.NewServer(t, append([]marketotest.Option{marketotest.WithClock(clk)}, opts...)...)
	return raw{t, sim}, clk
}

func TestIdentity(t *testing.T) {
	r, clk := newRaw(t, marketotest.WithTokenLifetime(100*time.Second))
	resp, err := http.Get(r.sim.URL + "/identity/oauth/token?grant_type=client_credentials&client_id=x&client_secret=y")
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error string }
	_ = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 401 || e.Error != "unauthorized" {
		t.Errorf("bad credentials: %d %q", resp.StatusCode, e.Error)
	}
	t1 := r.token()
	clk.Advance(40 * time.Second)
	if t2 := r.token(); t2 != t1 {
		t.Error("identity minted a new token before expiry")
	}
	clk.Advance(61 * time.Second)
	if t3 := r.token(); t3 == t1 {
		t.Error("identity returned an expired token")
	}
	if r.sim.CountedCalls() != 0 {
		t.Error("identity calls were counted")
	}
}

func TestTokenExpirySequence(t *testing.T) {
	r, _ := newRaw(t)
	r.sim.AddList(1, "L", nil)
	tok := r.token()
	if e := r.do("GET", "/rest/v1/lists/1.json", tok, "", ""); !e.Success {
		t.Fatalf("valid token refused: %v", e.Errors)
	}
	r.sim.ExpireToken()
	for i, want := range []string{"602", "601", "601"} {
		if e := r.do("GET", "/rest/v1/lists/1.json", tok, "", ""); e.code() != want || e.status != 200 {
			t.Errorf("use %d after expiry: %d %q, want 200 %s", i, e.status, e.code(), want)
		}
	}
	fresh := r.token()
	for name, e := range map[string]env{
		"garbage": r.do("GET", "/rest/v1/lists/1.json", "nope", "", ""),
		"query":   r.do("GET", "/rest/v1/lists/1.json?access_token="+fresh, "", "", ""),
	} {
		if e.code() != "601" {
			t.Errorf("%s token: %q, want 601", name, e.code())
		}
	}
	if e := r.do("GET", "/rest/v1/lists/1.json", "", "", ""); e.code() != "603" {
		t.Errorf("missing token: %q, want 603 (Adobe, September 2022)", e.code())
	}
	if r.sim.CountedCalls() != 1 {
		t.Errorf("counted = %d; 601/602 must be free", r.sim.CountedCalls())
	}
}

func TestRateWindow606(t *testing.T) {
	r, clk := newRaw(t, marketotest.WithRateLimit(3, 20*time.Second))
	r.sim.AddList(1, "L", nil)
	tok := r.token()
	for i := range 3 {
		if e := r.do("GET", "/rest/v1/lists/1.json", tok, "", ""); !e.Success {
			t.Fatalf("call %d: %v", i, e.Errors)
		}
		clk.Advance(time.Second)
	}
	if e := r.do("GET", "/rest/v1/lists/1.json", tok, "", ""); e.code() != "606" {
		t.Fatalf("4th call: %q, want 606", e.code())
	}
	clk.Advance(17 * time.Second) // first call leaves the window at 20 s
	if e := r.do("GET", "/rest/v1/lists/1.json", tok, "", ""); !e.Success {
		t.Fatalf("after the window slid: %v", e.Errors)
	}
	if e := r.do("GET", "/rest/v1/lists/1.json", tok, "", ""); e.code() != "606" {
		t.Fatalf("window full again: %q", e.code())
	}
	calls := r.sim.Calls()
	if last := calls[len(calls)-1]; last.Counted {
		t.Error("a rejected 606 was counted by default")
	}
}

func TestCountRejected(t *testing.T) {
	r, _ := newRaw(t, marketotest.WithRateLimit(2, 20*time.Second), marketotest.WithCountRejected(true))
	r.sim.AddList(1, "L", nil)
	tok := r.token()
	r.do("GET", "/rest/v1/lists/1.json", tok, "", "")
	r.do("GET", "/rest/v1/lists/1.json", tok, "", "")
	r.do("GET", "/rest/v1/lists/1.json", tok, "", "")
	if got := r.sim.CountedCalls(); got != 3 {
		t.Errorf("counted = %d, want 3 with WithCountRejected", got)
	}
}

func TestConcurrency615(t *testing.T) {
	clk := marketotest.NewFastClock(10)
	sim := marketotest.NewServer(t, marketotest.WithClock(clk), marketotest.WithConcurrencyLimit(2), marketotest.WithLatency(2*time.Second))
	r := raw{t, sim}
	sim.AddList(1, "L", nil)
	tok := r.token()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { r.do("GET", "/rest/v1/lists/1.json", tok, "", "") })
	}
	wg.Wait()
	if n := sim.CountCode("615"); n != 2 {
		t.Errorf("615 answers = %d, want 2 of 4 simultaneous calls above a limit of 2", n)
	}
}

func TestDailyQuota607(t *testing.T) {
	chi, _ := time.LoadLocation("America/Chicago")
	clk := marketotest.NewManualClock(time.Date(2026, 3, 2, 23, 30, 0, 0, chi))
	sim := marketotest.NewServer(t, marketotest.WithClock(clk), marketotest.WithDailyQuota(2))
	r := raw{t, sim}
	sim.AddList(1, "L", nil)
	tok := r.token()
	r.do("GET", "/rest/v1/lists/1.json", tok, "", "")
	r.do("GET", "/rest/v1/lists/1.json", tok, "", "")
	if e := r.do("GET", "/rest/v1/lists/1.json", tok, "", ""); e.code() != "607" {
		t.Fatalf("3rd call: %q, want 607", e.code())
	}
	clk.Advance(29 * time.Minute)
	if e := r.do("GET", "/rest/v1/lists/1.json", tok, "", ""); e.code() != "607" {
		t.Fatalf("23:59 Chicago: %q, want 607", e.code())
	}
	clk.Advance(2 * time.Minute)
	if e := r.do("GET", "/rest/v1/lists/1.json", tok, "", ""); !e.Success {
		t.Fatalf("after Chicago midnight: %v", e.Errors)
	}
}

func TestSizeLimitsAndConventions(t *testing.T) {
	r, _ := newRaw(t, marketotest.WithMaxBodyBytes(100), marketotest.WithMaxURILength(200))
	r.sim.AddCampaign(marketotest.Campaign{ID: 5, Type: "trigger", Active: true, Requestable: true})
	tok := r.token()
	if e := r.do("POST", "/rest/v1/leads.json", tok, "application/json", `{"input":[`+strings.Repeat(`{"email":"a@b.c"},`, 10)+`{}]}`); e.status != 413 {
		t.Errorf("big body: %d, want 413", e.status)
	}
	if e := r.do("GET", "/rest/v1/leads.json?filterType=email&filterValues="+strings.Repeat("a", 250), tok, "", ""); e.status != 414 {
		t.Errorf("long URI: %d, want 414", e.status)
	}
	if e := r.do("POST", "/rest/v1/leads.json", tok, "", `{"input":[{"email":"a@b.c"}]}`); e.code() != "612" {
		t.Errorf("no content type: %q, want 612", e.code())
	}
	if e := r.do("GET", "/rest/v1/campaigns/5/trigger.json", tok, "", ""); e.code() != "605" {
		t.Errorf("GET trigger: %q, want 605", e.code())
	}
	if e := r.do("POST", "/rest/v1/leads.json?_method=GET", tok, "application/x-www-form-urlencoded", "filterType=email&filterValues=a%40b.c"); !e.Success {
		t.Errorf("_method=GET form: %v", e.Errors)
	}
	if e := r.do("GET", "/rest/v1/leads.json?filterType=firstName&filterValues=A", tok, "", ""); e.code() != "1011" {
		t.Errorf("unsupported filterType: %q, want 1011", e.code())
	}
}

func TestCaps(t *testing.T) {
	r, _ := newRaw(t)
	r.sim.AddCampaign(marketotest.Campaign{ID: 5, Type: "trigger", Active: true, Requestable: true})
	r.sim.AddCustomObjectType(marketotest.CustomObjectType{Name: "m_c", DedupeFields: []string{"k"}})
	tok := r.token()
	many := func(n int, f func(i int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = f(i)
		}
		return strings.Join(parts, ",")
	}
	cases := map[string]env{
		"sync 301":      r.do("POST", "/rest/v1/leads.json", tok, "application/json", `{"input":[`+many(301, func(i int) string { return fmt.Sprintf(`{"email":"x%d@y.z"}`, i) })+`]}`),
		"filter 301":    r.do("POST", "/rest/v1/leads.json?_method=GET", tok, "application/x-www-form-urlencoded", "filterType=id&filterValues="+many(301, func(i int) string { return fmt.Sprint(i + 1) })),
		"batchSize 301": r.do("GET", "/rest/v1/lists/1/leads.json?batchSize=301", tok, "", ""),
		"campaign 101":  r.do("POST", "/rest/v1/campaigns/5/trigger.json", tok, "application/json", `{"input":{"leads":[`+many(101, func(i int) string { return fmt.Sprintf(`{"id":%d}`, i+1) })+`]}}`),
		"CO 301":        r.do("POST", "/rest/v1/customobjects/m_c.json", tok, "application/json", `{"input":[`+many(301, func(i int) string { return fmt.Sprintf(`{"k":"%d"}`, i) })+`]}`),
	}
	for name, e := range cases {
		if e.code() != "1003" {
			t.Errorf("%s: %q, want 1003", name, e.code())
		}
	}
	if n := len(r.sim.Leads()); n != 0 {
		t.Errorf("a refused call wrote %d leads", n)
	}
}

func TestFilterPagingAndTooMany(t *testing.T) {
	r, _ := newRaw(t)
	for range 7 {
		r.sim.AddLead(marketo.Lead{"email": "same@example.org"})
	}
	tok := r.token()
	q := "/rest/v1/leads.json?filterType=email&filterValues=SAME%40example.org&batchSize=3"
	first := r.do("GET", q, tok, "", "")
	again := r.do("GET", q, tok, "", "")
	if first.NextPageToken == "" || first.NextPageToken != again.NextPageToken {
		t.Fatalf("tokens not stable: %q vs %q", first.NextPageToken, again.NextPageToken)
	}
	seen := 0
	pages := 0
	for next := ""; ; {
		e := r.do("GET", q+"&nextPageToken="+url.QueryEscape(next), tok, "", "")
		var leads []marketo.Lead
		_ = json.Unmarshal(e.Result, &leads)
		seen += len(leads)
		pages++
		if next = e.NextPageToken; next == "" {
			break
		}
	}
	if seen != 7 || pages != 3 {
		t.Errorf("seen %d leads in %d pages, want 7 in 3", seen, pages)
	}
	if e := r.do("GET", q+"&nextPageToken=garbage", tok, "", ""); e.Success {
		t.Error("garbage page token accepted")
	}
	for i := range 1001 {
		r.sim.AddLead(marketo.Lead{"email": "crowd@example.org", "company": fmt.Sprint(i)})
	}
	if e := r.do("GET", "/rest/v1/leads.json?filterType=email&filterValues=crowd%40example.org", tok, "", ""); e.code() != "1003" {
		t.Errorf("1001 matches: %q, want 1003", e.code())
	}
}

func TestDuplicateRace(t *testing.T) {
	// The two calls overlap when the second decides before the first
	// creates: the race's pause is the simulator's latency, 2 s on a clock
	// ten times real time, so 200 ms of real time, far more than the two
	// goroutines' start skew even on a loaded machine (at 50 ms simulated
	// it failed under load).
	clk := marketotest.NewFastClock(10)
	sim := marketotest.NewServer(t, marketotest.WithClock(clk), marketotest.WithDuplicateRace(true), marketotest.WithLatency(2*time.Second))
	c, err := sim.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := c.SyncLeads(ctx, marketo.SyncLeadsRequest{Input: []marketo.Lead{{"email": "race@example.org"}}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(sim.LeadsByEmail("race@example.org")); n != 2 {
		t.Fatalf("overlapping creates made %d leads, want 2", n)
	}
	res, err := c.SyncLeads(ctx, marketo.SyncLeadsRequest{Input: []marketo.Lead{{"email": "race@example.org", "firstName": "R"}}})
	if err != nil || res[0].Status != marketo.StatusSkipped || res[0].Reasons[0].Code != "1007" {
		t.Errorf("update after race: %+v %v, want 1007", res, err)
	}
}

func TestCustomObjectRules(t *testing.T) {
	clk := marketotest.NewManualClock(epoch)
	sim := marketotest.NewServer(t, marketotest.WithClock(clk))
	sim.AddCustomObjectType(marketotest.CustomObjectType{Name: "eng_c", DedupeFields: []string{"metricKey"}, LinkField: "leadID",
		Fields: []marketo.CustomObjectField{{Name: "score", DataType: "integer", Updatable: true}}})
	id := sim.AddLead(marketo.Lead{"email": "co@example.org"})
	c, err := sim.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := c.SyncCustomObjects(ctx, "eng_c", marketo.SyncCustomObjectsRequest{Input: []marketo.Record{
		{"metricKey": "a", "leadID": id, "score": 1},
		{"metricKey": "a", "leadID": id, "score": 2},
		{"metricKey": "b", "leadID": 424242},
		{"metricKey": "c", "leadID": id, "nope": 1},
		{"leadID": id},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"created", "1036", "1004", "1006", "1003"}
	for i, r := range res {
		got := r.Status
		if len(r.Reasons) > 0 {
			got = r.Reasons[0].Code
		}
		if got != want[i] {
			t.Errorf("record %d: %s, want %s", i, got, want[i])
		}
	}
	res, err = c.SyncCustomObjects(ctx, "eng_c", marketo.SyncCustomObjectsRequest{Input: []marketo.Record{{"metricKey": "a", "leadID": id, "score": 9}}})
	if err != nil || res[0].Status != marketo.StatusUpdated {
		t.Fatalf("update: %+v %v", res, err)
	}
	recs := sim.CustomObjectRecords("eng_c")
	if len(recs) != 1 || recs[0]["score"] != 9 || recs[0]["marketoGUID"] == "" {
		t.Errorf("stored records: %v", recs)
	}
	// An update by idField that changes the dedupe field moves the record to
	// its new key: a later upsert of the old key creates, of the new one updates.
	guid := res[0].MarketoGUID
	res, err = c.SyncCustomObjects(ctx, "eng_c", marketo.SyncCustomObjectsRequest{Action: marketo.ActionUpdateOnly, DedupeBy: "idField",
		Input: []marketo.Record{{"marketoGUID": guid, "metricKey": "z"}}})
	if err != nil || res[0].Status != marketo.StatusUpdated {
		t.Fatalf("update by idField: %+v %v", res, err)
	}
	res, err = c.SyncCustomObjects(ctx, "eng_c", marketo.SyncCustomObjectsRequest{Input: []marketo.Record{
		{"metricKey": "z", "leadID": id, "score": 3}, {"metricKey": "a", "leadID": id, "score": 4}}})
	if err != nil || res[0].Status != marketo.StatusUpdated || res[0].MarketoGUID != guid || res[1].Status != marketo.StatusCreated {
		t.Fatalf("after re-keying: %+v %v; want z updated (same record), a created", res, err)
	}
}

func TestFaultInjectionScope(t *testing.T) {
	r, _ := newRaw(t)
	r.sim.AddList(1, "L", nil)
	tok := r.token()
	r.sim.FailNext("/rest/v1/lists/1.json", 2, "608")
	r.sim.FailNextHTTP("/rest/v1/leads.json", 1, 502)
	if e := r.do("GET", "/rest/v1/leads/describe.json", tok, "", ""); !e.Success {
		t.Error("a fault hit another path")
	}
	for i := range 2 {
		if e := r.do("GET", "/rest/v1/lists/1.json", tok, "", ""); e.code() != "608" {
			t.Errorf("fault %d: %q", i, e.code())
		}
	}
	if e := r.do("GET", "/rest/v1/lists/1.json", tok, "", ""); !e.Success {
		t.Error("fault outlived its count")
	}
	if e := r.do("GET", "/rest/v1/leads.json?filterType=id&filterValues=1", tok, "", ""); e.status != 502 {
		t.Errorf("HTTP fault: %d", e.status)
	}
	if r.sim.CountCode("608") != 2 || r.sim.CountCode("http-502") != 1 {
		t.Errorf("CountCode: 608=%d http-502=%d", r.sim.CountCode("608"), r.sim.CountCode("http-502"))
	}
}
