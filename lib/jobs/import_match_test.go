package jobs_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// profileFields returns pin -> profile.
func (e *importEnv) profileFields() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, p := range e.ce.Profiles(acct) {
		out[p["pin"].(string)] = p
	}
	return out
}

// A lead matched by e-mail to a profile holding another Marketo id (a lead
// merged away) with Source Marketo, blank or Import gets the lead's id and
// Source = exactly Marketo written; a registered one too, though it is not
// registered again. Another system's id stays unless
// overwriteForeignExternalIds, and the outcome says so.
func TestImportWritesLeadIDOverStaleID(t *testing.T) {
	for _, overwrite := range []bool{false, true} {
		t.Run(fmt.Sprintf("overwriteForeignExternalIds=%v", overwrite), func(t *testing.T) {
			e := newImportEnv(t, jobstest.WithConnection(func(c *config.Connection) { c.OverwriteForeignExternalIDs = overwrite }))
			stale := e.mk.AddLead(marketo.Lead{"email": "reg@example.com"})
			reg := e.mk.AddLead(marketo.Lead{"email": "reg@example.com"})
			e.mk.MergeLeads(reg, stale)
			fresh := e.mk.AddLead(marketo.Lead{"email": "new@example.com"})
			imp := e.mk.AddLead(marketo.Lead{"email": "imp@example.com"})
			sf := e.mk.AddLead(marketo.Lead{"email": "sf@example.com"})
			e.mk.AddList(listID, "invitees", []int{reg, fresh, imp, sf})
			pinReg := e.ce.AddProfile(acct, map[string]any{"email": "reg@example.com", "externalKey": fmt.Sprint(stale), "sourceOfProfile": "Marketo"})
			e.ce.AddRegistration(acct, event, pinReg, map[string]any{"registrationStatusLabel": "Invited"})
			pinNew := e.ce.AddProfile(acct, map[string]any{"email": "new@example.com", "externalKey": "1", "sourceOfProfile": " marketo"})
			pinImp := e.ce.AddProfile(acct, map[string]any{"email": "imp@example.com", "externalKey": "A-9", "sourceOfProfile": "Import"})
			pinSF := e.ce.AddProfile(acct, map[string]any{"email": "sf@example.com", "externalKey": "00Q5e00000AbCdE", "sourceOfProfile": "Salesforce"})
			e.PutJob(t, leadsJob(listID))

			r := e.run(t, "import-hs26")
			if r.Outcome != store.RunSucceeded {
				t.Fatalf("outcome %s: %s", r.Outcome, r.Error)
			}
			ps := e.profileFields()
			for pin, id := range map[string]int{pinReg: reg, pinNew: fresh, pinImp: imp} {
				if p := ps[pin]; p["externalKey"] != fmt.Sprint(id) || p["sourceOfProfile"] != "Marketo" {
					t.Errorf("profile %s: %v, want External Profile ID %d and Source exactly Marketo", pin, p, id)
				}
			}
			wantSF := map[bool]string{false: "00Q5e00000AbCdE", true: fmt.Sprint(sf)}[overwrite]
			if ps[pinSF]["externalKey"] != wantSF {
				t.Errorf("Salesforce profile: External Profile ID %v, want %s", ps[pinSF]["externalKey"], wantSF)
			}
			if n := len(e.ce.Registrations(acct, event)); n != 4 || e.registeredPins()[pinReg] != 1 {
				t.Errorf("%d registrations (%v), want 4 with the registered profile once", n, e.registeredPins())
			}
			if r.Counts[jobs.CountProfilesRelinked] != map[bool]int{false: 3, true: 4}[overwrite] {
				t.Errorf("counts %v: want the replaced ids counted as profilesRelinked", r.Counts)
			}
			sfOut := ""
			for _, o := range outcomes(t, e.st, r.ID, "") {
				if o.Key == fmt.Sprint(sf) {
					sfOut = o.Reason
				}
			}
			if overwrite == strings.Contains(sfOut, "overwriteForeignExternalIds is off") {
				t.Errorf("Salesforce lead's outcome reason %q", sfOut)
			}
			// Nothing left to write: the re-run writes no profile.
			before := e.ce.CountCalls("POST", "Profile/"+acct)
			e.run(t, "import-hs26")
			if after := e.ce.CountCalls("POST", "Profile/"+acct); after != before {
				t.Errorf("re-run wrote %d profiles", after-before)
			}
		})
	}
}

// A lead is matched by its Marketo id first (Source Marketo or blank), also
// without an e-mail; a profile holding the id with a blank Source is that
// lead's (never a second profile with the same id); a lead with no e-mail is
// skipped only when no profile holds its id.
func TestImportMatchesByMarketoIDWithoutEmail(t *testing.T) {
	e := newImportEnv(t)
	noMail := e.mk.AddLead(marketo.Lead{"firstName": "NoMail"})
	blankSrc := e.mk.AddLead(marketo.Lead{"email": "blank@example.com", "firstName": "Blank"})
	badMail := e.mk.AddLead(marketo.Lead{"email": "not an email", "firstName": "Bad"})
	orphan := e.mk.AddLead(marketo.Lead{"firstName": "Orphan"})
	held := e.mk.AddLead(marketo.Lead{"email": "held@example.com"})
	e.mk.AddList(listID, "invitees", []int{noMail, blankSrc, badMail, orphan, held})
	pinNoMail := e.ce.AddProfile(acct, map[string]any{"email": "nomail.profile@example.com", "externalKey": fmt.Sprint(noMail), "sourceOfProfile": "Marketo"})
	pinBlank := e.ce.AddProfile(acct, map[string]any{"email": "other@example.com", "externalKey": fmt.Sprint(blankSrc)})
	pinBad := e.ce.AddProfile(acct, map[string]any{"email": "bad.profile@example.com", "externalKey": fmt.Sprint(badMail), "sourceOfProfile": "Marketo"})
	// Another system holds this lead's id as its own: the lead is not
	// matched to it, and no second profile with the id is created.
	e.ce.AddProfile(acct, map[string]any{"email": "someone@example.com", "externalKey": fmt.Sprint(held), "sourceOfProfile": "Salesforce"})
	e.PutJob(t, leadsJob(listID))

	r := e.run(t, "import-hs26")
	if r.Outcome != store.RunSucceeded {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Error)
	}
	regs := e.registeredPins()
	for _, pin := range []string{pinNoMail, pinBlank, pinBad} {
		if regs[pin] != 1 {
			t.Errorf("profile %s matched by id: %d registrations, want 1 (all: %v)", pin, regs[pin], regs)
		}
	}
	if len(regs) != 3 {
		t.Errorf("registrations %v, want the three matched by id only", regs)
	}
	byExt := e.profilesByExternalID()
	if byExt[fmt.Sprint(blankSrc)] != 1 || byExt[fmt.Sprint(held)] != 1 || len(e.ce.Profiles(acct)) != 4 {
		t.Errorf("profiles by External Profile ID %v (%d profiles): no profile may be created", byExt, len(e.ce.Profiles(acct)))
	}
	if p := e.profileFields()[pinBlank]; p["sourceOfProfile"] != "Marketo" || p["email"] != "other@example.com" {
		t.Errorf("profile matched by id with a blank Source: %v, want Source Marketo written and its email kept", p)
	}
	reasons := map[string]string{}
	for _, o := range outcomes(t, e.st, r.ID, store.OutcomeSkipped) {
		reasons[o.Key] = o.Reason
	}
	if !strings.Contains(reasons[fmt.Sprint(orphan)], "no email") || !strings.Contains(reasons[fmt.Sprint(held)], "not creating a second profile") || len(reasons) != 2 {
		t.Errorf("skip reasons %v, want the orphan (no email, no profile) and the id held by Salesforce", reasons)
	}
	if r.Counts[jobs.CountProfilesMatchedByID] != 3 {
		t.Errorf("counts %v, want 3 matched by id", r.Counts)
	}
	// The import-profiles variant matches the same way.
	e.PutJob(t, config.Job{ID: "import-profiles", Account: acct, Type: config.TypeImportProfiles, Name: "profiles", Enabled: true,
		Schedule: config.Schedule{Interval: config.Duration(time.Hour)}, Params: config.Params{ListID: listID}})
	r = e.run(t, "import-profiles")
	if r.Counts[store.OutcomeUnchanged] != 3 || r.Counts[store.OutcomeSkipped] != 2 || len(e.ce.Profiles(acct)) != 4 {
		t.Errorf("import-profiles counts %v, %d profiles; want 3 unchanged, 2 skipped, no profile created", r.Counts, len(e.ce.Profiles(acct)))
	}
}
