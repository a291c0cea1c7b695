package reliability

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
)

// Profiles of the twins test: e-mails equal up to case.
const (
	twinAddr = "dana.twin@casefold.example"
	onceAddr = "eli.once@casefold.example"
)

// twinData is the demo data set plus two pairs of case-duplicate profiles
// registered for the main event: one pair linked to two Marketo leads of
// their own (Marketo holds both e-mails), the other sharing one lead, both
// Invited. It returns the leads of the first pair and the shared lead, and
// the second pair's registrations.
func twinData() (d *demodata.Dataset, twins [2]int, shared int, regs [2]string) {
	d = demodata.Demo()
	f := d.Options.Fields
	ev := d.Events[0].Code
	at := d.Options.Start.Add(24 * time.Hour)
	twins, shared, regs = [2]int{880001, 880002}, 880003, [2]string{"R-9900003", "R-9900004"}
	person := func(pin, email, key, source string) demodata.Profile {
		return demodata.Profile{PIN: pin, Email: email, FirstName: "Twin", LastName: pin, Organization: "Casefold", ExternalKey: key, Source: source, Modified: at}
	}
	d.Profiles = append(d.Profiles,
		person("P-990001", twinAddr, fmt.Sprint(twins[0]), f.SourceValueMarketo),
		person("P-990002", strings.ToUpper(twinAddr), fmt.Sprint(twins[1]), f.SourceValueMarketo),
		person("P-990003", onceAddr, fmt.Sprint(shared), f.SourceValueMarketo),
		person("P-990004", strings.ToUpper(onceAddr), "", "Salesforce"))
	d.Marketo.Leads = append(d.Marketo.Leads,
		demodata.Lead{ID: twins[0], Email: twinAddr, FirstName: "Twin", LastName: "P-990001"},
		demodata.Lead{ID: twins[1], Email: strings.ToUpper(twinAddr), FirstName: "Twin", LastName: "P-990002"},
		demodata.Lead{ID: shared, Email: onceAddr, FirstName: "Twin", LastName: "P-990003"})
	reg := func(code, pin, status string) demodata.Registration {
		return demodata.Registration{Code: code, Event: ev, PIN: pin, AttendeeType: "ATT", Status: status, Active: true, Complete: true, Created: at, Modified: at}
	}
	d.Registrations = append(d.Registrations,
		reg("R-9900001", "P-990001", "Pre-Registered"), reg("R-9900002", "P-990002", "Pre-Registered"),
		reg(regs[0], "P-990003", demodata.TriggerFrom), reg(regs[1], "P-990004", demodata.TriggerFrom))
	return d, twins, shared, regs
}

// TestCaseDuplicateProfilesAreNotDuplicates: two profiles whose e-mails
// differ only in case, each linked to a Marketo lead of its own, get one
// engagement record each (two leads, two custom object keys), and two
// registrations of one lead that both change status request the campaign
// once each. Neither is a duplicate: the invariants name a lead the data
// set seeded beside another of the same e-mail by its id, and allow a
// campaign request per change. (They named leads by e-mail alone and
// allowed one request per lead, and reported both as duplicates.)
func TestCaseDuplicateProfilesAreNotDuplicates(t *testing.T) {
	d, twins, shared, regs := twinData()
	w := NewWorld(t, Config{Data: d})
	for _, code := range regs {
		w.Certain.SetRegistrationStatus(d.Account, d.Events[0].Code, code, demodata.TriggerTo)
		w.Changed = append(w.Changed, code)
	}
	base := w.Observe()
	for range 2 {
		for _, s := range AllSteps() {
			if out := w.drive(t, s, nil); strings.Contains(out, "unfinished") {
				t.Fatalf("step %s did not finish: %s", s, out)
			}
		}
	}
	got := w.Observe()
	for _, v := range append(w.Violations(), CheckUnique(base, got)...) {
		t.Error(v)
	}
	// The case is there: a record on each twin's lead, two requests for
	// the shared lead.
	for _, id := range twins {
		k := fmt.Sprintf("%s|%s#%d|%s", demodata.EngagementObject, twinAddr, id, d.Events[0].Code)
		if got.CO[k] != 1 {
			t.Errorf("engagement records %q: %d, want 1", k, got.CO[k])
		}
	}
	if k := fmt.Sprintf("%d|%s", demodata.CampaignRegistered, onceAddr); got.Requests[k] != 2 {
		t.Errorf("campaign requests %q: %d, want 2 (one per change)", k, got.Requests[k])
	}
	// And a third request for the shared lead is still a duplicate.
	got.Requests[fmt.Sprintf("%d|%s", demodata.CampaignRegistered, onceAddr)]++
	if vs := CheckUnique(base, got); len(vs) != 1 || !strings.Contains(vs[0].Detail, onceAddr) {
		t.Errorf("a third request for lead %d (two changes) gave violations %v, want one naming it", shared, vs)
	}
	// The changes allow two requests of their own campaign only: another
	// campaign requested twice for the lead is a duplicate.
	got.Requests[fmt.Sprintf("%d|%s", demodata.CampaignRegistered, onceAddr)]--
	other := fmt.Sprintf("%d|%s", demodata.CampaignAttended, onceAddr)
	got.Requests[other] += 2
	if vs := CheckUnique(base, got); len(vs) != 1 || !strings.Contains(vs[0].Detail, other) {
		t.Errorf("campaign %d requested twice for lead %d (no change to it) gave violations %v, want one naming it", demodata.CampaignAttended, shared, vs)
	}
}
