package marketotest_test

// Conformance: the simulator answers as Marketo does, for the product and
// for third-party clients, one test per behaviour docs/marketo.md §12 lists.
// Requests and answers follow Adobe's documented examples and the shapes of
// traffic recorded from a real instance; the values are this test's own.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
)

// typedFields are custom lead fields of every type the recordings cover,
// as a describe shows them.
func typedFields(sim *marketotest.Server) {
	for _, f := range []marketo.LeadField{
		{Name: "vip_flag", DataType: "boolean"},
		{Name: "alt_email", DataType: "email", MaxLength: 255},
		{Name: "seat_count", DataType: "integer"},
		{Name: "spend_ratio", DataType: "float"},
		{Name: "last_visit", DataType: "datetime"},
		{Name: "first_visit", DataType: "date"},
		{Name: "share_pct", DataType: "percent"},
		{Name: "budget_amt", DataType: "currency"},
		{Name: "fit_score", DataType: "score"},
		{Name: "home_page", DataType: "url", MaxLength: 255},
		{Name: "desk_phone", DataType: "phone", MaxLength: 255},
		{Name: "notes_area", DataType: "text"},
		{Name: "code_short", DataType: "string", MaxLength: 8},
	} {
		sim.AddLeadField(f)
	}
}

// rawBody does a request and returns the HTTP status and body.
func (r raw) rawBody(method, path, tok, ct, body string) (int, string) {
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
	return resp.StatusCode, string(b)
}

type recordResult struct {
	ID      int              `json:"id"`
	Seq     *int             `json:"seq"`
	Status  string           `json:"status"`
	Reasons []marketo.Reason `json:"reasons"`
}

func results(t *testing.T, e env) []recordResult {
	t.Helper()
	if !e.Success {
		t.Fatalf("call failed: %v", e.Errors)
	}
	var rs []recordResult
	if err := json.Unmarshal(e.Result, &rs); err != nil {
		t.Fatalf("result: %v", err)
	}
	return rs
}

const jsonCT = "application/json"
const formCT = "application/x-www-form-urlencoded"

// A value that does not fit its field's dataType skips the record with 1003
// and no id, even with lookupField id; the call succeeds and the other
// records are processed. Since 2021 the message carries the value; the
// 2020 form (WithLegacy1003Message) does not.
func TestConformanceTypeValidation1003(t *testing.T) {
	bad := map[string]string{
		"vip_flag":    `"other"`,
		"alt_email":   `"no-at-sign"`,
		"seat_count":  `14.1`,
		"spend_ratio": `"14c"`,
		"last_visit":  `"yesterday"`,
		"first_visit": `"yesterday"`,
		"share_pct":   `"100%"`,
		"budget_amt":  `"ten"`,
		"fit_score":   `2.5`,
		"home_page":   `"example.net/no-scheme"`,
		"code_short":  `"ABCDEFGHIJ"`,
		"notes_area":  `"` + strings.Repeat("n", 30001) + `"`,
		"desk_phone":  `{"n":1}`,
	}
	for _, legacy := range []bool{false, true} {
		r, _ := newRaw(t, marketotest.WithLegacy1003Message(legacy))
		typedFields(r.sim)
		id := r.sim.AddLead(marketo.Lead{"email": "quinn@example.net"})
		tok := r.token()
		for field, value := range bad {
			body := `{"action":"updateOnly","lookupField":"id","input":[{"id":` + itoa(id) + `,"firstName":"Quinn","` + field + `":` + value + `}]}`
			rs := results(t, r.do("POST", "/rest/v1/leads.json", tok, jsonCT, body))
			if len(rs) != 1 || rs[0].Status != "skipped" || rs[0].ID != 0 || len(rs[0].Reasons) != 1 || rs[0].Reasons[0].Code != "1003" {
				t.Errorf("%s=%.20s: %+v, want skipped, no id, 1003", field, value, rs)
				continue
			}
			msg := rs[0].Reasons[0].Message
			want := "Invalid value for field '" + field + "'"
			if !legacy {
				want += " and value '"
			}
			if !strings.HasPrefix(msg, want) || (legacy && msg != want) {
				t.Errorf("legacy=%t %s: message %.80q, want %q…", legacy, field, msg, want)
			}
		}
		if l := r.sim.Leads()[0]; l["firstName"] != nil {
			t.Errorf("a skipped record was written: %v", l)
		}
	}
	// Non-ASCII addresses are refused (Adobe: ASCII only).
	r, _ := newRaw(t)
	rs := results(t, r.do("POST", "/rest/v1/leads.json", r.token(), jsonCT, `{"input":[{"email":"zoë@example.net"}]}`))
	if rs[0].Status != "skipped" || rs[0].Reasons[0].Code != "1003" {
		t.Errorf("non-ASCII e-mail: %+v", rs)
	}
}

// A mixed batch: the valid record is updated, the invalid one skipped, in
// input order.
func TestConformanceMixedBatch(t *testing.T) {
	r, _ := newRaw(t)
	typedFields(r.sim)
	a := r.sim.AddLead(marketo.Lead{"email": "rory@example.net"})
	b := r.sim.AddLead(marketo.Lead{"email": "sasha@example.net"})
	body := `{"lookupField":"id","action":"updateOnly","input":[{"id":` + itoa(a) + `,"lastName":"Reyes"},{"id":` + itoa(b) + `,"alt_email":"not-an-address"}]}`
	rs := results(t, r.do("POST", "/rest/v1/leads.json", r.token(), jsonCT, body))
	if len(rs) != 2 || rs[0].Status != "updated" || rs[0].ID != a || rs[1].Status != "skipped" || rs[1].ID != 0 || rs[1].Reasons[0].Code != "1003" {
		t.Fatalf("mixed batch: %+v", rs)
	}
}

// Values come back typed: booleans and numbers as JSON, a datetime in UTC
// without milliseconds, a date as YYYY-MM-DD; an unset boolean reads false,
// other unset fields null; null clears.
func TestConformanceTypedReadBack(t *testing.T) {
	r, _ := newRaw(t)
	typedFields(r.sim)
	tok := r.token()
	body := `{"action":"createOrUpdate","lookupField":"email","input":[{"email":"tove@example.net","firstName":"Tove",` +
		`"notes_area":"met at the booth","vip_flag":true,"alt_email":"desk@example.net","seat_count":7,"spend_ratio":2.5,` +
		`"last_visit":"2026-05-04T10:11:12.345Z","first_visit":"2026-05-01","fit_score":12,"share_pct":40,"budget_amt":99.95}]}`
	rs := results(t, r.do("POST", "/rest/v1/leads.json", tok, jsonCT, body))
	if rs[0].Status != "created" || rs[0].ID == 0 {
		t.Fatalf("create: %+v", rs)
	}
	fields := "email,firstName,lastName,notes_area,vip_flag,alt_email,seat_count,spend_ratio,last_visit,first_visit,fit_score,share_pct,budget_amt"
	read := func() map[string]any {
		e := r.do("GET", "/rest/v1/leads.json?filterType=id&filterValues="+itoa(rs[0].ID)+"&fields="+fields, tok, "", "")
		var leads []map[string]any
		if err := json.Unmarshal(e.Result, &leads); err != nil || len(leads) != 1 {
			t.Fatalf("read: %v %s", err, e.Result)
		}
		return leads[0]
	}
	got := read()
	want := map[string]any{"vip_flag": true, "seat_count": 7.0, "spend_ratio": 2.5, "last_visit": "2026-05-04T10:11:12Z",
		"first_visit": "2026-05-01", "fit_score": 12.0, "share_pct": 40.0, "budget_amt": 99.95, "lastName": nil, "notes_area": "met at the booth"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s read back %#v, want %#v", k, got[k], v)
		}
	}
	if _, has := got["lastName"]; !has {
		t.Error("an unset requested field is absent; Marketo answers null")
	}
	body = `{"action":"updateOnly","lookupField":"id","input":[{"id":` + itoa(rs[0].ID) + `,"vip_flag":null,"seat_count":null,"notes_area":""}]}`
	if u := results(t, r.do("POST", "/rest/v1/leads.json", tok, jsonCT, body)); u[0].Status != "updated" {
		t.Fatalf("null update: %+v", u)
	}
	got = read()
	if got["vip_flag"] != false || got["seat_count"] != nil || got["notes_area"] != nil {
		t.Errorf("after null: vip_flag %#v (want false), seat_count %#v, notes_area %#v (want null)", got["vip_flag"], got["seat_count"], got["notes_area"])
	}
	// A boolean never written reads false.
	other := r.sim.AddLead(marketo.Lead{"email": "uma@example.net"})
	e := r.do("GET", "/rest/v1/lead/"+itoa(other)+".json?fields=vip_flag,seat_count", tok, "", "")
	var leads []map[string]any
	_ = json.Unmarshal(e.Result, &leads)
	if len(leads) != 1 || leads[0]["vip_flag"] != false || leads[0]["seat_count"] != nil {
		t.Errorf("never-set fields read %v, want vip_flag false and seat_count null", leads)
	}
}

// Options for what is not documented: the text of typed values accepted,
// over-long strings truncated, custom object values unchecked.
func TestConformanceLenientOptions(t *testing.T) {
	r, _ := newRaw(t, marketotest.WithLenientTypes(true), marketotest.WithStringOverflow(marketotest.OverflowTruncate))
	typedFields(r.sim)
	body := `{"input":[{"email":"vera@example.net","vip_flag":"true","seat_count":"5","spend_ratio":"2.25","code_short":"ABCDEFGHIJ","first_visit":"2026-05-01T23:00:00Z"}]}`
	rs := results(t, r.do("POST", "/rest/v1/leads.json", r.token(), jsonCT, body))
	if rs[0].Status != "created" {
		t.Fatalf("lenient create: %+v", rs)
	}
	l := r.sim.LeadsByEmail("vera@example.net")[0]
	if l["vip_flag"] != true || l["seat_count"] != 5 || l["spend_ratio"] != 2.25 || l["code_short"] != "ABCDEFGH" || l["first_visit"] != "2026-05-01" {
		t.Errorf("stored %v", l)
	}
	// Strict (the default) refuses the same strings.
	s, _ := newRaw(t)
	typedFields(s.sim)
	rs = results(t, s.do("POST", "/rest/v1/leads.json", s.token(), jsonCT, `{"input":[{"email":"vera@example.net","seat_count":"5"}]}`))
	if rs[0].Status != "skipped" {
		t.Errorf("strict accepted a number as text: %+v", rs)
	}
}

// Custom object fields go through the same layer (a simulator choice:
// nothing recorded or documented); WithCustomObjectTypeCheck(false) turns it
// off.
func TestConformanceCustomObjectTypes(t *testing.T) {
	for _, check := range []bool{true, false} {
		r, _ := newRaw(t, marketotest.WithCustomObjectTypeCheck(check))
		r.sim.AddCustomObjectType(marketotest.CustomObjectType{Name: "visit_c", DedupeFields: []string{"visitKey"}, LinkField: "leadID",
			Fields: []marketo.CustomObjectField{{Name: "minutes", DataType: "integer", Updatable: true}, {Name: "rating", DataType: "float", Updatable: true}}})
		id := r.sim.AddLead(marketo.Lead{"email": "wes@example.net"})
		body := `{"input":[{"visitKey":"v1","leadID":` + itoa(id) + `,"minutes":30,"rating":4.5},{"visitKey":"v2","leadID":` + itoa(id) + `,"minutes":"half an hour"}]}`
		rs := results(t, r.do("POST", "/rest/v1/customobjects/visit_c.json", r.token(), jsonCT, body))
		if rs[0].Status != "created" || *rs[1].Seq != 1 {
			t.Fatalf("check=%t: %+v", check, rs)
		}
		if check && (rs[1].Status != "skipped" || rs[1].Reasons[0].Code != "1003" || !strings.Contains(rs[1].Reasons[0].Message, "'minutes'")) {
			t.Errorf("checked: %+v, want the second skipped with 1003 for minutes", rs[1])
		}
		if !check && rs[1].Status != "created" {
			t.Errorf("unchecked: %+v, want created", rs[1])
		}
	}
}

// _method=GET (and every read parameter, nextPageToken included) is read
// from an application/x-www-form-urlencoded body as well as from the query
// string: a Node client's list reads send it only in the body (recorded),
// a Python client's filter lookups too.
func TestConformanceMethodOverrideInFormBody(t *testing.T) {
	r, _ := newRaw(t)
	var ids []int
	for _, e := range []string{"xan@example.net", "yara@example.net", "zeb@example.net"} {
		ids = append(ids, r.sim.AddLead(marketo.Lead{"email": e, "firstName": strings.Split(e, "@")[0]}))
	}
	r.sim.AddList(2040, "Booth visitors", ids)
	tok := r.token()
	// POST /rest/v1/list/{id}/leads.json, body listId=…&_method=GET, nothing in the query.
	e := r.do("POST", "/rest/v1/list/2040/leads.json", tok, formCT, "listId=2040&_method=GET")
	var leads []map[string]any
	_ = json.Unmarshal(e.Result, &leads)
	if !e.Success || len(leads) != 3 {
		t.Fatalf("list read with _method=GET in the body: %v %s", e.Errors, e.Result)
	}
	for _, k := range []string{"id", "email", "firstName", "lastName", "createdAt", "updatedAt"} {
		if _, has := leads[0][k]; !has {
			t.Errorf("default list fields lack %s: %v", k, leads[0])
		}
	}
	// The Python client's filter lookup, paging through the body.
	form := url.Values{"_method": {"GET"}, "filterType": {"email"}, "filterValues": {"xan@example.net,yara@example.net,zeb@example.net"}, "batchSize": {"2"}}
	e = r.do("POST", "/rest/v1/leads.json", tok, formCT, form.Encode())
	if !e.Success || e.NextPageToken == "" {
		t.Fatalf("first page: %v %q", e.Errors, e.NextPageToken)
	}
	form.Set("nextPageToken", e.NextPageToken)
	e = r.do("POST", "/rest/v1/leads.json", tok, formCT, form.Encode())
	_ = json.Unmarshal(e.Result, &leads)
	if !e.Success || len(leads) != 1 || e.NextPageToken != "" {
		t.Fatalf("second page through the body: %v %s %q", e.Errors, e.Result, e.NextPageToken)
	}
	if n := len(r.sim.Leads()); n != 3 {
		t.Errorf("a read through the body wrote leads: %d", n)
	}
}

// _method=DELETE on leads.json deletes (recorded with the override in the
// query string and a JSON body); it never runs Sync Leads. The documented
// route POST leads/delete.json does the same.
func TestConformanceDeleteLeads(t *testing.T) {
	r, _ := newRaw(t)
	a := r.sim.AddLead(marketo.Lead{"email": "abe@example.net"})
	b := r.sim.AddLead(marketo.Lead{"email": "bea@example.net"})
	r.sim.AddList(7, "L", []int{a, b})
	tok := r.token()
	rs := results(t, r.do("POST", "/rest/v1/leads.json?_method=DELETE", tok, jsonCT, `{"input":[{"id":`+itoa(a)+`}]}`))
	if len(rs) != 1 || rs[0].ID != a || rs[0].Status != "deleted" {
		t.Fatalf("_method=DELETE: %+v", rs)
	}
	if status, body := r.rawBody("GET", "/rest/v1/leads.json?filterType=id&filterValues="+itoa(a), tok, "", ""); status != 200 || !strings.Contains(body, `"result":[]`) {
		t.Errorf("read of a deleted lead: %d %s, want result []", status, body)
	}
	rs = results(t, r.do("POST", "/rest/v1/leads/delete.json", tok, jsonCT, `{"input":[{"id":`+itoa(b)+`},{"id":424242}]}`))
	if rs[0].Status != "deleted" || rs[1].Status != "skipped" || rs[1].Reasons[0].Code != "1004" {
		t.Fatalf("delete.json: %+v", rs)
	}
	if n := len(r.sim.Leads()); n != 0 {
		t.Errorf("%d leads left, want 0 (and none created)", n)
	}
	e := r.do("GET", "/rest/v1/lists/7/leads.json", tok, "", "")
	if string(e.Result) != "[]" {
		t.Errorf("deleted leads still in their list: %s", e.Result)
	}
}

// An empty result is "result":[], never null and never absent: a filter
// with no match, an empty list, a custom object query with no match, no
// campaign or list found.
func TestConformanceEmptyResults(t *testing.T) {
	r, _ := newRaw(t)
	r.sim.AddList(9, "Empty", nil)
	r.sim.AddCustomObjectType(marketotest.CustomObjectType{Name: "visit_c", DedupeFields: []string{"visitKey"}})
	tok := r.token()
	for _, p := range []string{
		"/rest/v1/leads.json?filterType=email&filterValues=nobody%40example.net",
		"/rest/v1/lists/9/leads.json",
		"/rest/v1/customobjects/visit_c.json?filterType=visitKey&filterValues=none",
		"/rest/v1/lists.json?name=nothing",
		"/rest/v1/campaigns.json?isTriggerable=true",
		"/rest/v1/customobjects.json?names=none_c",
	} {
		status, body := r.rawBody("GET", p, tok, "", "")
		if status != 200 || !strings.Contains(body, `"result":[]`) || !strings.Contains(body, `"success":true`) || strings.Contains(body, "null") {
			t.Errorf("%s: %d %s, want success with result []", p, status, body)
		}
		if !strings.HasPrefix(body, `{"requestId":`) {
			t.Errorf("%s: envelope %s, want requestId first as recorded", p, body)
		}
	}
}

// Custom object queries: filterType=idField (the marketoGUID), a JSON body
// whose filterType defaults to dedupeFields and which carries batchSize, and
// createdAt/updatedAt returned by default and listed by Describe.
func TestConformanceCustomObjectQuery(t *testing.T) {
	r, clk := newRaw(t)
	r.sim.AddCustomObjectType(marketotest.CustomObjectType{Name: "car_c", DedupeFields: []string{"vin"},
		Fields: []marketo.CustomObjectField{{Name: "year", DataType: "integer", Updatable: true}}})
	tok := r.token()
	rs := results(t, r.do("POST", "/rest/v1/customobjects/car_c.json", tok, jsonCT, `{"input":[{"vin":"V-1","year":2024},{"vin":"V-2","year":2025},{"vin":"V-3","year":2026}]}`))
	clk.Advance(30 * time.Minute)
	var guids []string
	for _, rec := range r.sim.CustomObjectRecords("car_c") {
		guids = append(guids, rec["marketoGUID"].(string))
	}
	if len(rs) != 3 || len(guids) != 3 {
		t.Fatalf("seed: %+v", rs)
	}
	e := r.do("GET", "/rest/v1/customobjects/car_c.json?filterType=idField&filterValues="+guids[1], tok, "", "")
	var recs []map[string]any
	_ = json.Unmarshal(e.Result, &recs)
	if !e.Success || len(recs) != 1 || recs[0]["vin"] != "V-2" || recs[0]["marketoGUID"] != guids[1] {
		t.Fatalf("idField query: %v %s", e.Errors, e.Result)
	}
	for _, k := range []string{"seq", "createdAt", "updatedAt"} {
		if recs[0][k] == nil {
			t.Errorf("default fields lack %s: %v", k, recs[0])
		}
	}
	e = r.do("POST", "/rest/v1/customobjects/car_c.json?_method=GET", tok, jsonCT, `{"input":[{"vin":"V-1"},{"vin":"V-2"},{"vin":"V-3"}],"batchSize":2}`)
	_ = json.Unmarshal(e.Result, &recs)
	if !e.Success || len(recs) != 2 || e.NextPageToken == "" {
		t.Fatalf("JSON body without filterType, batchSize 2: %v %s next %q", e.Errors, e.Result, e.NextPageToken)
	}
	e = r.do("POST", "/rest/v1/customobjects/car_c.json?_method=GET", tok, jsonCT,
		`{"input":[{"vin":"V-1"},{"vin":"V-2"},{"vin":"V-3"}],"batchSize":2,"nextPageToken":"`+e.NextPageToken+`"}`)
	_ = json.Unmarshal(e.Result, &recs)
	if !e.Success || len(recs) != 1 || recs[0]["vin"] != "V-3" {
		t.Fatalf("second page: %v %s", e.Errors, e.Result)
	}
	e = r.do("GET", "/rest/v1/customobjects/car_c/describe.json", tok, "", "")
	var desc []struct {
		Fields []struct {
			Name       string `json:"name"`
			DataType   string `json:"dataType"`
			Updateable bool   `json:"updateable"`
		} `json:"fields"`
	}
	_ = json.Unmarshal(e.Result, &desc)
	listed := map[string]bool{}
	for _, f := range desc[0].Fields {
		if (f.Name == "createdAt" || f.Name == "updatedAt") && f.DataType == "datetime" && !f.Updateable {
			listed[f.Name] = true
		}
	}
	if !listed["createdAt"] || !listed["updatedAt"] {
		t.Errorf("describe fields %+v lack createdAt/updatedAt (datetime, not updateable)", desc)
	}
}

// List membership: add (a member re-added is still "added", recorded),
// remove ("removed", 1015 "Lead not in list", 1004 for an unknown lead),
// ismember (Adobe's example: memberof, notmemberof, 1004).
func TestConformanceListMembership(t *testing.T) {
	r, _ := newRaw(t)
	a := r.sim.AddLead(marketo.Lead{"email": "cal@example.net"})
	b := r.sim.AddLead(marketo.Lead{"email": "dee@example.net"})
	r.sim.AddList(31, "Webinar", []int{a})
	tok := r.token()
	rs := results(t, r.do("POST", "/rest/v1/lists/31/leads.json", tok, jsonCT, `{"input":[{"id":`+itoa(a)+`},{"id":`+itoa(b)+`},{"id":999999}]}`))
	if rs[0].Status != "added" || rs[1].Status != "added" || rs[2].Status != "skipped" || rs[2].Reasons[0].Code != "1004" {
		t.Fatalf("add: %+v", rs)
	}
	rs = results(t, r.do("POST", "/rest/v1/lists/31/leads.json?id="+itoa(b), tok, jsonCT, ""))
	if rs[0].Status != "added" {
		t.Fatalf("add by id query: %+v", rs)
	}
	rs = results(t, r.do("GET", "/rest/v1/lists/31/leads/ismember.json?id="+itoa(a)+"&id="+itoa(b)+"&id=999999", tok, "", ""))
	if rs[0].Status != "memberof" || rs[1].Status != "memberof" || rs[2].Reasons[0].Code != "1004" {
		t.Fatalf("ismember: %+v", rs)
	}
	rs = results(t, r.do("DELETE", "/rest/v1/lists/31/leads.json?id="+itoa(a)+"&id="+itoa(a), tok, "", ""))
	if rs[0].Status != "removed" || rs[1].Status != "skipped" || rs[1].Reasons[0].Code != "1015" || rs[1].Reasons[0].Message != "Lead not in list" {
		t.Fatalf("remove: %+v", rs)
	}
	rs = results(t, r.do("POST", "/rest/v1/lists/31/leads.json?_method=DELETE", tok, jsonCT, `{"input":[{"id":999999}]}`))
	if rs[0].Reasons[0].Code != "1004" {
		t.Fatalf("remove unknown: %+v", rs)
	}
	rs = results(t, r.do("GET", "/rest/v1/lists/31/leads/ismember.json?id="+itoa(a), tok, "", ""))
	if rs[0].Status != "notmemberof" {
		t.Fatalf("ismember after remove: %+v", rs)
	}
	if e := r.do("POST", "/rest/v1/lists/404/leads.json", tok, jsonCT, `{"input":[{"id":1}]}`); e.code() != "1013" {
		t.Errorf("unknown list: %q, want 1013", e.code())
	}
}

// GET lists.json and lists/{id}.json answer in swagger's StaticList shape.
func TestConformanceLists(t *testing.T) {
	r, _ := newRaw(t)
	r.sim.AddList(1101, "Spring gala", nil)
	r.sim.AddList(1102, "Autumn gala", nil)
	tok := r.token()
	e := r.do("GET", "/rest/v1/lists.json?name=Autumn%20gala", tok, "", "")
	var rows []map[string]any
	_ = json.Unmarshal(e.Result, &rows)
	if !e.Success || len(rows) != 1 || rows[0]["id"] != 1102.0 {
		t.Fatalf("lists.json by name: %v %s", e.Errors, e.Result)
	}
	for _, k := range []string{"id", "name", "description", "programName", "workspaceName", "createdAt", "updatedAt"} {
		if _, has := rows[0][k]; !has {
			t.Errorf("list row lacks %s", k)
		}
	}
	e = r.do("GET", "/rest/v1/lists.json?id=1101,1102&batchSize=1", tok, "", "")
	if !e.Success || e.NextPageToken == "" {
		t.Errorf("paged lists: %v", e.Errors)
	}
	e = r.do("GET", "/rest/v1/lists/1101.json", tok, "", "")
	_ = json.Unmarshal(e.Result, &rows)
	if !e.Success || rows[0]["name"] != "Spring gala" || rows[0]["createdAt"] == nil {
		t.Errorf("lists/{id}.json: %s", e.Result)
	}
	if e := r.do("GET", "/rest/v1/lists/999.json", tok, "", ""); e.code() != "1013" {
		t.Errorf("unknown list: %q", e.code())
	}
}

// GET campaigns.json: swagger's Campaign (with active, without the asset
// API's isRequestable); isTriggerable=true keeps the active trigger
// campaigns that a "Campaign is Requested" (Web Service API) trigger starts.
func TestConformanceCampaigns(t *testing.T) {
	r, _ := newRaw(t)
	r.sim.AddCampaign(marketotest.Campaign{ID: 501, Name: "Welcome", Type: "trigger", Active: true, Requestable: true, ProgramName: "Gala 2026"})
	r.sim.AddCampaign(marketotest.Campaign{ID: 502, Name: "Old", Type: "trigger", Active: false, Requestable: true})
	r.sim.AddCampaign(marketotest.Campaign{ID: 503, Name: "Nurture", Type: "batch", Active: true})
	r.sim.AddCampaign(marketotest.Campaign{ID: 504, Name: "Form fill", Type: "trigger", Active: true, Requestable: false})
	tok := r.token()
	e := r.do("GET", "/rest/v1/campaigns.json", tok, "", "")
	var rows []map[string]any
	_ = json.Unmarshal(e.Result, &rows)
	if len(rows) != 4 || rows[0]["type"] != "trigger" || rows[0]["active"] != true || rows[0]["programName"] != "Gala 2026" {
		t.Fatalf("campaigns: %s", e.Result)
	}
	if _, has := rows[0]["isRequestable"]; has {
		t.Error("campaigns.json carries isRequestable (the asset API's field)")
	}
	e = r.do("GET", "/rest/v1/campaigns.json?isTriggerable=true", tok, "", "")
	_ = json.Unmarshal(e.Result, &rows)
	if len(rows) != 1 || rows[0]["id"] != 501.0 {
		t.Fatalf("isTriggerable: %s", e.Result)
	}
	// The Python client: POST ?_method=GET with the ids in the form body.
	e = r.do("POST", "/rest/v1/campaigns.json?_method=GET", tok, formCT, "id=502,503")
	_ = json.Unmarshal(e.Result, &rows)
	if len(rows) != 2 {
		t.Fatalf("ids in the body: %s", e.Result)
	}
}

// GET customobjects.json?names=…: keys and relationships (relatedTo), no
// fields.
func TestConformanceCustomObjectList(t *testing.T) {
	r, _ := newRaw(t)
	r.sim.AddCustomObjectType(marketotest.CustomObjectType{Name: "car_c", DedupeFields: []string{"vin"}, LinkField: "ownerId"})
	r.sim.AddCustomObjectType(marketotest.CustomObjectType{Name: "boat_c", DedupeFields: []string{"hull"}})
	e := r.do("GET", "/rest/v1/customobjects.json?names=car_c,plane_c", r.token(), "", "")
	var rows []map[string]any
	_ = json.Unmarshal(e.Result, &rows)
	if len(rows) != 1 || rows[0]["name"] != "car_c" || rows[0]["idField"] != "marketoGUID" {
		t.Fatalf("list: %s", e.Result)
	}
	if _, has := rows[0]["fields"]; has {
		t.Error("List Custom Objects carries fields (Describe's)")
	}
	rels, _ := rows[0]["relationships"].([]any)
	if len(rels) != 1 || rels[0].(map[string]any)["relatedTo"].(map[string]any)["name"] != "Lead" {
		t.Errorf("relationships %v", rows[0]["relationships"])
	}
}

// GET stats/usage.json always answers one day with its total (a client
// reads result[0].total), counting the day's calls.
func TestConformanceUsage(t *testing.T) {
	r, _ := newRaw(t)
	tok := r.token()
	e := r.do("GET", "/rest/v1/stats/usage.json", tok, "", "")
	var days []struct {
		Date  string `json:"date"`
		Total *int   `json:"total"`
		Users []struct {
			UserID string `json:"userId"`
			Count  int    `json:"count"`
		} `json:"users"`
	}
	_ = json.Unmarshal(e.Result, &days)
	if len(days) != 1 || days[0].Total == nil || *days[0].Total != 1 || days[0].Date != "2026-03-02" {
		t.Fatalf("first usage call: %s", e.Result)
	}
	for range 3 {
		r.do("GET", "/rest/v1/leads/describe.json", tok, "", "")
	}
	e = r.do("GET", "/rest/v1/stats/usage.json", tok, "", "")
	_ = json.Unmarshal(e.Result, &days)
	if *days[0].Total != 5 || len(days[0].Users) != 1 || days[0].Users[0].Count != 5 {
		t.Errorf("usage after 5 calls: %s", e.Result)
	}
	e = r.do("GET", "/rest/v1/stats/usage/last7days.json", tok, "", "")
	_ = json.Unmarshal(e.Result, &days)
	if len(days) != 7 || *days[0].Total != 6 || *days[6].Total != 0 {
		t.Errorf("last 7 days: %s", e.Result)
	}
}

// describe2.json answers in its own shape, not describe.json's.
func TestConformanceDescribe2(t *testing.T) {
	r, _ := newRaw(t)
	r.sim.AddLeadField(marketo.LeadField{Name: "vip_flag", DataType: "boolean"})
	e := r.do("GET", "/rest/v1/leads/describe2.json", r.token(), "", "")
	var d []struct {
		Name             string     `json:"name"`
		SearchableFields [][]string `json:"searchableFields"`
		Fields           []struct {
			Name       string `json:"name"`
			DataType   string `json:"dataType"`
			Length     *int   `json:"length"`
			Updateable *bool  `json:"updateable"`
			CRMManaged *bool  `json:"crmManaged"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(e.Result, &d); err != nil || len(d) != 1 || d[0].Name != "API Lead" || len(d[0].SearchableFields) == 0 {
		t.Fatalf("describe2: %v %s", err, e.Result)
	}
	var vip, email bool
	for _, f := range d[0].Fields {
		switch f.Name {
		case "vip_flag":
			vip = f.DataType == "boolean" && f.Length == nil && f.Updateable != nil && *f.Updateable && f.CRMManaged != nil
		case "email":
			email = f.Length != nil && *f.Length == 255
		}
	}
	if !vip || !email {
		t.Errorf("describe2 fields: %s", e.Result)
	}
	e = r.do("GET", "/rest/v1/leads/describe.json", r.token(), "", "")
	if strings.Contains(string(e.Result), `"length":0`) {
		t.Error("describe.json gives length 0; Marketo leaves length out of non-string fields")
	}
}

// A call without an access token: 603 "Access denied" (Adobe's September
// 2022 release notes), or 600 "Empty access token" as before.
func TestConformanceMissingToken(t *testing.T) {
	for code, opt := range map[string]marketotest.Option{"603": marketotest.WithMissingTokenCode("603"), "600": marketotest.WithMissingTokenCode("600")} {
		r, _ := newRaw(t, opt)
		e := r.do("GET", "/rest/v1/leads/describe.json", "", "", "")
		if e.status != 200 || e.code() != code {
			t.Errorf("missing token: %d %q, want 200 %s", e.status, e.code(), code)
		}
		if r.sim.CountedCalls() != 0 {
			t.Error("a call without token was counted")
		}
	}
}

// The daily quota resets at the quota zone's midnight: in summer 05:00 UTC
// for America/Chicago, 06:00 UTC for UTC-6.
func TestConformanceQuotaZone(t *testing.T) {
	for zone, reset := range map[marketo.QuotaZone]time.Time{
		marketo.QuotaZoneChicago:   time.Date(2026, 7, 2, 5, 0, 0, 0, time.UTC),
		marketo.QuotaZoneUTCMinus6: time.Date(2026, 7, 2, 6, 0, 0, 0, time.UTC),
	} {
		clk := marketotest.NewManualClock(time.Date(2026, 7, 1, 20, 0, 0, 0, time.UTC))
		sim := marketotest.NewServer(t, marketotest.WithClock(clk), marketotest.WithQuotaZone(zone), marketotest.WithDailyQuota(1))
		r := raw{t, sim}
		tok := r.token()
		r.do("GET", "/rest/v1/leads/describe.json", tok, "", "")
		clk.Advance(reset.Add(-time.Second).Sub(clk.Now()))
		tok = r.token()
		if e := r.do("GET", "/rest/v1/leads/describe.json", tok, "", ""); e.code() != "607" {
			t.Errorf("%s: a second before midnight %q, want 607", zone, e.code())
		}
		clk.Advance(time.Second)
		if e := r.do("GET", "/rest/v1/leads/describe.json", tok, "", ""); !e.Success {
			t.Errorf("%s: at midnight %v", zone, e.Errors)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
