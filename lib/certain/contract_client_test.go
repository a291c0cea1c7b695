package certain_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
)

func TestErrorBodiesReducedForRunRecords(t *testing.T) {
	for _, format := range []string{certaintest.ErrorServlet, certaintest.ErrorJSON} {
		srv, c, _ := newPair(t, certaintest.WithErrorFormat(format))
		srv.AddEvent("ACME", map[string]any{"eventCode": "HS26"})
		pin := srv.AddProfile("ACME", map[string]any{"email": "a@x.example"})
		ctx := context.Background()
		if _, err := c.CreateRegistration(ctx, "ACME", "HS26", certain.NewRegistration{PIN: pin}); err != nil {
			t.Fatal(err)
		}
		_, err := c.CreateRegistration(ctx, "ACME", "HS26", certain.NewRegistration{PIN: pin})
		var e *certain.Error
		if !errors.As(err, &e) || e.Status != 400 || !strings.HasPrefix(e.Message, "profile "+pin+" is already registered") || strings.ContainsAny(e.Message, "<>") {
			t.Errorf("%s: duplicate registration error %v (message %q), want the bare message", format, err, e.Message)
		}
	}
}

func TestCreatesAnswering200Or201(t *testing.T) {
	for _, status := range []int{200, 201} {
		srv, c, _ := newPair(t, certaintest.WithCreateStatus(status))
		srv.AddEvent("ACME", map[string]any{"eventCode": "HS26"})
		p, err := c.CreateProfile(context.Background(), "ACME", map[string]any{"email": "a@x.example"})
		if err != nil || p.PIN == "" {
			t.Fatalf("create answered %d: %+v, %v", status, p, err)
		}
		if got := srv.Calls()[len(srv.Calls())-1].Status; got != status {
			t.Errorf("simulator answered %d, want %d", got, status)
		}
	}
}

// TestNestedProfileFields configures External Profile ID as a profile
// question and Source of Profile as a nested object, and reads, searches
// and writes both.
func TestNestedProfileFields(t *testing.T) {
	fields := certain.FieldNames{
		ExternalID: "profileQuestions.question[questionCode=MKTO].answers.answer[0].value",
		Source:     "integration.source",
	}
	srv, c, _ := newPair(t, certaintest.WithFieldNames(fields))
	srv.AddAccount("ACME")
	q := func(code, value string) map[string]any {
		return map[string]any{"questionCode": code, "answers": map[string]any{"answer": []any{map[string]any{"value": value}}}}
	}
	pin := srv.AddProfile("ACME", map[string]any{"email": "a@x.example", "firstName": "Ada",
		"profileQuestions": map[string]any{"question": []any{q("DIET", "vegan"), q("MKTO", "")}}})
	ctx := context.Background()
	if err := c.UpdateProfile(ctx, "ACME", pin, map[string]any{fields.ExternalID: "4411", fields.Source: "Marketo"}); err != nil {
		t.Fatal(err)
	}
	found, err := c.FindProfiles(ctx, "ACME", c.Fields().ExternalID, "4411")
	if err != nil || len(found) != 1 || found[0].PIN != pin {
		t.Fatalf("search by nested External Profile ID = %+v, %v", found, err)
	}
	p := found[0]
	if p.ExternalID != "4411" || p.Source != "Marketo" || p.Get("firstName") != "Ada" ||
		p.Get("profileQuestions.question[questionCode=DIET].answers.answer[0].value") != "vegan" {
		t.Errorf("after the nested update: %+v", p.Fields)
	}
	last := srv.Calls()[len(srv.Calls())-1]
	if !strings.Contains(last.Query, "includeList=profile_questions") {
		t.Errorf("search %q does not ask for profile questions", last.Query)
	}
}

func TestSearchThatIgnoresItsParameterStops(t *testing.T) {
	// A tenant that ignores an unknown search parameter answers with every
	// profile; linking a lead to the first would be silently wrong.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"completeCollectionSize":2,"size":2,"startingIndex":0,"maxResults":200,` +
			`"profiles":[{"pin":"P-1","externalKey":"7"},{"pin":"P-2","externalKey":"4411"}]}`))
	})
	c := handlerClient(t, h, func(cfg *certain.Config) { cfg.Fields.ExternalIDSearch = "mktoId" })
	_, err := c.FindProfiles(context.Background(), "ACME", "externalKey", "4411")
	if !errors.Is(err, certain.ErrContract) || !strings.Contains(err.Error(), "externalIdSearchParam") {
		t.Errorf("FindProfiles = %v, want a contract error naming externalIdSearchParam", err)
	}
}

func TestTenantTimeZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tz data:", err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("dateModified_after"); got != "2026-04-01 08:30:00" {
			http.Error(w, "unexpected filter "+got, http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(`{"completeCollectionSize":1,"size":1,"startingIndex":0,"maxResults":200,` +
			`"registrations":[{"registrationCode":"R-1","dateModified":"2026-04-01T08:45:00"}]}`))
	})
	c := handlerClient(t, h, func(cfg *certain.Config) {
		cfg.Contract = certain.Contract{TimeZone: ny, FilterTimeFormat: "2006-01-02 15:04:05"}
	})
	after := time.Date(2026, 4, 1, 12, 30, 0, 0, time.UTC) // 08:30 in New York (EDT)
	for p, err := range c.RegistrationPages(context.Background(), "ACME", "HS26", certain.RegistrationQuery{ModifiedAfter: after}) {
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2026, 4, 1, 12, 45, 0, 0, time.UTC); len(p.Items) != 1 || !p.Items[0].DateModified.Equal(want) {
			t.Errorf("dateModified read as %v, want %v", p.Items[0].DateModified, want)
		}
	}
}

func TestPagingNone(t *testing.T) {
	srv, _, clk := newPair(t, certaintest.WithPagingMode(certain.PagingNone))
	codes := seedRegs(srv, clk, 5)
	cfg := srv.Config()
	cfg.PageSize = 2
	c, err := certain.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for p, err := range c.RegistrationPages(context.Background(), "ACME", "HS26", certain.RegistrationQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Items {
			got = append(got, r.Code)
		}
	}
	if !slices.Equal(got, codes) || strings.Contains(srv.Calls()[len(srv.Calls())-1].Query, "start_index") {
		t.Errorf("none: read %v with query %q, want %v in one call without paging parameters", got, srv.Calls()[len(srv.Calls())-1].Query, codes)
	}
	// none against an endpoint that pages: one call shows part of the total.
	srv2, _, clk2 := newPair(t, certaintest.WithPageSizeCap(2))
	seedRegs(srv2, clk2, 5)
	cfg2 := srv2.Config()
	cfg2.PagingMode = certain.PagingNone
	c2, _ := certain.New(cfg2)
	_, err = collectRegs(c2)
	if !errors.Is(err, certain.ErrContract) || !strings.Contains(err.Error(), "this endpoint pages") {
		t.Errorf("none on a paging endpoint: %v", err)
	}
}

func TestResumedReadChecksA404(t *testing.T) {
	// offset0 against a page-number tenant, resumed at record 6 of 7: the
	// 404 for start_index 6 is not the end.
	srv, _, clk := newPair(t, certaintest.WithPagingMode(certain.PagingPage1))
	seedRegs(srv, clk, 7)
	cfg := srv.Config()
	cfg.PagingMode, cfg.PageSize = certain.PagingOffset0, 3
	c, _ := certain.New(cfg)
	for _, err := range c.RegistrationPages(context.Background(), "ACME", "HS26", certain.RegistrationQuery{StartIndex: 6}) {
		if !errors.Is(err, certain.ErrContract) || !strings.Contains(err.Error(), "set pagingMode: page1") {
			t.Errorf("resumed read: %v, want a contract error naming page1", err)
		}
	}
}

func TestPage1ResumeLearnsTheServersPageSize(t *testing.T) {
	srv, _, clk := newPair(t, certaintest.WithPagingMode(certain.PagingPage1), certaintest.WithPageSizeCap(2))
	codes := seedRegs(srv, clk, 7)
	cfg := srv.Config()
	cfg.PageSize = 3
	c, _ := certain.New(cfg)
	var got []string
	for p, err := range c.RegistrationPages(context.Background(), "ACME", "HS26", certain.RegistrationQuery{StartIndex: 4}) {
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Items {
			got = append(got, r.Code)
		}
	}
	if !slices.Equal(got, codes[4:]) {
		t.Errorf("resumed at 4 = %v, want %v", got, codes[4:])
	}
}

func TestEnvelopeChecks(t *testing.T) {
	for name, c := range map[string]struct {
		pages   map[string]string // answer by start_index (offset0, max_results 2); absent: 404
		wantErr error
		want    int
	}{
		"no total, no echo: read until empty": {map[string]string{"0": `{"registrations":[{"registrationCode":"a"},{"registrationCode":"b"}]}`,
			"2": `{"registrations":[{"registrationCode":"c"}]}`}, nil, 3},
		"size disagrees with rows": {map[string]string{"0": `{"size":3,"registrations":[{"registrationCode":"a"}]}`}, certain.ErrContract, 0},
		"total shrinks": {map[string]string{"0": `{"completeCollectionSize":5,"registrations":[{"registrationCode":"a"},{"registrationCode":"b"}]}`,
			"2": `{"completeCollectionSize":4,"registrations":[{"registrationCode":"d"},{"registrationCode":"e"}]}`}, certain.ErrCollectionChanged, 2},
		"empty page before the total": {map[string]string{"0": `{"completeCollectionSize":5,"registrations":[{"registrationCode":"a"},{"registrationCode":"b"}]}`,
			"2": `{"completeCollectionSize":5,"registrations":[]}`}, certain.ErrContract, 2},
		"insertion pushes a row along": {map[string]string{"0": `{"completeCollectionSize":3,"registrations":[{"registrationCode":"a"},{"registrationCode":"b"}]}`,
			"2": `{"completeCollectionSize":4,"registrations":[{"registrationCode":"b"},{"registrationCode":"c"}]}`}, nil, 3},
	} {
		t.Run(name, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, ok := c.pages[r.URL.Query().Get("start_index")]
				if !ok || r.URL.Query().Get("max_results") != "2" {
					http.Error(w, "HTTP Status 404 -  No registrations found", http.StatusNotFound)
					return
				}
				_, _ = w.Write([]byte(body))
			})
			cl := handlerClient(t, h, func(cfg *certain.Config) { cfg.PageSize = 2 })
			got, err := collectRegs(cl)
			if (c.wantErr == nil) != (err == nil) || (c.wantErr != nil && !errors.Is(err, c.wantErr)) {
				t.Fatalf("read %v, %v; want error %v", got, err, c.wantErr)
			}
			if len(got) != c.want {
				t.Errorf("read %d rows (%v), want %d", len(got), got, c.want)
			}
		})
	}
}

func TestTagsFieldAndShapes(t *testing.T) {
	for _, shape := range []string{certaintest.TagStrings, certaintest.TagObjects, certaintest.TagWrapped} {
		srv, c, _ := newPair(t, certaintest.WithTagShape(shape))
		srv.AddAgendaItem("ACME", "HS26", map[string]any{"activityCode": "W1", "tag": []string{"Security", "Cloud"}})
		items, err := collectAgenda(c)
		if err != nil || len(items) != 1 || !slices.Equal(items[0].Tags, []string{"Security", "Cloud"}) {
			t.Errorf("%s: items %+v, %v", shape, items, err)
		}
	}
	// A tenant whose tags are in "tags" read with the default "tag".
	srv, _, _ := newPair(t, certaintest.WithTagsField("tags"))
	srv.AddAgendaItem("ACME", "HS26", map[string]any{"activityCode": "W1", "tags": []string{"Security"}})
	cfg := srv.Config()
	cfg.Fields = certain.FieldNames{}
	c, err := certain.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = collectAgenda(c)
	if !errors.Is(err, certain.ErrContract) || !strings.Contains(err.Error(), "set certainFields.tagsField: tags") {
		t.Errorf("wrong tags field: %v", err)
	}
}

func TestDeleteProfileAndRegistration(t *testing.T) {
	srv, c, _ := newPair(t)
	srv.AddEvent("ACME", map[string]any{"eventCode": "HS26"})
	ctx := context.Background()
	p, err := c.CreateProfile(ctx, "ACME", map[string]any{"email": "probe@x.example"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateRegistration(ctx, "ACME", "HS26", certain.NewRegistration{PIN: p.PIN})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteProfile(ctx, "ACME", p.PIN); err == nil {
		t.Error("a registered profile was deleted")
	}
	if err := c.DeleteRegistration(ctx, "ACME", "HS26", r.Code); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteProfile(ctx, "ACME", p.PIN); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetProfile(ctx, "ACME", p.PIN); !certain.IsNotFound(err) {
		t.Errorf("deleted profile: %v", err)
	}
}

func TestCheckAccount(t *testing.T) {
	srv, c, _ := newPair(t)
	srv.AddProfile("ACME", map[string]any{"email": "a@x.example"})
	ctx := context.Background()
	if err := c.CheckAccount(ctx, "ACME"); err != nil {
		t.Errorf("known account: %v", err)
	}
	if err := c.CheckAccount(ctx, "ACMEE"); !errors.Is(err, certain.ErrNoAccount) || !strings.Contains(err.Error(), `"ACMEE"`) {
		t.Errorf("unknown account: %v", err)
	}
	// An account without a single profile (new, or events only) answers
	// 404 for its profiles like an unknown one, but has its API user.
	srv.AddAccount("EMPTY")
	srv.AddEvent("EVENTS", map[string]any{"eventCode": "E1"})
	for _, acct := range []string{"EMPTY", "EVENTS"} {
		if err := c.CheckAccount(ctx, acct); err != nil {
			t.Errorf("account %s without profiles: %v", acct, err)
		}
	}
	if n := srv.CountCalls("GET", "User/EMPTY"); n != 1 {
		t.Errorf("%d user reads for the empty account, want 1", n)
	}
	if n := srv.CountCalls("GET", "User/"); n != 3 {
		t.Errorf("%d user reads, want 3: none for the account with profiles, one for each other", n)
	}
}

func handlerClient(t *testing.T, h http.Handler, edit func(*certain.Config)) *certain.Client {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	cfg := certain.Config{BaseURL: ts.URL, AllowHTTP: true, Username: "u", Password: "p",
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}
	edit(&cfg)
	c, err := certain.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func collectRegs(c *certain.Client) ([]string, error) {
	var got []string
	for p, err := range c.RegistrationPages(context.Background(), "ACME", "HS26", certain.RegistrationQuery{}) {
		if err != nil {
			return got, err
		}
		for _, r := range p.Items {
			got = append(got, r.Code)
		}
	}
	return got, nil
}

func collectAgenda(c *certain.Client) ([]certain.AgendaItem, error) {
	var out []certain.AgendaItem
	for p, err := range c.AgendaItemPages(context.Background(), "ACME", "HS26") {
		if err != nil {
			return out, err
		}
		out = append(out, p.Items...)
	}
	return out, nil
}
