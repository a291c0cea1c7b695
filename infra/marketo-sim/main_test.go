package main

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
)

// The standalone simulator serves marketotest's handler; its flags select
// the variants Marketo leaves open and its seed file declares typed lead
// fields, whose values are then checked.
func TestStandaloneFlagsAndTypedSeed(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "seed.json")
	if err := os.WriteFile(seed, []byte(`{
  "leadFields": [{"name": "vipFlag", "dataType": "boolean"}, {"name": "badge", "dataType": "string", "length": 4}],
  "leads": [{"id": 501, "email": "ana@example.net", "vipFlag": true}],
  "campaigns": [{"id": 77, "name": "Welcome", "type": "trigger", "active": true, "requestable": true, "programName": "Gala"}]
}`), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("marketo-sim", flag.ContinueOnError)
	opts, id, err := options(fs, []string{"-missing-token", "600", "-legacy-1003", "-quota-zone", "UTC-6", "-client-id", "cid"}, "sec")
	if err != nil || id != "cid" {
		t.Fatalf("options: %v %q", err, id)
	}
	sim := marketotest.NewUnstarted(opts...)
	if err := sim.LoadSeedFile(seed); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(sim)
	defer hs.Close()
	call := func(method, path, tok, body string) map[string]any {
		req, _ := http.NewRequest(method, hs.URL+path, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %s", path, b)
		}
		return m
	}
	if m := call("GET", "/rest/v1/leads/describe.json", "", ""); !strings.Contains(mustJSON(m["errors"]), `"600"`) {
		t.Errorf("-missing-token 600: %v", m)
	}
	resp, err := http.PostForm(hs.URL+"/identity/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {"sec"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	m := call("POST", "/rest/v1/leads.json", tok.AccessToken, `{"input":[{"email":"bo@example.net","vipFlag":"other"},{"email":"cy@example.net","badge":"toolong"}]}`)
	res := mustJSON(m["result"])
	if !strings.Contains(res, `"Invalid value for field 'vipFlag'"`) || !strings.Contains(res, `"Invalid value for field 'badge'"`) {
		t.Errorf("typed seed fields with -legacy-1003: %s", res)
	}
	m = call("GET", "/rest/v1/lead/501.json?fields=vipFlag", tok.AccessToken, "")
	if !strings.Contains(mustJSON(m["result"]), `"vipFlag":true`) {
		t.Errorf("seeded lead %v", m)
	}
	m = call("GET", "/rest/v1/campaigns.json?isTriggerable=true", tok.AccessToken, "")
	if !strings.Contains(mustJSON(m["result"]), `"programName":"Gala"`) {
		t.Errorf("campaigns %v", m)
	}
	for _, bad := range [][]string{{"-quota-zone", "CST"}, {"-missing-token", "601"}, {"-string-overflow", "cut"}} {
		if _, _, err := options(flag.NewFlagSet("x", flag.ContinueOnError), bad, ""); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The seed docs/examples gives for the README's probe loads.
func TestDocsExampleSeedLoads(t *testing.T) {
	sim := marketotest.NewUnstarted()
	if err := sim.LoadSeedFile(filepath.Join("..", "..", "docs", "examples", "marketo-sim-seed.json")); err != nil {
		t.Fatal(err)
	}
	if n := len(sim.Leads()); n != 3 {
		t.Errorf("%d leads", n)
	}
}
