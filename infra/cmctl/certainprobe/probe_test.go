package certainprobe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/infra/cmctl/certainprobe"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
)

// sim starts a simulator with opts, seeded with a small demo data set.
func sim(t *testing.T, opts ...certaintest.Option) *certaintest.Server {
	t.Helper()
	srv := certaintest.NewServer(t, opts...)
	d := demodata.Generate(demodata.Options{Seed: 7, Registrations: 40, Account: "ACME", Fields: srv.Fields()})
	if err := d.SeedCertain(srv); err != nil {
		t.Fatal(err)
	}
	return srv
}

func options(srv *certaintest.Server) certainprobe.Options {
	return certainprobe.Options{Conn: config.Connection{Account: "ACME", CertainBaseURL: srv.URL, AllowHTTP: true},
		Event: "HS26", Username: srv.Username(), Password: srv.Password(),
		Now: func() time.Time { return time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC) }}
}

// TestProbeInfersPagingMode is the done-when list of issue 14: the probe
// tells each paging variant of the simulator, and reports a page cap.
func TestProbeInfersPagingMode(t *testing.T) {
	for name, c := range map[string]struct {
		opts    []certaintest.Option
		mode    string
		pageCap int
	}{
		"-paging offset0":              {[]certaintest.Option{certaintest.WithPagingMode("offset0")}, "offset0", 0},
		"-paging offset1":              {[]certaintest.Option{certaintest.WithPagingMode("offset1")}, "offset1", 0},
		"-paging page1":                {[]certaintest.Option{certaintest.WithPagingMode("page1")}, "page1", 0},
		"-paging page1 -lenient":       {[]certaintest.Option{certaintest.WithPagingMode("page1"), certaintest.WithLenient()}, "page1", 0},
		"-paging offset0 -page-cap 50": {[]certaintest.Option{certaintest.WithPagingMode("offset0"), certaintest.WithPageSizeCap(50)}, "offset0", 50},
		"-paging offset1 -lenient":     {[]certaintest.Option{certaintest.WithPagingMode("offset1"), certaintest.WithLenient()}, "offset1", 0},
		"-paging none":                 {[]certaintest.Option{certaintest.WithPagingMode("none")}, "none", 0},
		"-paging page1 -page-cap 5":    {[]certaintest.Option{certaintest.WithPagingMode("page1"), certaintest.WithPageSizeCap(5)}, "page1", 5},
	} {
		t.Run(name, func(t *testing.T) {
			rep, err := certainprobe.Run(context.Background(), options(sim(t, c.opts...)))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Inferred.PagingMode != c.mode || rep.Inferred.PageCap != c.pageCap {
				t.Errorf("inferred pagingMode %q, page cap %d; want %q, %d\n%s", rep.Inferred.PagingMode, rep.Inferred.PageCap, c.mode, c.pageCap, text(t, rep))
			}
			if c.pageCap > 0 && rep.Inferred.PageSize != c.pageCap {
				t.Errorf("inferred pageSize %d, want the cap %d", rep.Inferred.PageSize, c.pageCap)
			}
			if rep.Failed() {
				t.Errorf("a check failed:\n%s", text(t, rep))
			}
		})
	}
}

func TestProbeInfersTagsAndParameters(t *testing.T) {
	srv := sim(t, certaintest.WithTagsField("tags"), certaintest.WithTagShape(certaintest.TagObjects),
		certaintest.WithIncludeParam("include_list"), certaintest.WithOrderByParam("order_by"))
	rep, err := certainprobe.Run(context.Background(), options(srv))
	if err != nil {
		t.Fatal(err)
	}
	in := rep.Inferred
	if in.IncludeParam != "include_list" || in.OrderByParam != "order_by" || in.CertainFields.TagsField != "tags" || in.CertainFields.TagNameKey != "name" {
		t.Errorf("inferred %+v\n%s", in, text(t, rep))
	}
	y, _ := in.YAML()
	for _, want := range []string{"includeParam: include_list", "orderByParam: order_by", "tagsField: tags", "tagNameKey: name"} {
		if !strings.Contains(y, want) {
			t.Errorf("YAML lacks %q:\n%s", want, y)
		}
	}
	// The YAML is a connection file's: it decodes into a Connection.
	var conn config.Connection
	if err := config.DecodeYAML([]byte(y), &conn); err != nil || conn.IncludeParam != "include_list" || conn.CertainFields.Tags != "tags" {
		t.Errorf("the inferred YAML does not decode as a connection: %v (%+v)", err, conn)
	}
}

func TestProbeComparesAConfiguredConnection(t *testing.T) {
	srv := sim(t, certaintest.WithPagingMode("page1"), certaintest.WithLenient())
	o := options(srv)
	o.Configured = true // pagingMode unset: offset0
	rep, err := certainprobe.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Failed() || len(rep.Mismatches) == 0 || !strings.Contains(rep.Mismatches[0], `pagingMode: configured "offset0", inferred "page1"`) {
		t.Errorf("mismatches %v, want pagingMode named", rep.Mismatches)
	}
	o.Conn.PagingMode = "page1"
	if rep, _ = certainprobe.Run(context.Background(), o); rep.Failed() {
		t.Errorf("configured as inferred, still failed: %v\n%s", rep.Mismatches, text(t, rep))
	}
}

func TestProbeStopsOnBadCredentialsAndUnknownEvent(t *testing.T) {
	srv := sim(t)
	o := options(srv)
	o.Password = "wrong"
	rep, _ := certainprobe.Run(context.Background(), o)
	if !rep.Failed() || len(rep.Checks) != 1 || !strings.Contains(rep.Checks[0].Detail, "refused user") || strings.Contains(text(t, rep), "wrong") {
		t.Errorf("bad password: %+v", rep.Checks)
	}
	o = options(srv)
	o.Event = "HS62"
	rep, _ = certainprobe.Run(context.Background(), o)
	if !rep.Failed() || !strings.Contains(rep.Checks[0].Detail, `event "HS62" of account "ACME" not found`) {
		t.Errorf("unknown event: %+v", rep.Checks)
	}
}

func TestProbeWriteTest(t *testing.T) {
	srv := sim(t)
	before := len(srv.Profiles("ACME"))
	o := options(srv)
	o.WriteTest = true
	rep, err := certainprobe.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var passed []string
	for _, c := range rep.Checks {
		if strings.HasPrefix(c.Name, "write test") {
			if c.Status != certainprobe.Pass {
				t.Errorf("%s: %s %s", c.Name, c.Status, c.Detail)
			}
			passed = append(passed, c.Name)
		}
	}
	if len(passed) != 5 {
		t.Errorf("write test steps %v, want create profile, create registration, update, delete registration, delete profile", passed)
	}
	if after := len(srv.Profiles("ACME")); after != before {
		t.Errorf("%d profiles after the write test, %d before: it did not clean up", after, before)
	}
}

func TestProbeRecordsRedacted(t *testing.T) {
	srv := sim(t, certaintest.WithPagingMode("page1"))
	dir := t.TempDir()
	o := options(srv)
	o.RecordDir = dir
	if _, err := certainprobe.Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) < 10 {
		t.Fatalf("%d files recorded", len(files))
	}
	var m certainprobe.Manifest
	b, _ := os.ReadFile(filepath.Join(dir, "probe.json"))
	if err := json.Unmarshal(b, &m); err != nil || m.Settings.PagingMode != "page1" || m.Reads["registrations"] == 0 {
		t.Errorf("manifest %+v, %v", m, err)
	}
	emails := map[string]bool{}
	for _, p := range srv.Profiles("ACME") {
		emails[p["email"].(string)] = true
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte(srv.Password())) || bytes.Contains(b, []byte("Authorization")) {
			t.Errorf("%s holds credentials", f)
		}
		for e := range emails {
			if bytes.Contains(b, []byte(e)) {
				t.Errorf("%s holds the e-mail address %s", f, e)
			}
		}
	}
}

func text(t *testing.T, rep certainprobe.Report) string {
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
