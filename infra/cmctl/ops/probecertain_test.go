package ops

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
)

func probeSim(t *testing.T, opts ...certaintest.Option) *certaintest.Server {
	t.Helper()
	srv := certaintest.NewServer(t, opts...)
	if err := demodata.Generate(demodata.Options{Seed: 3, Registrations: 30, Account: "ACME", Fields: srv.Fields()}).SeedCertain(srv); err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestProbeCertainJSON(t *testing.T) {
	srv := probeSim(t, certaintest.WithPagingMode("offset0"), certaintest.WithPageSizeCap(50))
	env := map[string]string{EnvCertainPassword: srv.Password()}
	r := cmctl(t, env, "probe-certain", "--url", srv.URL, "--allow-http", "--account", "ACME", "--event", "HS26", "--user", srv.Username(), "--json")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	var out struct {
		Inferred struct {
			PagingMode string `json:"pagingMode"`
			PageCap    int    `json:"pageCap"`
		} `json:"inferred"`
		Checks []struct{ Status, Check string } `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	if out.Inferred.PagingMode != "offset0" || out.Inferred.PageCap != 50 || len(out.Checks) < 10 {
		t.Errorf("inferred %+v, %d checks", out.Inferred, len(out.Checks))
	}
	if strings.Contains(r.stdout, srv.Password()) {
		t.Error("the password is in the output")
	}
}

func TestProbeCertainConnectionMismatchExits1(t *testing.T) {
	srv := probeSim(t, certaintest.WithPagingMode("page1"), certaintest.WithLenient())
	dir := t.TempDir()
	file := filepath.Join(dir, "acme.yaml")
	conn := "kind: connection\naccount: ACME\ncertainBaseURL: " + srv.URL + "\nallowHTTP: true\ncertainSecret: s\nmarketoSecret: m\n" +
		"fieldMapping: [{certain: email, marketo: email}]\n"
	if err := os.WriteFile(file, []byte(conn), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvCertainPassword: srv.Password()}
	r := cmctl(t, env, "probe-certain", "--connection", file, "--event", "HS26", "--user", srv.Username())
	if r.code != ExitFailure || !strings.Contains(r.stdout, `pagingMode: configured "offset0", inferred "page1"`) || !strings.Contains(r.stdout, "pagingMode: page1") {
		t.Fatalf("exit %d, want 1 naming the mismatch:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if err := os.WriteFile(file, []byte(conn+"pagingMode: page1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := cmctl(t, env, "probe-certain", "--connection", file, "--event", "HS26", "--user", srv.Username()); r.code != ExitOK {
		t.Errorf("configured as inferred: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestProbeCertainUsage(t *testing.T) {
	for _, args := range [][]string{
		{"probe-certain", "--url", "https://x.example", "--account", "A", "--user", "u"},                 // no --event
		{"probe-certain", "--url", "http://x.example", "--account", "A", "--event", "E", "--user", "u"},  // http without --allow-http
		{"probe-certain", "--url", "https://x.example", "--account", "A", "--event", "E"},                // no user
		{"probe-certain", "--url", "https://x.example", "--account", "A", "--event", "E", "--user", "u"}, // no password
	} {
		if r := cmctl(t, nil, args...); r.code != ExitUsage {
			t.Errorf("%v: exit %d (%s), want usage", args, r.code, r.stderr)
		}
	}
}
