package demodata

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
)

func TestDeterministic(t *testing.T) {
	a := Generate(Options{Seed: 7, Registrations: 2000})
	b := Generate(Options{Seed: 7, Registrations: 2000})
	c := Generate(Options{Seed: 8, Registrations: 2000})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different data sets")
	}
	if reflect.DeepEqual(a.Registrations, c.Registrations) {
		t.Fatal("different seeds gave the same registrations")
	}
}

func TestDistributions(t *testing.T) {
	d := Generate(Options{Seed: 1, Registrations: 5000})
	if len(d.Registrations) != 5000 {
		t.Fatalf("%d registrations", len(d.Registrations))
	}
	status := map[string]int{}
	inactive, incomplete := 0, 0
	perEvent := map[string]map[string]bool{}
	for _, r := range d.Registrations {
		status[r.Status]++
		if !r.Active {
			inactive++
		}
		if !r.Complete {
			incomplete++
		}
		if perEvent[r.Event] == nil {
			perEvent[r.Event] = map[string]bool{}
		}
		if perEvent[r.Event][r.PIN] {
			t.Errorf("profile %s registered twice for %s", r.PIN, r.Event)
		}
		perEvent[r.Event][r.PIN] = true
	}
	for _, s := range Statuses() {
		if status[s] == 0 {
			t.Errorf("no registration with status %q", s)
		}
	}
	if inactive < 50 || inactive > 300 || incomplete < 200 || incomplete > 600 {
		t.Errorf("inactive %d (want ~3%%), incomplete %d (want ~8%%)", inactive, incomplete)
	}
	both := 0
	for pin := range perEvent["HS26"] {
		if perEvent["WS26"][pin] {
			both++
		}
	}
	if both == 0 {
		t.Error("no profile registered for both events")
	}
	src := map[string]int{}
	caseDup, blank := 0, 0
	lower := map[string]int{}
	for _, p := range d.Profiles {
		src[p.Source]++
		lower[strings.ToLower(p.Email)]++
		if p.Organization == "" {
			blank++
		}
	}
	for _, n := range lower {
		if n > 1 {
			caseDup++
		}
	}
	if src["Marketo"] == 0 || src["Import"] == 0 || src["Salesforce"] == 0 || src[""] == 0 || caseDup == 0 || blank == 0 {
		t.Errorf("sources %v, case duplicates %d, blank %d: every case must occur", src, caseDup, blank)
	}
	apptSrc := map[string]int{}
	oneSided, twoSided := 0, 0
	for _, a := range d.Appointments {
		apptSrc[a.Source]++
		if (a.Rating[0] > 0) != (a.Rating[1] > 0) {
			oneSided++
		}
		if a.Rating[0] > 0 && a.Rating[1] > 0 {
			twoSided++
		}
	}
	if apptSrc["SSA"] == 0 || apptSrc["AME"] == 0 || oneSided == 0 || twoSided == 0 {
		t.Errorf("appointments: sources %v, one-sided %d, two-sided %d", apptSrc, oneSided, twoSided)
	}
	agenda := map[string]int{}
	for _, l := range d.AgendaLines {
		agenda[l.Status]++
	}
	if agenda["REGISTERED"] == 0 || agenda["ATTENDED"] == 0 || agenda["CANCELLED"] == 0 {
		t.Errorf("agenda statuses %v", agenda)
	}
	emails := map[string]int{}
	ids := map[int]bool{}
	for _, l := range d.Marketo.Leads {
		emails[l.Email]++
		if ids[l.ID] {
			t.Errorf("lead id %d twice", l.ID)
		}
		ids[l.ID] = true
	}
	shared := 0
	for _, n := range emails {
		if n > 1 {
			shared++
		}
	}
	if shared == 0 || len(d.Marketo.List.LeadIDs) == 0 || len(d.Marketo.CustomObjects) != 2 {
		t.Errorf("marketo: %d shared emails, list %d, %d custom objects", shared, len(d.Marketo.List.LeadIDs), len(d.Marketo.CustomObjects))
	}
	for _, id := range d.Marketo.List.LeadIDs {
		if !ids[id] {
			t.Errorf("list lead %d is not a lead", id)
		}
	}
}

// A large data set has exactly the registrations asked for. How long it
// takes is a measurement (logged here, and in make bench), never a test
// limit: the machine's load decides wall time.
func TestLargeHasWhatWasAsked(t *testing.T) {
	start := time.Now()
	d := Generate(Options{Seed: 3, Registrations: 100000})
	if len(d.Registrations) != 100000 {
		t.Fatalf("%d registrations", len(d.Registrations))
	}
	t.Logf("generated 100,000 registrations in %v", time.Since(start))
}

func TestDemoSeedsCertain(t *testing.T) {
	d := Demo()
	srv := certaintest.NewServer(t)
	if err := d.SeedCertain(srv); err != nil {
		t.Fatal(err)
	}
	c, err := certain.New(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for p, err := range c.RegistrationPages(context.Background(), "ACME", "HS26", certain.RegistrationQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		n += len(p.Items)
	}
	want := 0
	for _, r := range d.Registrations {
		if r.Event == "HS26" {
			want++
		}
	}
	if n != want || n < 150 {
		t.Errorf("read %d HS26 registrations through the client, want %d", n, want)
	}
}

// The profiles answer the typed questions in Certain's forms, a few with an
// answer no boolean fits, and the demo connection maps them to the typed
// lead fields the Marketo seed declares.
func TestTypedAnswers(t *testing.T) {
	d := Demo()
	unfit, answered := 0, 0
	for _, p := range d.Profiles {
		if p.Answers.AttendedBefore == UnfitAnswer {
			unfit++
		}
		if p.Answers.MemberSince != "" && p.Answers.LastWebinarAt != "" && p.Answers.SessionsPlanned != "" && p.Answers.EngagementIndex != "" {
			answered++
		}
		if _, err := time.Parse(time.DateTime, p.Answers.LastWebinarAt); p.Answers.LastWebinarAt != "" && err != nil {
			t.Errorf("lastWebinarAt %q", p.Answers.LastWebinarAt)
		}
	}
	if unfit == 0 || unfit > len(d.Profiles)/50 || answered == 0 {
		t.Errorf("%d unfit, %d fully answered of %d profiles", unfit, answered, len(d.Profiles))
	}
	conn := DemoConnection(d, "http://127.0.0.1:1", certain.Defaults())
	if err := conn.Validate(); err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, f := range TypedLeadFields() {
		types[f.Name] = f.DataType
	}
	for _, want := range []string{"boolean", "date", "datetime", "integer", "float"} {
		found := false
		for _, m := range conn.FieldMapping {
			found = found || types[m.Marketo] == want
		}
		if !found {
			t.Errorf("no mapping into a %s lead field", want)
		}
	}
}
