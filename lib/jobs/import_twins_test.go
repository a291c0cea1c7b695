package jobs_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// Leads of one list that share an address (e-mails equal up to case) are
// handled in the list's order, whatever the concurrency: of two leads each
// linked by Marketo id to its own profile, the first lead's profile is the
// one registered, in every run from scratch. Many pairs in one page make a
// handler that let the later twin in first fail.
func TestImportLeadsTwinsRegisterTheFirstInListOrder(t *testing.T) {
	e := newImportEnv(t)
	const pairs = 40
	var list []int
	first := map[string]bool{} // pin of the first twin's profile -> true
	second := map[string]bool{}
	for i := range pairs {
		addr := fmt.Sprintf("twin%02d@example.com", i)
		a := e.mk.AddLead(marketo.Lead{"email": addr, "firstName": "First"})
		b := e.mk.AddLead(marketo.Lead{"email": strings.ToUpper(addr), "firstName": "Second"})
		first[e.ce.AddProfile(acct, map[string]any{"email": addr, "externalKey": fmt.Sprint(a), "sourceOfProfile": "Marketo"})] = true
		second[e.ce.AddProfile(acct, map[string]any{"email": strings.ToUpper(addr), "externalKey": fmt.Sprint(b), "sourceOfProfile": "Marketo"})] = true
		list = append(list, a, b)
	}
	e.mk.AddList(listID, "invitees", list)
	e.PutJob(t, leadsJob(listID))

	r := e.run(t, "import-hs26")
	if r.Outcome != store.RunSucceeded {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Error)
	}
	regs := e.registeredPins()
	late := 0
	for pin := range second {
		if regs[pin] > 0 {
			late++
		}
	}
	for pin := range first {
		if regs[pin] != 1 {
			t.Errorf("first twin's profile %s: %d registrations, want 1", pin, regs[pin])
		}
	}
	if late > 0 || len(regs) != pairs {
		t.Errorf("%d of %d pairs registered the second twin's profile instead of the first's (%d registrations)", late, pairs, len(regs))
	}
	if r.Counts[jobs.CountRegistrationsCreated] != pairs || r.Counts[jobs.CountAlreadyRegistered] != pairs {
		t.Errorf("counts %v, want %d registrations created and %d already registered", r.Counts, pairs, pairs)
	}
}

// Two leads sharing an address, one profile: the first lead in the list
// keeps the profile's External Profile ID. The second is not relinked over
// it, in this run or any later one (before, the profile's id flipped
// between the two leads every run, and with it the lead every other job
// writes to). A profile the second twin held before is relinked to the
// first once, then left alone.
func TestImportLeadsTwinsDoNotRelinkTheirProfileEveryRun(t *testing.T) {
	for _, held := range []string{"none", "second"} {
		t.Run("profile held by "+held, func(t *testing.T) {
			e := newImportEnv(t)
			a := e.mk.AddLead(marketo.Lead{"email": "twin@example.com", "firstName": "A"})
			b := e.mk.AddLead(marketo.Lead{"email": "TWIN@example.com", "firstName": "B"})
			e.mk.AddList(listID, "invitees", []int{a, b})
			relinks := 0
			if held == "second" {
				e.ce.AddProfile(acct, map[string]any{"email": "Twin@Example.com", "externalKey": fmt.Sprint(b), "sourceOfProfile": "Marketo"})
				relinks = 1
			}
			e.PutJob(t, leadsJob(listID))

			for run := range 3 {
				writes := e.ce.CountCalls("POST", "Profile/"+acct) // creates and updates
				r := e.run(t, "import-hs26")
				if r.Outcome != store.RunSucceeded {
					t.Fatalf("run %d: outcome %s: %s", run, r.Outcome, r.Error)
				}
				ps := e.ce.Profiles(acct)
				if len(ps) != 1 || ps[0]["externalKey"] != fmt.Sprint(a) {
					t.Fatalf("run %d: profiles %v, want one, holding the first twin's id %d", run, ps, a)
				}
				if len(e.ce.Registrations(acct, event)) != 1 {
					t.Errorf("run %d: %d registrations, want 1", run, len(e.ce.Registrations(acct, event)))
				}
				n := e.ce.CountCalls("POST", "Profile/"+acct) - writes
				if run > 0 && (r.Counts[jobs.CountProfilesRelinked] != 0 || n != 0) || run == 0 && (r.Counts[jobs.CountProfilesRelinked] != relinks || n != relinks+r.Counts[jobs.CountProfilesCreated]) {
					t.Errorf("run %d: counts %v, %d profile writes: the profile was relinked again", run, r.Counts, n)
				}
				if r.Counts[jobs.CountAlreadyRegistered]+r.Counts[jobs.CountRegistrationsCreated] != 2 || run > 0 && r.Counts[jobs.CountRegistrationsCreated] != 0 {
					t.Errorf("run %d: counts %v, want both twins registered or already registered, one registration created in all", run, r.Counts)
				}
			}
		})
	}
}
