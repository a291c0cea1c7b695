package jobs_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// twinLead is the one lead of the twins' address, as the fields compared.
func twinLead(t *testing.T, env *jobstest.Env, email string) string {
	t.Helper()
	leads := env.Marketo.LeadsByEmail(email)
	if len(leads) != 1 {
		t.Fatalf("%d leads with %s, want 1", len(leads), email)
	}
	l := leads[0]
	return fmt.Sprintf("email=%v firstName=%v lastName=%v company=%v", l["email"], l["firstName"], l["lastName"], l["company"])
}

// TestSyncLeadsTwinsEndTheSameWhateverTheBatches: two registrations whose
// e-mails differ only in case share one lead. Sent in one batch, or the
// first in one run and the second in the next (as after a crash that lost
// the second's hash, or a status that made it wanted later), the lead ends
// with the same values: each field's last non-blank value in the order
// Certain lists them (lib/jobs/leads.go, syncGroup).
func TestSyncLeadsTwinsEndTheSameWhateverTheBatches(t *testing.T) {
	ctx := context.Background()
	first := map[string]any{"email": "sam.ito@example.org", "firstName": "Sam", "lastName": "Ito"}
	second := map[string]any{"email": "SAM.ITO@example.org", "firstName": "Samuel", "organization": "Fabrikam"}

	together := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	seedReg(together, first, "Attended")
	seedReg(together, second, "Attended")
	together.PutJob(t, syncJob("sync-twins", "Attended"))
	together.RunJob(t, ctx, "sync-twins")

	apart := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	seedReg(apart, first, "Attended")
	_, code := seedReg(apart, second, "Invited")
	apart.PutJob(t, syncJob("sync-twins", "Attended"))
	apart.RunJob(t, ctx, "sync-twins")
	apart.Certain.SetRegistrationStatus(jobstest.Account, syncEvent, code, "Attended")
	run := apart.RunJob(t, ctx, "sync-twins")
	if run.Counts["unchanged"] != 1 {
		t.Fatalf("second run counts %v: want the first twin unchanged and only the second sent", run.Counts)
	}

	want := "email=SAM.ITO@example.org firstName=Samuel lastName=Ito company=Fabrikam"
	if got := twinLead(t, together, "sam.ito@example.org"); got != want {
		t.Errorf("twins in one batch: lead %s, want %s", got, want)
	}
	if got := twinLead(t, apart, "sam.ito@example.org"); got != want {
		t.Errorf("twins in two runs: lead %s, want %s", got, want)
	}
}

// TestSyncLeadsTwinsOfTwoActionsKeepCertainsOrder: the first twin stores
// the lead's id (rule B, updateOnly), the second has none (rule A,
// createOrUpdate): they wait in different buffers, and the second is read
// last, so its values must reach Marketo last. (The update-only buffer
// used to be sent after the other at the end of the run, so the first
// twin's values won.)
func TestSyncLeadsTwinsOfTwoActionsKeepCertainsOrder(t *testing.T) {
	ctx := context.Background()
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads))
	id := env.Marketo.AddLead(marketo.Lead{"email": "kim.lee@example.org", "firstName": "K"})
	seedReg(env, map[string]any{"email": "kim.lee@example.org", "firstName": "Kim", "lastName": "Lee",
		"externalKey": fmt.Sprint(id), "sourceOfProfile": "Marketo"}, "Attended")
	seedReg(env, map[string]any{"email": "KIM.LEE@example.org", "firstName": "Kimberly", "organization": "Contoso"}, "Attended")
	env.PutJob(t, syncJob("sync-twins", "Attended"))
	run := env.RunJob(t, ctx, "sync-twins")
	if run.Counts["failed"] != 0 {
		t.Fatalf("counts %v", run.Counts)
	}
	want := "email=KIM.LEE@example.org firstName=Kimberly lastName=Lee company=Contoso"
	if got := twinLead(t, env, "kim.lee@example.org"); got != want {
		t.Errorf("lead %s, want %s", got, want)
	}
}
