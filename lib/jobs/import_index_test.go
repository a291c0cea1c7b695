package jobs_test

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// profileReads counts the import's two kinds of profile reads: searches
// (a filter in the query) and pages of the whole collection.
func (e *importEnv) profileReads() (searches, pages int) {
	for _, c := range e.ce.Calls() {
		if c.Method != "GET" || !strings.HasSuffix(c.Path, "/Profile/"+acct) {
			continue
		}
		if strings.Contains(c.Query, "externalKey=") || strings.Contains(c.Query, "email=") {
			searches++
		} else {
			pages++
		}
	}
	return searches, pages
}

// seedMatchCases seeds every way a lead can meet a profile, plus filler
// profiles, and returns the list's lead ids.
func seedMatchCases(e *importEnv, filler int) []int {
	lead := func(email string) int { return e.mk.AddLead(marketo.Lead{"email": email, "firstName": "F"}) }
	add := func(f map[string]any) string {
		e.Clock.Advance(time.Second)
		return e.ce.AddProfile(acct, f)
	}
	byID, blankSrc, held, foreign, stale, reg := lead("byid@example.com"), lead("blanksrc@example.com"), lead("held@example.com"),
		lead("foreign@example.com"), lead("Stale@Example.com"), lead("reg@example.com")
	shared, mixed, fresh, caps, noMail := lead("Shared@Example.com"), lead("Mixed@Example.org"), lead("new@example.com"),
		lead("New.Caps@Example.com"), e.mk.AddLead(marketo.Lead{"firstName": "NoMail"})
	// Two profiles share an e-mail in different cases; the one inserted
	// first is modified last, so Certain's dateModified order is not
	// insertion order: the lead takes the other one.
	first := add(map[string]any{"email": "shared@example.com", "firstName": "Older"})
	add(map[string]any{"email": "SHARED@example.com", "firstName": "Newer"})
	add(map[string]any{"email": "someone@example.com", "externalKey": fmt.Sprint(byID), "sourceOfProfile": "Marketo"})
	add(map[string]any{"email": "byid.other@example.com", "externalKey": fmt.Sprint(byID)}) // blank source, newer: not taken
	add(map[string]any{"email": "blank.other@example.com", "externalKey": fmt.Sprint(blankSrc)})
	add(map[string]any{"email": "imp@example.com", "externalKey": fmt.Sprint(held), "sourceOfProfile": "Import"})
	add(map[string]any{"email": "held@example.com"}) // held's e-mail: linked
	add(map[string]any{"email": "sf@example.com", "externalKey": fmt.Sprint(foreign), "sourceOfProfile": "Salesforce"})
	add(map[string]any{"email": "stale@example.com", "externalKey": "999999", "sourceOfProfile": "Marketo"})
	pinReg := add(map[string]any{"email": "reg@example.com", "externalKey": fmt.Sprint(reg), "sourceOfProfile": "Marketo"})
	e.ce.AddRegistration(acct, event, pinReg, map[string]any{"registrationStatusLabel": "Invited"})
	add(map[string]any{"email": "mixed@EXAMPLE.org", "externalKey": "", "sourceOfProfile": ""})
	for i := range filler {
		e.ce.AddProfile(acct, map[string]any{"email": fmt.Sprintf("filler%03d@example.net", i)})
	}
	e.Clock.Advance(time.Second)
	e.ce.AddProfile(acct, map[string]any{"pin": first, "email": "shared@example.com", "firstName": "Older, edited"})
	ids := []int{byID, blankSrc, held, foreign, stale, reg, shared, mixed, fresh, caps, noMail}
	e.mk.AddList(listID, "invitees", ids)
	return ids
}

// importResult is what a run did, in terms that do not depend on the pins
// and codes Certain handed out.
type importResult struct {
	outcomes map[string]string // lead -> outcome: reason
	counts   map[string]int
	profiles []string // email|externalKey|source
	regs     []string // registered profiles' email|externalKey
}

var codeRE = regexp.MustCompile(`[PR]-\d{6}`)

func (e *importEnv) result(t *testing.T, r store.Run) importResult {
	t.Helper()
	name := map[string]string{}
	res := importResult{outcomes: map[string]string{}, counts: maps.Clone(r.Counts)}
	delete(res.counts, jobs.CountProfilesIndexed)
	for _, p := range e.ce.Profiles(acct) {
		id := fmt.Sprintf("%v|%v", p["email"], p["externalKey"])
		name[p["pin"].(string)] = id
		res.profiles = append(res.profiles, fmt.Sprintf("%s|%v", id, p["sourceOfProfile"]))
	}
	for pin, n := range e.registeredPins() {
		res.regs = append(res.regs, fmt.Sprintf("%s x%d", name[pin], n))
	}
	for _, o := range outcomes(t, e.st, r.ID, "") {
		res.outcomes[o.Key] = o.Outcome + ": " + codeRE.ReplaceAllStringFunc(o.Reason, func(c string) string {
			if n, ok := name[c]; ok {
				return "<" + n + ">"
			}
			return "<code>"
		})
	}
	slices.Sort(res.profiles)
	slices.Sort(res.regs)
	return res
}

// The index and the searches match alike: the same data imported once
// where the rule indexes the account (page size 200: one page) and once
// where it searches (page size 1: a page per profile, more pages than the
// searches) ends in the same profiles, registrations, outcomes and counts.
func TestImportIndexMatchesLikeSearches(t *testing.T) {
	run := func(pageSize int) (importResult, int, int) {
		e := newImportEnv(t, jobstest.WithConnection(func(c *config.Connection) { c.PageSize = pageSize }))
		ids := seedMatchCases(e, 40)
		e.PutJob(t, leadsJob(listID))
		r := e.run(t, "import-hs26")
		if r.Outcome != store.RunSucceeded {
			t.Fatalf("page size %d: %s %s", pageSize, r.Outcome, r.Error)
		}
		// The store keeps no outcome of a lead already registered.
		if got := len(outcomes(t, e.st, r.ID, "")); got != len(ids)-r.Counts[store.OutcomeUnchanged] {
			t.Fatalf("page size %d: %d outcomes for %d leads (%v)", pageSize, got, len(ids), r.Counts)
		}
		searches, pages := e.profileReads()
		if indexed := r.Counts[jobs.CountProfilesIndexed]; (pages > 1) != (indexed > 0) { // the first is the one-row count
			t.Errorf("page size %d: %d profile pages read but %d profiles indexed", pageSize, pages, indexed)
		}
		return e.result(t, r), searches, pages
	}
	indexed, idxSearches, idxPages := run(200)
	searched, searches, pages := run(1)
	if idxSearches != 0 || idxPages != 2 {
		t.Errorf("index path: %d searches, %d profile reads; want none and 2 (the one-row count, the one page)", idxSearches, idxPages)
	}
	if searches < 10 || pages != 1 {
		t.Errorf("search path: %d searches, %d profile reads; want a search per lead and only the one-row count", searches, pages)
	}
	if !maps.Equal(indexed.outcomes, searched.outcomes) {
		for k := range searched.outcomes {
			if indexed.outcomes[k] != searched.outcomes[k] {
				t.Errorf("lead %s:\n  index:  %s\n  search: %s", k, indexed.outcomes[k], searched.outcomes[k])
			}
		}
	}
	if !maps.Equal(indexed.counts, searched.counts) {
		t.Errorf("counts differ:\n  index:  %v\n  search: %v", indexed.counts, searched.counts)
	}
	if !slices.Equal(indexed.profiles, searched.profiles) || !slices.Equal(indexed.regs, searched.regs) {
		t.Errorf("end state differs:\n  index:  %v %v\n  search: %v %v", indexed.profiles, indexed.regs, searched.profiles, searched.regs)
	}
	// The cases above are all there: not two runs alike by doing nothing.
	want := map[string]int{jobs.CountProfilesMatchedByID: 3, jobs.CountProfilesMatchedByEmail: 4, jobs.CountProfilesCreated: 2,
		jobs.CountRegistrationsCreated: 8, jobs.CountAlreadyRegistered: 1, jobs.CountProfilesLinked: 3, jobs.CountProfilesRelinked: 1,
		store.OutcomeSkipped: 2}
	for k, v := range want {
		if searched.counts[k] != v {
			t.Errorf("count %s = %d, want %d (all: %v)", k, searched.counts[k], v, searched.counts)
		}
	}
	for _, o := range searched.outcomes {
		if strings.Contains(o, "<shared@example.com|") {
			t.Errorf("the shared e-mail went to the profile modified last: %s", o)
		}
	}
}

// With the index, a new lead costs a profile create and a registration and
// nothing else: the list's 700 leads (three Marketo pages) on an account of
// 30 profiles cost the event, the registrations, the one-row count, one
// profile page and two calls per lead. A profile the run created is found
// in the index by the lead that shares its e-mail (no second profile), and
// the lead that created it, first in the list, keeps it (no relink).
func TestImportIndexCallsPerNewLead(t *testing.T) {
	e := newImportEnv(t)
	for i := range 30 {
		e.ce.AddProfile(acct, map[string]any{"email": fmt.Sprintf("existing%02d@example.org", i)})
	}
	ids := e.addLeads(700)
	twin := e.mk.AddLead(marketo.Lead{"email": "LEAD00042@example.com"}) // shares lead 42's e-mail, on the last page
	e.mk.AddList(listID, "Summit invitees", append(slices.Clone(ids), twin))
	e.PutJob(t, leadsJob(listID))
	before := e.ce.CountCalls("", "")

	r := e.run(t, "import-hs26")
	if r.Outcome != store.RunSucceeded || r.Counts[jobs.CountProfilesCreated] != 700 || r.Counts[jobs.CountRegistrationsCreated] != 700 {
		t.Fatalf("run: %s %v %s", r.Outcome, r.Counts, r.Error)
	}
	if r.Counts[jobs.CountProfilesIndexed] != 30 {
		t.Errorf("profilesIndexed %d, want the account's 30", r.Counts[jobs.CountProfilesIndexed])
	}
	searches, pages := e.profileReads()
	calls := e.ce.CountCalls("", "") - before
	// 1 event + 1 registration read (404: none) + 1 count + 1 profile page
	// + 700 creates + 700 registrations: the twin matches lead 42's new
	// profile by e-mail, and lead 42, first in the list, keeps its id (no
	// write; docs/jobs.md §1, rule 6).
	if searches != 0 || pages != 2 || calls != 4+2*700 {
		t.Errorf("%d Certain calls (%d searches, %d profile reads), want %d", calls, searches, pages, 4+2*700)
	}
	if r.Counts[jobs.CountProfilesMatchedByEmail] != 1 || r.Counts[jobs.CountProfilesRelinked] != 0 || r.Counts[jobs.CountAlreadyRegistered] != 1 {
		t.Errorf("counts %v: want the twin matched by e-mail, not relinked, already registered", r.Counts)
	}
	if n := len(e.ce.Profiles(acct)); n != 730 {
		t.Errorf("%d profiles, want 730 (the twin matched lead 42's new profile by e-mail)", n)
	}
	for _, p := range e.ce.Profiles(acct) {
		if strings.EqualFold(fmt.Sprint(p["email"]), "lead00042@example.com") && p["externalKey"] != fmt.Sprint(ids[42]) {
			t.Errorf("lead 42's profile holds External Profile ID %v, want lead 42's %d", p["externalKey"], ids[42])
		}
	}
}

// shortProfileRead makes Certain answer 404 on a page of the account's
// profiles after the first, as a tenant that loses rows mid-read does.
type shortProfileRead struct {
	jobs.Certain
	arm func()
}

func (s shortProfileRead) ProfilePages(ctx context.Context, acct string) iter.Seq2[certain.Page[certain.Profile], error] {
	return func(yield func(certain.Page[certain.Profile], error) bool) {
		first := true
		for p, err := range s.Certain.ProfilePages(ctx, acct) {
			if first {
				s.arm()
				first = false
			}
			if !yield(p, err) {
				return
			}
		}
	}
}

// A read of the account's profiles that stops short of its
// completeCollectionSize fails the run with an error that says so, before
// any lead is matched, created or registered from a partial index.
func TestImportIndexShortReadFailsRun(t *testing.T) {
	e := newImportEnv(t, jobstest.WithConnection(func(c *config.Connection) { c.PageSize = 5 }))
	for i := range 60 {
		e.ce.AddProfile(acct, map[string]any{"email": fmt.Sprintf("existing%02d@example.org", i)})
	}
	e.addLeads(300)
	e.PutJob(t, leadsJob(listID))
	e.Executor.Connector = jobstest.StaticConnector{Account: acct, Clients: jobs.Clients{Marketo: e.MarketoClient,
		Certain: shortProfileRead{Certain: e.CertainClient, arm: func() { e.ce.FailNext("Profile/"+acct, 1, 404, 0) }}}}

	r := e.run(t, "import-hs26")
	if r.Outcome != store.RunFailed {
		t.Fatalf("outcome %s (%v), want failed", r.Outcome, r.Counts)
	}
	for _, want := range []string{"index the profiles of account " + acct, "404 (no rows)", "of 60 rows"} {
		if !strings.Contains(r.Error, want) {
			t.Errorf("error %q does not say %q", r.Error, want)
		}
	}
	if n := len(e.ce.Profiles(acct)); n != 60 || len(e.ce.Registrations(acct, event)) != 0 {
		t.Errorf("%d profiles, %d registrations: nothing may be written from a partial index", n, len(e.ce.Registrations(acct, event)))
	}
	if searches, _ := e.profileReads(); searches != 0 {
		t.Errorf("%d searches: the run must not fall back silently", searches)
	}
}

// A profile that changes while the account's profiles are read comes back
// at the end of the read (dateModified order), and a row behind it may have
// moved into the part already read: the invocation does not trust the
// index and searches per lead, with the same result.
func TestImportIndexProfileChangedDuringReadFallsBackToSearches(t *testing.T) {
	// No read-ahead: the edit lands after the first page and before the
	// next is fetched (with pages fetched ahead, they may all be read
	// before it, and the read is then a consistent one).
	e := newImportEnv(t, jobstest.WithConnection(func(c *config.Connection) { c.PageSize = 5 }),
		jobstest.WithCertainClient(func(c *certain.Config) { c.ReadAhead = -1 }))
	var pins []string
	for i := range 20 {
		pins = append(pins, e.ce.AddProfile(acct, map[string]any{"email": fmt.Sprintf("existing%02d@example.org", i)}))
		e.Clock.Advance(time.Second)
	}
	ids := e.addLeads(300)
	e.PutJob(t, leadsJob(listID))
	e.Executor.Connector = jobstest.StaticConnector{Account: acct, Clients: jobs.Clients{Marketo: e.MarketoClient,
		Certain: shortProfileRead{Certain: e.CertainClient, arm: func() {
			e.Clock.Advance(time.Second)
			e.ce.AddProfile(acct, map[string]any{"pin": pins[0], "email": "existing00@example.org", "firstName": "Edited"})
		}}}}

	r := e.run(t, "import-hs26")
	if r.Outcome != store.RunSucceeded || r.Counts[jobs.CountRegistrationsCreated] != 300 || r.Counts[jobs.CountProfilesIndexed] != 0 {
		t.Fatalf("run: %s %v %s", r.Outcome, r.Counts, r.Error)
	}
	if searches, _ := e.profileReads(); searches != 600 {
		t.Errorf("%d searches, want 2 per lead once the index is not trusted", searches)
	}
	e.assertEachLeadOnce(t, ids)
}
