package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// The import tests drive the real executor, the real Marketo and Certain
// clients, the two simulators and the embedded store.

const (
	acct   = "ACME"
	event  = "HS26"
	listID = 2044
)

type importEnv struct {
	*jobstest.Env
	mk *marketotest.Server
	ce *certaintest.Server
	st store.Store
}

func newImportEnv(t testing.TB, opts ...jobstest.Option) *importEnv {
	t.Helper()
	env := jobstest.New(t, append([]jobstest.Option{
		jobstest.WithFunc(config.TypeImportLeads, jobs.ImportLeads),
		jobstest.WithFunc(config.TypeImportProfiles, jobs.ImportProfiles),
		jobstest.WithConnection(func(c *config.Connection) {
			// A registration mapping must not leak into profiles.
			c.FieldMapping = append(c.FieldMapping, config.FieldMap{Certain: "registration.attendeeTypeCode", Marketo: "certainAttendeeType"})
		}),
	}, opts...)...)
	env.Certain.AddEvent(acct, map[string]any{"eventCode": event, "eventName": "Summit 26"})
	return &importEnv{Env: env, mk: env.Marketo, ce: env.Certain, st: env.Store}
}

// stopAfterRegistrations makes the next runs stop, as at their soft
// deadline, once the event has n registrations: a deadline that falls in
// the middle of a page. n <= 0 removes it.
func (e *importEnv) stopAfterRegistrations(n int) {
	if n <= 0 {
		e.InterruptWhen(nil)
		return
	}
	e.InterruptWhen(func(string) bool { return e.ce.CountCalls("POST", "Registration/"+acct+"/"+event) >= n })
}

func leadsJob(list int) config.Job {
	return config.Job{ID: "import-hs26", Account: acct, Event: event, Type: config.TypeImportLeads, Name: "Import", Enabled: true,
		Schedule: config.Schedule{Interval: config.Duration(time.Hour)},
		Params:   config.Params{ListID: list, RegistrationStatus: "invited", AttendeeType: "ATT"}}
}

// run runs a job now under a 10-minute deadline and returns its run record.
func (e *importEnv) run(t testing.TB, jobID string) store.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r := e.RunJob(t, ctx, jobID)
	e.Clock.Advance(time.Second) // the next run starts after this one
	return r
}

// addLeads seeds n leads (lead i has email lead<i>@example.com) and puts
// them in the list; it returns their ids.
func (e *importEnv) addLeads(n int) []int {
	ids := make([]int, n)
	for i := range n {
		ids[i] = e.mk.AddLead(marketo.Lead{"email": fmt.Sprintf("lead%05d@example.com", i), "firstName": fmt.Sprintf("F%d", i),
			"lastName": "Imported", "company": "Northwind", "city": "Lyon"})
	}
	e.mk.AddList(listID, "Summit invitees", ids)
	return ids
}

func outcomes(t testing.TB, s store.Store, runID, kind string) []store.RecordOutcome {
	t.Helper()
	o, err := s.ListOutcomes(context.Background(), runID, kind)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// registeredPins returns pin -> number of active registrations.
func (e *importEnv) registeredPins() map[string]int {
	out := map[string]int{}
	for _, r := range e.ce.Registrations(acct, event) {
		p, _ := r["profile"].(map[string]any)
		pin, _ := p["pin"].(string)
		out[pin]++
	}
	return out
}

// profilesByExternalID returns lead id -> number of profiles carrying it.
func (e *importEnv) profilesByExternalID() map[string]int {
	out := map[string]int{}
	for _, p := range e.ce.Profiles(acct) {
		if ext, _ := p["externalKey"].(string); ext != "" {
			out[ext]++
		}
	}
	return out
}

// assertEachLeadOnce checks that every lead has exactly one profile carrying
// its id and that profile is registered exactly once, and that no pin has
// two registrations.
func (e *importEnv) assertEachLeadOnce(t *testing.T, ids []int) {
	t.Helper()
	regs := e.registeredPins()
	for pin, n := range regs {
		if n != 1 {
			t.Errorf("profile %s has %d registrations", pin, n)
		}
	}
	byExt := map[string][]string{}
	for _, p := range e.ce.Profiles(acct) {
		ext, _ := p["externalKey"].(string)
		pin, _ := p["pin"].(string)
		byExt[ext] = append(byExt[ext], pin)
	}
	for _, id := range ids {
		pins := byExt[fmt.Sprint(id)]
		if len(pins) != 1 {
			t.Errorf("lead %d: %d profiles carry its id", id, len(pins))
			continue
		}
		if regs[pins[0]] != 1 {
			t.Errorf("lead %d: profile %s has %d registrations", id, pins[0], regs[pins[0]])
		}
	}
	if len(regs) != len(ids) {
		t.Errorf("%d registrations for %d leads", len(regs), len(ids))
	}
}

func TestImportLeadsMatchesByIDAndEmailAndCreatesMappedProfile(t *testing.T) {
	e := newImportEnv(t)
	byID := e.mk.AddLead(marketo.Lead{"email": "old@example.com", "firstName": "Ida"})
	byEmail := e.mk.AddLead(marketo.Lead{"email": "Lena.Ortiz@Example.NET", "firstName": "Lena"})
	fresh := e.mk.AddLead(marketo.Lead{"email": "max@example.org", "firstName": "Max", "lastName": "Rohr", "company": "Contoso",
		"city": "Basel", "certainAttendeeType": "VIP"})
	e.mk.AddList(listID, "invitees", []int{byID, byEmail, fresh})
	// The profile matched by id has another email: the id wins.
	pinID := e.ce.AddProfile(acct, map[string]any{"email": "ida.new@example.com", "externalKey": fmt.Sprint(byID), "sourceOfProfile": "Marketo"})
	// A profile with the same id but another source is not a Marketo match.
	e.ce.AddProfile(acct, map[string]any{"email": "someone@example.com", "externalKey": fmt.Sprint(byEmail), "sourceOfProfile": "Import"})
	pinEmail := e.ce.AddProfile(acct, map[string]any{"email": "lena.ortiz@example.net", "firstName": "Lena"})
	e.PutJob(t, leadsJob(listID))

	r := e.run(t, "import-hs26")
	if r.Outcome != store.RunSucceeded {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Error)
	}
	want := map[string]int{"created": 3, jobs.CountRegistrationsCreated: 3, jobs.CountProfilesMatchedByID: 1,
		jobs.CountProfilesMatchedByEmail: 1, jobs.CountProfilesLinked: 1, jobs.CountProfilesCreated: 1, jobs.CountListPages: 1}
	for k, v := range want {
		if r.Counts[k] != v {
			t.Errorf("count %s = %d, want %d (all: %v)", k, r.Counts[k], v, r.Counts)
		}
	}
	profiles := map[string]map[string]any{}
	for _, p := range e.ce.Profiles(acct) {
		profiles[p["pin"].(string)] = p
	}
	if p := profiles[pinEmail]; p["externalKey"] != fmt.Sprint(byEmail) || p["sourceOfProfile"] != "Marketo" {
		t.Errorf("profile matched by email not linked: %v", p)
	}
	if p := profiles[pinID]; p["email"] != "ida.new@example.com" {
		t.Errorf("profile matched by id was changed: %v", p)
	}
	var created map[string]any
	for _, p := range profiles {
		if p["externalKey"] == fmt.Sprint(fresh) {
			created = p
		}
	}
	if created == nil {
		t.Fatal("no profile created for the new lead")
	}
	addr, _ := created["address"].(map[string]any)
	if created["firstName"] != "Max" || created["lastName"] != "Rohr" || created["organization"] != "Contoso" ||
		addr["city"] != "Basel" || created["email"] != "max@example.org" || created["sourceOfProfile"] != "Marketo" {
		t.Errorf("created profile fields: %v", created)
	}
	if _, ok := created["attendeeTypeCode"]; ok {
		t.Errorf("a registration mapping leaked into the profile: %v", created)
	}
	regs := e.ce.Registrations(acct, event)
	if len(regs) != 3 {
		t.Fatalf("%d registrations, want 3", len(regs))
	}
	pins := map[string]bool{}
	for _, reg := range regs {
		if reg["registrationStatusLabel"] != "Invited" || reg["attendeeTypeCode"] != "ATT" {
			t.Errorf("registration status/type: %v / %v", reg["registrationStatusLabel"], reg["attendeeTypeCode"])
		}
		pins[reg["profile"].(map[string]any)["pin"].(string)] = true
	}
	if !pins[pinID] || !pins[pinEmail] {
		t.Errorf("registered pins %v, want %s and %s among them", pins, pinID, pinEmail)
	}
}

func TestImportLeadsRerunCreatesNothing(t *testing.T) {
	e := newImportEnv(t)
	ids := e.addLeads(40)
	// One lead is already registered before the first run.
	pin := e.ce.AddProfile(acct, map[string]any{"email": "LEAD00003@example.com"})
	e.ce.AddRegistration(acct, event, pin, map[string]any{"registrationStatusLabel": "Pre-Registered"})
	e.PutJob(t, leadsJob(listID))

	first := e.run(t, "import-hs26")
	if first.Outcome != store.RunSucceeded || first.Counts[jobs.CountRegistrationsCreated] != 39 || first.Counts[jobs.CountAlreadyRegistered] != 1 {
		t.Fatalf("first run: %s %v %s", first.Outcome, first.Counts, first.Error)
	}
	profilesBefore := len(e.ce.Profiles(acct))
	postsBefore, getsBefore := e.ce.CountCalls("POST", ""), e.ce.CountCalls("GET", "Profile")
	second := e.run(t, "import-hs26")
	if second.Outcome != store.RunSucceeded || second.Counts[jobs.CountRegistrationsCreated] != 0 || second.Counts[jobs.CountAlreadyRegistered] != 40 {
		t.Fatalf("second run: %s %v %s", second.Outcome, second.Counts, second.Error)
	}
	if n := e.ce.CountCalls("POST", "") - postsBefore; n != 0 {
		t.Errorf("re-run wrote %d times to Certain", n)
	}
	if n := e.ce.CountCalls("GET", "Profile") - getsBefore; n != 0 {
		t.Errorf("re-run searched profiles %d times; the registration index should answer", n)
	}
	if len(e.ce.Profiles(acct)) != profilesBefore {
		t.Errorf("re-run created profiles")
	}
	// Every lead except the pre-registered one (matched by email, linked) has its profile.
	e.assertEachLeadOnce(t, ids)
}

func TestImportLeadsSharedEmailAndLeadsWithoutEmail(t *testing.T) {
	e := newImportEnv(t)
	a := e.mk.AddLead(marketo.Lead{"email": "twin@example.com", "firstName": "A"})
	b := e.mk.AddLead(marketo.Lead{"email": "TWIN@example.com", "firstName": "B"})
	none := e.mk.AddLead(marketo.Lead{"firstName": "NoMail"})
	bad := e.mk.AddLead(marketo.Lead{"email": "not an email", "firstName": "Bad"})
	ok := e.mk.AddLead(marketo.Lead{"email": "ok@example.com"})
	e.mk.AddList(listID, "invitees", []int{a, b, none, bad, ok})
	e.PutJob(t, leadsJob(listID))

	r := e.run(t, "import-hs26")
	if r.Outcome != store.RunSucceeded {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Error)
	}
	if len(e.ce.Registrations(acct, event)) != 2 || len(e.ce.Profiles(acct)) != 2 {
		t.Fatalf("%d registrations, %d profiles; want 2 and 2 (one shared by the twins)",
			len(e.ce.Registrations(acct, event)), len(e.ce.Profiles(acct)))
	}
	if r.Counts[jobs.CountAlreadyRegistered] != 1 || r.Counts["skipped"] != 2 || r.Counts[jobs.CountRegistrationsCreated] != 2 {
		t.Errorf("counts %v", r.Counts)
	}
	skipped := outcomes(t, e.st, r.ID, store.OutcomeSkipped)
	reasons := map[string]string{}
	for _, o := range skipped {
		reasons[o.Key] = o.Reason
	}
	if !strings.Contains(reasons[fmt.Sprint(none)], "no email") || !strings.Contains(reasons[fmt.Sprint(bad)], "not an address") {
		t.Errorf("skip reasons %v", reasons)
	}
	// Re-running changes nothing.
	r2 := e.run(t, "import-hs26")
	if len(e.ce.Registrations(acct, event)) != 2 || r2.Counts[jobs.CountRegistrationsCreated] != 0 || r2.Counts["failed"] != 0 {
		t.Errorf("re-run: %d registrations, counts %v", len(e.ce.Registrations(acct, event)), r2.Counts)
	}
}

func TestImportLeadsUnknownListIsConfigError(t *testing.T) {
	e := newImportEnv(t)
	e.addLeads(3)
	e.PutJob(t, leadsJob(9999))
	r := e.run(t, "import-hs26")
	if r.Outcome != store.RunFailed || !strings.Contains(r.Error, "static list 9999 does not exist") {
		t.Fatalf("outcome %s, error %q", r.Outcome, r.Error)
	}
	if !strings.Contains(r.Error, jobs.ErrConfig.Error()) {
		t.Errorf("error is not marked as a configuration error: %q", r.Error)
	}
	if n := e.ce.CountCalls("POST", ""); n != 0 {
		t.Errorf("%d Certain writes before the list was known", n)
	}
}

func TestImportLeadsUnknownEventIsConfigError(t *testing.T) {
	e := newImportEnv(t)
	e.addLeads(3)
	j := leadsJob(listID)
	j.Event = "NOPE"
	e.PutJob(t, j)
	r := e.run(t, j.ID)
	if r.Outcome != store.RunFailed || !strings.Contains(r.Error, `event "NOPE" not found`) {
		t.Fatalf("outcome %s, error %q", r.Outcome, r.Error)
	}
	if n := e.mk.CountPath("/rest/v1/lists/*/leads.json"); n != 0 {
		t.Errorf("the list was read although the event does not exist")
	}
}

func checkpointOf(t *testing.T, s store.Store, jobID string) (store.Checkpoint, map[string]any) {
	t.Helper()
	cp, err := s.GetCheckpoint(context.Background(), jobID)
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(cp.Data, &m); err != nil {
		t.Fatal(err)
	}
	return cp, m
}

// TestImportLeadsDeadlineMidPageResumes: a run cut in the middle of the
// second page checkpoints the page token and position; the next run ends
// with every lead registered exactly once.
func TestImportLeadsDeadlineMidPageResumes(t *testing.T) {
	t.Run("memstore", func(t *testing.T) { testDeadlineMidPage(t, newImportEnv(t)) })
	t.Run("dynamodb", func(t *testing.T) { testDeadlineMidPage(t, newImportEnv(t, jobstest.WithDynamo())) })
}

func testDeadlineMidPage(t *testing.T, e *importEnv) {
	ids := e.addLeads(400) // pages of 300 and 100
	e.PutJob(t, leadsJob(listID))

	e.stopAfterRegistrations(340)
	r1 := e.run(t, "import-hs26")
	if r1.Outcome != store.RunCheckpointed {
		t.Fatalf("first run: %s %s", r1.Outcome, r1.Error)
	}
	_, cp := checkpointOf(t, e.st, "import-hs26")
	pos, _ := cp["pos"].(float64)
	if tok, _ := cp["pageToken"].(string); tok == "" || pos <= 0 || pos >= 100 || cp["pages"] != 1.0 {
		t.Fatalf("checkpoint %v: want page 2 with a token and a position inside it", cp)
	}
	if got := r1.Counts[jobs.CountRegistrationsCreated]; got != 300+int(pos) {
		t.Errorf("first run registered %d, checkpoint says %d done", got, 300+int(pos))
	}

	e.stopAfterRegistrations(0)
	r2 := e.run(t, "import-hs26")
	if r2.Outcome != store.RunSucceeded || r2.Trigger != "continuation" {
		t.Fatalf("second run: %s (%s) %s", r2.Outcome, r2.Trigger, r2.Error)
	}
	if got := r1.Counts[jobs.CountRegistrationsCreated] + r2.Counts[jobs.CountRegistrationsCreated]; got != 400 {
		t.Errorf("registrations created over both runs = %d, want 400", got)
	}
	if r2.Counts[jobs.CountAlreadyRegistered] != 0 {
		t.Errorf("resume re-handled %d done leads", r2.Counts[jobs.CountAlreadyRegistered])
	}
	if _, err := e.st.GetCheckpoint(context.Background(), "import-hs26"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("checkpoint left after the finished run: %v", err)
	}
	e.assertEachLeadOnce(t, ids)
}

// TestImportLeadsCrashAfterWritesBeforeCheckpoint: Certain writes landed but
// the checkpoint that covers them did not (the process died). The next run
// repeats those leads and must neither register nor create anything twice.
func TestImportLeadsCrashAfterWritesBeforeCheckpoint(t *testing.T) {
	e := newImportEnv(t)
	ids := e.addLeads(400)
	e.PutJob(t, leadsJob(listID))
	e.stopAfterRegistrations(330)
	r1 := e.run(t, "import-hs26")
	if r1.Outcome != store.RunCheckpointed {
		t.Fatalf("first run: %s %s", r1.Outcome, r1.Error)
	}
	// Lose every checkpoint: the next run starts from the first page.
	cp, _ := checkpointOf(t, e.st, "import-hs26")
	if err := e.st.DeleteCheckpoint(context.Background(), "import-hs26", cp.Version); err != nil {
		t.Fatal(err)
	}
	e.stopAfterRegistrations(0)
	r2 := e.run(t, "import-hs26")
	if r2.Outcome != store.RunSucceeded {
		t.Fatalf("second run: %s %s", r2.Outcome, r2.Error)
	}
	done := r1.Counts[jobs.CountRegistrationsCreated]
	if r2.Counts[jobs.CountAlreadyRegistered] != done || r2.Counts[jobs.CountRegistrationsCreated] != 400-done ||
		r2.Counts[jobs.CountProfilesCreated] != 400-done || r2.Counts["failed"] != 0 {
		t.Errorf("second run counts %v after %d registered by the first", r2.Counts, done)
	}
	e.assertEachLeadOnce(t, ids)
	if n := len(e.ce.Profiles(acct)); n != 400 {
		t.Errorf("%d profiles for 400 leads", n)
	}
}

func TestImportProfilesCreatesNoRegistrations(t *testing.T) {
	e := newImportEnv(t)
	known := e.mk.AddLead(marketo.Lead{"email": "known@example.com"})
	blank := e.mk.AddLead(marketo.Lead{"email": "Blank@Example.com"})
	fresh := e.mk.AddLead(marketo.Lead{"email": "fresh@example.com", "firstName": "Fresh", "city": "Oslo"})
	e.mk.AddList(listID, "all", []int{known, blank, fresh})
	e.ce.AddProfile(acct, map[string]any{"email": "known@example.com", "externalKey": fmt.Sprint(known), "sourceOfProfile": "Marketo"})
	pinBlank := e.ce.AddProfile(acct, map[string]any{"email": "blank@example.com"})
	j := config.Job{ID: "acme-profiles", Account: acct, Type: config.TypeImportProfiles, Name: "Profiles", Enabled: true,
		Schedule: config.Schedule{Interval: config.Duration(time.Hour)},
		Params:   config.Params{ListID: listID}}
	e.PutJob(t, j)

	r := e.run(t, j.ID)
	if r.Outcome != store.RunSucceeded {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Error)
	}
	want := map[string]int{"created": 1, "updated": 1, "unchanged": 1, jobs.CountProfilesCreated: 1,
		jobs.CountProfilesMatchedByID: 1, jobs.CountProfilesMatchedByEmail: 1, jobs.CountProfilesLinked: 1}
	for k, v := range want {
		if r.Counts[k] != v {
			t.Errorf("count %s = %d, want %d (%v)", k, r.Counts[k], v, r.Counts)
		}
	}
	if r.Counts[jobs.CountRegistrationsCreated] != 0 || e.ce.CountCalls("", "Registration") != 0 || e.ce.CountCalls("", "Event") != 0 {
		t.Errorf("the profiles job touched registrations or events")
	}
	ext := e.profilesByExternalID()
	for _, id := range []int{known, blank, fresh} {
		if ext[fmt.Sprint(id)] != 1 {
			t.Errorf("lead %d: %d profiles carry its id", id, ext[fmt.Sprint(id)])
		}
	}
	for _, p := range e.ce.Profiles(acct) {
		if p["pin"] == pinBlank && p["sourceOfProfile"] != "Marketo" {
			t.Errorf("email-matched profile not linked: %v", p)
		}
	}
}
