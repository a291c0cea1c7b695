package certaintest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
)

func get(t *testing.T, srv *certaintest.Server, path, user, pass string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestSimulatorRules(t *testing.T) {
	clk := certaintest.NewClock(time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC))
	srv := certaintest.NewServer(t, certaintest.WithClock(clk.Now), certaintest.WithPageSizeCap(2))
	u, p := srv.Username(), srv.Password()
	srv.AddEvent("ACME", map[string]any{"eventCode": "HS26"})
	for range 3 {
		pin := srv.AddProfile("ACME", map[string]any{"email": "a@x.example"})
		srv.AddRegistration("ACME", "HS26", pin, nil)
		clk.Advance(time.Minute)
	}
	base := "/certainExternal/service/v1/Registration/ACME/HS26"
	if code, _ := get(t, srv, base, u, "nope"); code != 401 {
		t.Errorf("bad password: %d, want 401", code)
	}
	code, env := get(t, srv, base+"?max_results=200", u, p)
	if code != 200 || env["size"].(float64) != 2 || env["completeCollectionSize"].(float64) != 3 || env["maxResults"].(float64) != 2 {
		t.Errorf("capped page: %d %v", code, env)
	}
	// strictly after: the second registration's own timestamp excludes it.
	code, env = get(t, srv, base+"?dateModified_after=2026-04-01T08:01:00", u, p)
	if code != 200 || env["completeCollectionSize"].(float64) != 1 {
		t.Errorf("strictly-after: %d %v, want 1 row", code, env)
	}
	if code, _ := get(t, srv, base+"?dateModified_after=2026-04-01T09:00:00", u, p); code != 404 {
		t.Errorf("empty search: %d, want 404", code)
	}
	if code, _ := get(t, srv, base+"?orderBy=sideways", u, p); code != 400 {
		t.Errorf("bad orderBy: %d, want 400", code)
	}
	code, env = get(t, srv, base+"?orderBy=dateModified_desc", u, p)
	regs := env["registrations"].([]any)
	if code != 200 || regs[0].(map[string]any)["dateModified"] != "2026-04-01T08:02:00" {
		t.Errorf("desc order: %v", regs)
	}
	srv.FailNext("Registration/*/HS26", 1, 503, 3*time.Second)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+base, nil)
	req.SetBasicAuth(u, p)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("fault: %d Retry-After=%q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := srv.CountCalls("GET", "Registration/ACME"); n != 7 {
		t.Errorf("CountCalls = %d, want 7", n)
	}
	last := srv.Calls()[len(srv.Calls())-1]
	if last.Status != 503 || !strings.HasSuffix(last.Path, "/HS26") {
		t.Errorf("call log %+v", last)
	}
}

func TestStandaloneSeedErrors(t *testing.T) {
	srv := certaintest.NewServer(nil)
	defer srv.Close()
	srv.AddRegistration("ACME", "HS26", "P-missing", nil)
	if err := srv.Err(); err == nil || !strings.Contains(err.Error(), "P-missing") {
		t.Errorf("Err() = %v, want the unknown pin named", err)
	}
}
