package certaintest_test

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
)

func newIndexClient(t *testing.T, srv *certaintest.Server) *certain.Client {
	t.Helper()
	c, err := certain.New(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pinsOf(ps []certain.Profile) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.PIN)
	}
	return out
}

func findPins(t *testing.T, c *certain.Client, field, value string) []string {
	t.Helper()
	ps, err := c.FindProfiles(context.Background(), "ACME", field, value)
	if err != nil {
		t.Fatalf("FindProfiles(%s=%q): %v", field, value, err)
	}
	return pinsOf(ps)
}

// An update that changes email and external id must move the profile in
// both indexes: the old values stop finding it, the new ones find it, and
// its registration still refuses a duplicate.
func TestIndexesFollowUpdates(t *testing.T) {
	ctx := context.Background()
	srv := certaintest.NewServer(t, certaintest.WithFieldNames(certain.FieldNames{ExternalID: "crmId"}))
	srv.AddEvent("ACME", map[string]any{"eventCode": "HS26"})
	c := newIndexClient(t, srv)

	p, err := c.CreateProfile(ctx, "ACME", map[string]any{"email": "Old@X.example", "crmId": "CRM-1"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := c.CreateProfile(ctx, "ACME", map[string]any{"email": "other@x.example", "crmId": "CRM-2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateRegistration(ctx, "ACME", "HS26", certain.NewRegistration{PIN: p.PIN}); err != nil {
		t.Fatal(err)
	}
	if got := findPins(t, c, "email", "old@x.EXAMPLE"); !slices.Equal(got, []string{p.PIN}) {
		t.Fatalf("before update, email search = %v, want [%s]", got, p.PIN)
	}

	if err := c.UpdateProfile(ctx, "ACME", p.PIN, map[string]any{"email": "new@x.example", "crmId": "CRM-9"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.CheckIndexes(); err != nil {
		t.Errorf("after update: %v", err)
	}
	for _, tc := range []struct {
		field, value string
		want         []string
	}{
		{"email", "Old@X.example", nil},
		{"email", "NEW@x.example", []string{p.PIN}},
		{"crmId", "CRM-1", nil},
		{"crmId", "CRM-9", []string{p.PIN}},
		{"crmId", "crm-9", nil}, // the external id is matched exactly
		{"crmId", "CRM-2", []string{other.PIN}},
		{"email", "other@x.example", []string{other.PIN}},
	} {
		if got := findPins(t, c, tc.field, tc.value); !slices.Equal(got, tc.want) {
			t.Errorf("after update, %s=%q finds %v, want %v", tc.field, tc.value, got, tc.want)
		}
	}
	_, err = c.CreateRegistration(ctx, "ACME", "HS26", certain.NewRegistration{PIN: p.PIN})
	if err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("second registration of %s: err = %v, want already registered", p.PIN, err)
	}

	// Re-seeding a pin replaces the profile, and its old values with it.
	srv.AddProfile("ACME", map[string]any{"pin": p.PIN, "email": "seeded@x.example"})
	if got := findPins(t, c, "email", "new@x.example"); len(got) != 0 {
		t.Errorf("re-seeded profile still found by its old email: %v", got)
	}
	if got := findPins(t, c, "crmId", "CRM-9"); len(got) != 0 {
		t.Errorf("re-seeded profile still found by its old external id: %v", got)
	}
	if err := srv.CheckIndexes(); err != nil {
		t.Errorf("after re-seeding a profile: %v", err)
	}
	if got := findPins(t, c, "email", "SEEDED@x.example"); !slices.Equal(got, []string{p.PIN}) {
		t.Errorf("re-seeded profile by its new email: %v, want [%s]", got, p.PIN)
	}

	// Re-seeding a registration code for another pin frees the first pin
	// and registers the second.
	regs := srv.Registrations("ACME", "HS26")
	if len(regs) != 1 {
		t.Fatalf("registrations = %d, want 1", len(regs))
	}
	code := regs[0]["registrationCode"].(string)
	srv.AddRegistration("ACME", "HS26", other.PIN, map[string]any{"registrationCode": code})
	if err := srv.CheckIndexes(); err != nil {
		t.Errorf("after re-seeding a registration: %v", err)
	}
	if _, err := c.CreateRegistration(ctx, "ACME", "HS26", certain.NewRegistration{PIN: other.PIN}); err == nil || !strings.Contains(err.Error(), code) {
		t.Errorf("registering %s again: err = %v, want already registered as %s", other.PIN, err, code)
	}
	if _, err := c.CreateRegistration(ctx, "ACME", "HS26", certain.NewRegistration{PIN: p.PIN}); err != nil {
		t.Errorf("registering %s after its registration was re-seeded to another pin: %v", p.PIN, err)
	}
}

// scanFind is the reference the indexes must agree with: every profile
// whose field matches (email ignoring case, others exactly), by
// dateModified and then creation order.
func scanFind(profiles []map[string]any, field, value string) []string {
	type hit struct {
		pin, modified string
		ord           int
	}
	var hits []hit
	for i, p := range profiles {
		got, ok := p[field].(string)
		if !ok || !(got == value || field == "email" && strings.EqualFold(got, value)) {
			continue
		}
		hits = append(hits, hit{p["pin"].(string), p["dateModified"].(string), i})
	}
	slices.SortFunc(hits, func(a, b hit) int {
		return cmp.Or(cmp.Compare(a.modified, b.modified), cmp.Compare(a.ord, b.ord))
	})
	out := make([]string, 0, len(hits))
	for _, h := range hits {
		out = append(out, h.pin)
	}
	return out
}

// Random creates, updates and re-seeds over a small pool of values (with
// case variants, the Kelvin sign and the long s, which fold to ASCII) must
// leave every search answering what a full scan answers.
func TestIndexedSearchMatchesScan(t *testing.T) {
	ctx := context.Background()
	clk := certaintest.NewClock(time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC))
	srv := certaintest.NewServer(t, certaintest.WithClock(clk.Now))
	srv.AddAccount("ACME")
	c := newIndexClient(t, srv)
	ext := srv.Fields().ExternalID
	emails := []string{"kim@x.example", "KIM@x.example", "\u212aim@x.example", "sue@x.example", "\u017fue@x.example", "SUE@X.EXAMPLE", "zoë@x.example", "ZOË@x.example", "ann@x.example"}
	ids := []string{"E-1", "e-1", "E-2", "E-3"}
	rng := rand.New(rand.NewPCG(1, 2))
	var pins []string
	for step := range 120 {
		if rng.IntN(3) == 0 {
			clk.Advance(time.Second) // otherwise ties: creation order decides
		}
		fields := map[string]any{"email": emails[rng.IntN(len(emails))]}
		if rng.IntN(4) != 0 {
			fields[ext] = ids[rng.IntN(len(ids))]
		}
		switch op := rng.IntN(4); {
		case op == 0 || len(pins) == 0:
			p, err := c.CreateProfile(ctx, "ACME", fields)
			if err != nil {
				t.Fatal(err)
			}
			pins = append(pins, p.PIN)
		case op == 1:
			fields["pin"] = pins[rng.IntN(len(pins))]
			srv.AddProfile("ACME", fields)
		default:
			if err := c.UpdateProfile(ctx, "ACME", pins[rng.IntN(len(pins))], fields); err != nil {
				t.Fatal(err)
			}
		}
		if step%10 != 9 {
			continue
		}
		if err := srv.CheckIndexes(); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		all := srv.Profiles("ACME")
		for _, q := range append(slices.Clone(emails), ids...) {
			field := "email"
			if !strings.Contains(q, "@") {
				field = ext
			}
			want := scanFind(all, field, q)
			if got := findPins(t, c, field, q); !slices.Equal(got, want) {
				t.Fatalf("step %d: %s=%q finds %v, a scan finds %v", step, field, q, got, want)
			}
		}
	}
	if n := len(scanFind(srv.Profiles("ACME"), "email", "kim@x.example")); n == 0 {
		t.Errorf("the run never left a kim profile to find (%d profiles); the test checked nothing interesting", len(pins))
	}
}

// Pages of one query are served from a cached selection; any write between
// two pages must show in the next one.
func TestPagedSelectionSeesWrites(t *testing.T) {
	clk := certaintest.NewClock(time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC))
	srv := certaintest.NewServer(t, certaintest.WithPageSizeCap(2), certaintest.WithClock(clk.Now))
	srv.AddEvent("ACME", map[string]any{"eventCode": "HS26"})
	var codes []string
	for range 3 {
		pin := srv.AddProfile("ACME", map[string]any{"email": "a@x.example"})
		codes = append(codes, srv.AddRegistration("ACME", "HS26", pin, nil))
	}
	base := "/certainExternal/service/v1/Registration/ACME/HS26?isActive=true&orderBy=dateModified_asc&start_index="
	u, p := srv.Username(), srv.Password()
	if code, env := get(t, srv, base+"0", u, p); code != 200 || env["completeCollectionSize"].(float64) != 3 {
		t.Fatalf("first page: %d %v, want 3 active", code, env)
	}
	srv.AddRegistration("ACME", "HS26", srv.AddProfile("ACME", nil), map[string]any{"isActive": false})
	srv.AddRegistration("ACME", "HS26", srv.AddProfile("ACME", nil), nil)
	code, env := get(t, srv, base+"2", u, p)
	if code != 200 || env["completeCollectionSize"].(float64) != 4 || env["size"].(float64) != 2 {
		t.Fatalf("second page after two creates: %d %v, want 4 active, 2 on the page", code, env)
	}
	clk.Advance(time.Minute)
	srv.SetRegistrationStatus("ACME", "HS26", codes[0], "Cancelled") // moves it to the end (newest dateModified)
	_, env = get(t, srv, base+"2", u, p)
	regs := env["registrations"].([]any)
	if last := regs[len(regs)-1].(map[string]any)["registrationCode"]; last != codes[0] {
		t.Errorf("after a status change the last row is %v, want %s", last, codes[0])
	}
}
