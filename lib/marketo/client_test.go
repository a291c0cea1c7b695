package marketo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
)

var epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// manual returns a simulator on a manual clock (backoffs pass instantly) and
// a client on the same clock.
func manual(t *testing.T, opts ...marketotest.Option) (*marketotest.Server, *marketo.Client) {
	t.Helper()
	clk := marketotest.NewManualClock(epoch)
	sim := marketotest.NewServer(t, append([]marketotest.Option{marketotest.WithClock(clk)}, opts...)...)
	c, err := sim.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

func TestErrorTable(t *testing.T) {
	ctx := context.Background()
	type outcome int
	const (
		recovers outcome = iota
		fatal
		quota
	)
	cases := []struct {
		code   string
		status int
		n      int
		want   outcome
	}{
		{code: "601", n: 1, want: recovers},
		{code: "602", n: 1, want: recovers},
		{code: "601", n: 2, want: fatal}, // a second 601 after re-auth is an error
		{code: "604", n: 2, want: recovers},
		{code: "606", n: 3, want: recovers},
		{code: "608", n: 2, want: recovers},
		{code: "614", n: 1, want: recovers},
		{code: "615", n: 3, want: recovers},
		{code: "713", n: 1, want: recovers},
		{code: "719", n: 1, want: recovers},
		{code: "611", n: 2, want: recovers},
		{code: "611", n: 3, want: fatal}, // limited tries
		{code: "999", n: 2, want: recovers},
		{code: "999", n: 3, want: fatal},
		{code: "607", n: 1, want: quota},
		{code: "603", n: 1, want: fatal},
		{code: "605", n: 1, want: fatal},
		{code: "609", n: 1, want: fatal},
		{code: "610", n: 1, want: fatal},
		{code: "612", n: 1, want: fatal},
		{code: "616", n: 1, want: fatal},
		{code: "701", n: 1, want: fatal},
		{code: "709", n: 1, want: fatal},
		{code: "1003", n: 1, want: fatal},
		{code: "1013", n: 1, want: fatal},
		{status: 502, n: 2, want: recovers},
		{status: 500, n: 1, want: recovers},
		{status: 503, n: 3, want: recovers},
		{status: 404, n: 1, want: fatal},
	}
	for _, tc := range cases {
		name := tc.code
		if tc.status != 0 {
			name = fmt.Sprintf("http-%d", tc.status)
		}
		t.Run(fmt.Sprintf("%s_x%d", name, tc.n), func(t *testing.T) {
			sim, c := manual(t)
			sim.AddList(7, "Seven", nil)
			if tc.status != 0 {
				sim.FailNextHTTP("/rest/v1/lists/*", tc.n, tc.status)
			} else {
				sim.FailNext("/rest/v1/lists/*", tc.n, tc.code)
			}
			l, err := c.GetList(ctx, 7)
			switch tc.want {
			case recovers:
				if err != nil || l.Name != "Seven" {
					t.Fatalf("want recovery, got %v, %+v", err, l)
				}
				if got := sim.CountPath("/rest/v1/lists/7.json"); got != tc.n+1 {
					t.Errorf("calls = %d, want %d", got, tc.n+1)
				}
			case quota:
				var qe *marketo.QuotaError
				if !errors.Is(err, marketo.ErrDailyQuota) || !errors.As(err, &qe) {
					t.Fatalf("want quota error, got %v", err)
				}
				chi, _ := time.LoadLocation("America/Chicago")
				r := qe.ResetAt.In(chi)
				if r.Hour() != 0 || r.Minute() != 0 || !r.After(epoch) || r.Sub(epoch) > 24*time.Hour {
					t.Errorf("ResetAt = %s, want next Chicago midnight after %s", r, epoch)
				}
				if got := sim.CountPath("/rest/v1/lists/7.json"); got != 1 {
					t.Errorf("607 was retried: %d calls", got)
				}
			case fatal:
				var me *marketo.Error
				if !errors.As(err, &me) {
					t.Fatalf("want *marketo.Error, got %T %v", err, err)
				}
				if tc.code != "" && me.Code != tc.code {
					t.Errorf("code = %q, want %q", me.Code, tc.code)
				}
				if tc.status != 0 && me.HTTPStatus != tc.status {
					t.Errorf("status = %d, want %d", me.HTTPStatus, tc.status)
				}
			}
		})
	}
}

func TestNetworkDropRetried(t *testing.T) {
	sim, c := manual(t)
	sim.AddList(7, "Seven", nil)
	sim.DropNext("/rest/v1/lists/7.json", 2)
	if _, err := c.GetList(context.Background(), 7); err != nil {
		t.Fatal(err)
	}
	// net/http may itself retry an idempotent GET on a reused connection,
	// so the client sees one or two of the drops.
	if s := c.Stats(); s.ByCode["network"] < 1 || s.Retries != s.ByCode["network"] {
		t.Errorf("stats = %+v, want network errors each followed by a retry", s)
	}
}

func TestNotFoundAndBadCredentials(t *testing.T) {
	ctx := context.Background()
	sim, c := manual(t)
	if _, err := c.GetList(ctx, 99); !marketo.IsNotFound(err) {
		t.Errorf("unknown list: %v, want IsNotFound", err)
	}
	bad, err := sim.NewClient(func(cfg *marketo.Config) { cfg.ClientSecret = "wrong-secret-xyz" })
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.GetList(ctx, 99)
	var ae *marketo.AuthError
	if !errors.Is(err, marketo.ErrBadCredentials) || !errors.As(err, &ae) {
		t.Fatalf("want AuthError, got %v", err)
	}
	if !strings.Contains(err.Error(), sim.ClientID()) || strings.Contains(err.Error(), "wrong-secret-xyz") {
		t.Errorf("auth error must name the client id and not the secret: %v", err)
	}
	for _, call := range sim.Calls() {
		if strings.Contains(call.URL, "secret") || strings.Contains(call.URL, "access_token") {
			t.Errorf("secret or token in URL: %s", call.URL)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  marketo.Config
		want string // "" = valid
	}{
		{"https", marketo.Config{BaseURL: "https://555-QRS-777.mktorest.com", ClientID: "a", ClientSecret: "s3cr3t-value"}, ""},
		{"endpoint form", marketo.Config{BaseURL: "https://555-QRS-777.mktorest.com/rest/", ClientID: "a", ClientSecret: "s3cr3t-value"}, ""},
		{"plain http refused", marketo.Config{BaseURL: "http://127.0.0.1:1", ClientID: "a", ClientSecret: "s3cr3t-value"}, "plain http"},
		{"plain http allowed", marketo.Config{BaseURL: "http://127.0.0.1:1", ClientID: "a", ClientSecret: "s3cr3t-value", AllowHTTP: true}, ""},
		{"no client id", marketo.Config{BaseURL: "https://x.mktorest.com", ClientSecret: "s3cr3t-value"}, "ClientID"},
		{"no secret", marketo.Config{BaseURL: "https://x.mktorest.com", ClientID: "a"}, "ClientSecret"},
		{"ftp", marketo.Config{BaseURL: "ftp://x", ClientID: "a", ClientSecret: "s3cr3t-value"}, "scheme"},
		{"query", marketo.Config{BaseURL: "https://x.mktorest.com?x=1", ClientID: "a", ClientSecret: "s3cr3t-value"}, "query"},
	}
	for _, tc := range cases {
		_, err := marketo.New(tc.cfg)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want mention of %q", tc.name, err, tc.want)
		case err != nil && strings.Contains(err.Error(), tc.cfg.ClientSecret) && tc.cfg.ClientSecret != "":
			t.Errorf("%s: secret in error %v", tc.name, err)
		}
	}
}

func TestEndpointFormNormalised(t *testing.T) {
	sim := marketotest.NewServer(t, marketotest.WithClock(marketotest.NewManualClock(epoch)))
	sim.AddList(3, "Three", nil)
	c, err := sim.NewClient(func(cfg *marketo.Config) { cfg.BaseURL = sim.URL + "/rest/" })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetList(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	for _, call := range sim.Calls() {
		if strings.Contains(call.Path, "//") || strings.HasPrefix(call.Path, "/rest/rest") {
			t.Errorf("bad path %s", call.Path)
		}
	}
}

func TestTokenExpiryDuringLongRun(t *testing.T) {
	ctx := context.Background()
	sim, c := manual(t, marketotest.WithTokenLifetime(2*time.Minute))
	ids := make([]int, 0, 50)
	for i := range 50 {
		ids = append(ids, sim.AddLead(marketo.Lead{"email": fmt.Sprintf("p%d@example.org", i)}))
	}
	for i, id := range ids {
		sim.Advance(10 * time.Second) // 500 s in total: several token lifetimes
		if i == 20 {
			sim.ExpireToken() // server-side expiry the client cannot foresee
		}
		l, found, err := c.GetLeadByID(ctx, id, []string{"email"})
		if err != nil || !found || l.ID() != id {
			t.Fatalf("lead %d: %v %v %v", id, l, found, err)
		}
	}
	if sim.CountCode("602") < 1 {
		t.Errorf("expected at least one 602 (forced expiry), got %d", sim.CountCode("602"))
	}
	if got := sim.CountCode("601"); got != 0 {
		t.Errorf("the expired token was resent %d times", got)
	}
	if a := c.Stats().Auths; a < 4 {
		t.Errorf("auths = %d; a 500 s run with a 120 s token needs at least 4", a)
	}
}

func TestConcurrentCallersShareOneRefresh(t *testing.T) {
	ctx := context.Background()
	sim, c := manual(t)
	sim.AddList(1, "One", nil)
	if _, err := c.GetList(ctx, 1); err != nil {
		t.Fatal(err)
	}
	sim.ExpireToken()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, err := c.GetList(ctx, 1); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := sim.CountPath("/identity/oauth/token"); got != 2 {
		t.Errorf("identity calls = %d, want 2 (initial + one shared refresh)", got)
	}
}

func TestIdentityNearExpiryWaitsForNewToken(t *testing.T) {
	ctx := context.Background()
	sim, c := manual(t, marketotest.WithTokenLifetime(100*time.Second))
	sim.AddList(1, "One", nil)
	if _, err := c.GetList(ctx, 1); err != nil {
		t.Fatal(err)
	}
	sim.Advance(97 * time.Second) // 3 s left: identity returns the same token
	if _, err := c.GetList(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if sim.CountCode("602")+sim.CountCode("601") != 0 {
		t.Errorf("client used a dying token: 601/602 seen")
	}
	if got := sim.CountPath("/identity/oauth/token"); got != 3 {
		t.Errorf("identity calls = %d, want 3 (first, same-token answer, fresh token)", got)
	}
}

func TestListPagingAndResume(t *testing.T) {
	ctx := context.Background()
	sim, c := manual(t)
	var ids []int
	for i := range 1050 {
		ids = append(ids, sim.AddLead(marketo.Lead{"email": fmt.Sprintf("m%d@example.org", i), "company": "Acme"}))
	}
	sim.AddList(2044, "Members", ids)
	var got []int
	tok, pages, resumeTok := "", 0, ""
	for {
		p, err := c.ListLeadsPage(ctx, 2044, []string{"email", "company"}, tok, 100)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, l := range p.Leads {
			got = append(got, l.ID())
		}
		if pages == 5 {
			resumeTok = p.NextPageToken
		}
		if tok = p.NextPageToken; tok == "" {
			break
		}
	}
	if pages != 11 || len(got) != 1050 {
		t.Fatalf("pages=%d leads=%d, want 11 pages and 1050 leads", pages, len(got))
	}
	for i := range ids {
		if got[i] != ids[i] {
			t.Fatalf("order differs at %d", i)
		}
	}
	// A checkpointed token resumes at the same place with a fresh client.
	c2, err := sim.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	p, err := c2.ListLeadsPage(ctx, 2044, nil, resumeTok, 100)
	if err != nil || len(p.Leads) != 100 || p.Leads[0].ID() != ids[500] {
		t.Fatalf("resume: %v, first=%v", err, p.Leads)
	}
	if _, err := c.ListLeadsPage(ctx, 2044, nil, "", 301); err == nil {
		t.Error("batchSize 301 accepted")
	}
}

func TestChunkingAboveCaps(t *testing.T) {
	ctx := context.Background()
	sim, c := manual(t)
	// Sync 650 leads: 3 calls; results in input order with ids.
	in := make([]marketo.Lead, 650)
	for i := range in {
		in[i] = marketo.Lead{"email": fmt.Sprintf("c%d@example.org", i), "firstName": "C"}
	}
	res, err := c.SyncLeads(ctx, marketo.SyncLeadsRequest{Input: in})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 650 || sim.CountPath("/rest/v1/leads.json") != 3 {
		t.Fatalf("results=%d calls=%d", len(res), sim.CountPath("/rest/v1/leads.json"))
	}
	for i, r := range res {
		if r.Status != marketo.StatusCreated || r.ID == 0 {
			t.Fatalf("record %d: %+v", i, r)
		}
		if l := sim.LeadsByEmail(fmt.Sprintf("c%d@example.org", i)); len(l) != 1 || l[0].ID() != r.ID {
			t.Fatalf("record %d mapped to the wrong lead", i)
		}
	}
	// Lookup 650 e-mails: 3 POST _method=GET calls.
	emails := make([]string, 650)
	for i := range emails {
		emails[i] = fmt.Sprintf("C%d@EXAMPLE.org", i)
	}
	before := sim.CountPath("/rest/v1/leads.json")
	leads, err := c.GetLeadsByFilter(ctx, "email", emails, []string{"email"})
	if err != nil || len(leads) != 650 {
		t.Fatalf("filter: %v, %d leads", err, len(leads))
	}
	if got := sim.CountPath("/rest/v1/leads.json") - before; got != 3 {
		t.Errorf("filter calls = %d, want 3", got)
	}
	// Request campaign for 250 leads: 3 calls, every lead requested once.
	sim.AddCampaign(marketotest.Campaign{ID: 5150, Type: "trigger", Active: true, Requestable: true})
	ids := make([]int, 250)
	for i := range ids {
		ids[i] = res[i].ID
	}
	tokens := []marketo.Token{{Name: "{{my.EventName}}", Value: "Harbour Summit"}}
	n, err := c.RequestCampaign(ctx, 5150, ids, tokens)
	if err != nil || n != 3 {
		t.Fatalf("campaign: %d calls, %v", n, err)
	}
	total := 0
	for _, r := range sim.CampaignRequests() {
		total += len(r.LeadIDs)
		if len(r.LeadIDs) > 100 || len(r.Tokens) != 1 || r.Tokens[0] != tokens[0] {
			t.Errorf("bad request %+v", r)
		}
	}
	if total != 250 {
		t.Errorf("requested %d leads, want 250", total)
	}
	// Custom objects: 301 records in 2 calls, results by seq.
	sim.AddCustomObjectType(marketotest.CustomObjectType{Name: "metric_c", DedupeFields: []string{"metricKey"}, LinkField: "leadID",
		Fields: []marketo.CustomObjectField{{Name: "score", DataType: "integer", Updatable: true}}})
	recs := make([]marketo.Record, 301)
	for i := range recs {
		recs[i] = marketo.Record{"metricKey": fmt.Sprintf("k%d", i), "leadID": res[i].ID, "score": i}
	}
	recs[300]["leadID"] = 999999 // missing lead: 1004 on that record only
	cor, err := c.SyncCustomObjects(ctx, "metric_c", marketo.SyncCustomObjectsRequest{Input: recs})
	if err != nil {
		t.Fatal(err)
	}
	if sim.CountPath("/rest/v1/customobjects/metric_c.json") != 2 {
		t.Errorf("CO calls = %d", sim.CountPath("/rest/v1/customobjects/metric_c.json"))
	}
	for i, r := range cor[:300] {
		if r.Seq != i || r.Status != marketo.StatusCreated || r.MarketoGUID == "" {
			t.Fatalf("CO %d: %+v", i, r)
		}
	}
	if r := cor[300]; r.Seq != 300 || r.Status != marketo.StatusSkipped || len(r.Reasons) != 1 || r.Reasons[0].Code != "1004" {
		t.Errorf("CO 300: %+v, want skipped 1004", r)
	}
	got, err := c.QueryCustomObjects(ctx, "metric_c", "metricKey", []string{"k1", "k299"}, []string{"metricKey", "score"})
	if err != nil || len(got) != 2 {
		t.Fatalf("query: %v %v", got, err)
	}
}

func TestSplitOn413(t *testing.T) {
	sim, c := manual(t, marketotest.WithMaxBodyBytes(6000))
	in := make([]marketo.Lead, 200)
	for i := range in {
		in[i] = marketo.Lead{"email": fmt.Sprintf("split%d@example.org", i), "company": strings.Repeat("x", 20)}
	}
	res, err := c.SyncLeads(context.Background(), marketo.SyncLeadsRequest{Input: in})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 200 || sim.CountCode("http-413") == 0 || len(sim.Leads()) != 200 {
		t.Fatalf("results=%d 413s=%d leads=%d", len(res), sim.CountCode("http-413"), len(sim.Leads()))
	}
	for i, r := range res {
		if l := sim.LeadsByEmail(fmt.Sprintf("split%d@example.org", i)); len(l) != 1 || l[0].ID() != r.ID {
			t.Fatalf("record %d mapped wrong after split", i)
		}
	}
}

func TestURITooLongBecomesPOST(t *testing.T) {
	sim, c := manual(t)
	id := sim.AddLead(marketo.Lead{"email": "long@example.org"})
	sim.AddList(9, "Nine", []int{id})
	c2, err := sim.NewClient(func(cfg *marketo.Config) { cfg.MaxURLBytes = 1 << 20 }) // force the server's 414
	if err != nil {
		t.Fatal(err)
	}
	fields := []string{"email"}
	for i := range 900 {
		fields = append(fields, fmt.Sprintf("customField%d", i))
	}
	p, err := c2.ListLeadsPage(context.Background(), 9, fields, "", 0)
	if err != nil || len(p.Leads) != 1 {
		t.Fatalf("%v %v", p, err)
	}
	calls := sim.Calls()
	last := calls[len(calls)-1]
	if sim.CountCode("http-414") != 1 || last.Method != "POST" || !strings.Contains(last.URL, "_method=GET") {
		t.Errorf("want one 414 then POST ?_method=GET, got %+v", calls)
	}
	// The default client goes straight to POST without a 414.
	if _, err := c.ListLeadsPage(context.Background(), 9, fields, "", 0); err != nil {
		t.Fatal(err)
	}
	if sim.CountCode("http-414") != 1 {
		t.Errorf("default client produced a 414")
	}
}

func TestRecordReasonsAreNotErrors(t *testing.T) {
	ctx := context.Background()
	sim, c := manual(t)
	sim.AddLead(marketo.Lead{"email": "dup@example.org"})
	sim.AddLead(marketo.Lead{"email": "DUP@example.org"})
	sim.AddLead(marketo.Lead{"email": "one@example.org"})
	res, err := c.SyncLeads(ctx, marketo.SyncLeadsRequest{Action: marketo.ActionCreateOnly, Input: []marketo.Lead{
		{"email": "one@example.org"}, {"email": "new@example.org"}, {"email": "new@example.org"}, {"email": "x@example.org", "bogus": 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1005", "", "1036", "1006"}
	for i, r := range res {
		code := ""
		if len(r.Reasons) > 0 {
			code = r.Reasons[0].Code
		}
		if code != want[i] {
			t.Errorf("record %d: %+v, want reason %q", i, r, want[i])
		}
	}
	res, err = c.SyncLeads(ctx, marketo.SyncLeadsRequest{Action: marketo.ActionUpdateOnly, Input: []marketo.Lead{{"email": "dup@example.org"}, {"email": "none@example.org"}}})
	if err != nil || res[0].Reasons[0].Code != "1007" || res[1].Reasons[0].Code != "1004" {
		t.Errorf("updateOnly: %+v %v", res, err)
	}
	leads, err := c.GetLeadsByFilter(ctx, "email", []string{"dup@example.org"}, nil)
	if err != nil || len(leads) != 2 {
		t.Errorf("duplicates: want both, got %v %v", leads, err)
	}
}

func TestDescribe(t *testing.T) {
	ctx := context.Background()
	sim, c := manual(t)
	sim.AddLeadField(marketo.LeadField{Name: "certainRegCode", DataType: "string", MaxLength: 64})
	fs, err := c.DescribeLeads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fs {
		names[f.Name] = true
	}
	for _, n := range []string{"email", "firstName", "lastName", "company", "title", "phone", "city", "state", "country", "postalCode", "certainRegCode"} {
		if !names[n] {
			t.Errorf("describe lacks %s", n)
		}
	}
	sim.AddCustomObjectType(marketotest.CustomObjectType{Name: "interest_c", DedupeFields: []string{"eventCode", "leadID"}, LinkField: "leadID"})
	co, err := c.DescribeCustomObject(ctx, "interest_c")
	if err != nil {
		t.Fatal(err)
	}
	if co.IDField != "marketoGUID" || co.LinkField != "leadID" || co.LinkTo != "id" || len(co.DedupeFields) != 2 {
		t.Errorf("describe CO: %+v", co)
	}
	if _, err := c.DescribeCustomObject(ctx, "nope_c"); !marketo.IsNotFound(err) {
		t.Errorf("unknown CO: %v", err)
	}
}

func TestCampaignErrors(t *testing.T) {
	ctx := context.Background()
	sim, c := manual(t)
	id := sim.AddLead(marketo.Lead{"email": "a@example.org"})
	sim.AddCampaign(marketotest.Campaign{ID: 1, Type: "batch", Active: true, Requestable: true})
	sim.AddCampaign(marketotest.Campaign{ID: 2, Type: "trigger", Active: false, Requestable: true})
	for cid, code := range map[int]string{1: "1003", 2: "1003", 3: "1013"} {
		if _, err := c.RequestCampaign(ctx, cid, []int{id}, nil); !marketo.HasCode(err, code) {
			t.Errorf("campaign %d: %v, want %s", cid, err, code)
		}
	}
	if _, err := c.RequestCampaign(ctx, 4, []int{id}, []marketo.Token{{Name: "EventName", Value: "x"}}); err == nil {
		t.Error("bad token name accepted")
	}
	if len(sim.CampaignRequests()) != 0 {
		t.Error("failed requests were recorded")
	}
}

func TestContextCancelStopsBackoff(t *testing.T) {
	sim := marketotest.NewServer(t)
	sim.AddList(1, "x", nil)
	sim.FailNext("*", 100, "608")
	c, err := sim.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.GetList(ctx, 1)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("err=%v after %s; want prompt deadline error", err, time.Since(start))
	}
}
