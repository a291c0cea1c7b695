package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// rejectingCertain answers a profile create for one email the way Certain
// refuses a value: HTTP 400 with a message.
type rejectingCertain struct {
	jobs.Certain
	email string
}

func (r rejectingCertain) CreateProfile(ctx context.Context, acct string, fields map[string]any) (certain.Profile, error) {
	if fields["email"] == r.email {
		return certain.Profile{}, &certain.Error{Status: 400, Method: "POST", Resource: "Profile", Message: "email is not valid"}
	}
	return r.Certain.CreateProfile(ctx, acct, fields)
}

func TestImportLeadsEmailRejectedByCertainIsSkipped(t *testing.T) {
	e := newImportEnv(t)
	good := e.mk.AddLead(marketo.Lead{"email": "good@example.com"})
	bad := e.mk.AddLead(marketo.Lead{"email": "odd@example"})
	after := e.mk.AddLead(marketo.Lead{"email": "after@example.com"})
	e.mk.AddList(listID, "invitees", []int{good, bad, after})
	e.PutJob(t, leadsJob(listID))
	e.Executor.Connector = jobstest.StaticConnector{Account: acct,
		Clients: jobs.Clients{Marketo: e.MarketoClient, Certain: rejectingCertain{Certain: e.CertainClient, email: "odd@example"}}}

	r := e.run(t, "import-hs26")
	if r.Outcome != store.RunSucceeded || r.Counts[jobs.CountRegistrationsCreated] != 2 || r.Counts["skipped"] != 1 {
		t.Fatalf("run: %s %v %s", r.Outcome, r.Counts, r.Error)
	}
	skipped := outcomes(t, e.st, r.ID, store.OutcomeSkipped)
	if len(skipped) != 1 || skipped[0].Key != fmt.Sprint(bad) || skipped[0].Code != "400" || !strings.Contains(skipped[0].Reason, "email is not valid") {
		t.Errorf("skipped outcomes %+v", skipped)
	}
}

// TestImportLeadsDailyQuotaResumesAfterReset: Marketo's 607 on the second
// page stops the run with outcome quota and a checkpoint at that page; after
// the reset the job finishes without repeating the first page.
func TestImportLeadsDailyQuotaResumesAfterReset(t *testing.T) {
	e := newImportEnv(t, jobstest.WithMarketo(marketotest.WithDailyQuota(1)))
	ids := e.addLeads(350)
	e.PutJob(t, leadsJob(listID))

	r1 := e.run(t, "import-hs26")
	if r1.Outcome != store.RunQuota || r1.Counts[jobs.CountRegistrationsCreated] != 300 {
		t.Fatalf("first run: %s %v %s", r1.Outcome, r1.Counts, r1.Error)
	}
	_, cp := checkpointOf(t, e.st, "import-hs26")
	if cp["pages"] != 1.0 || cp["pos"] != 0.0 || cp["pageToken"] == "" {
		t.Fatalf("checkpoint %v, want the start of page 2", cp)
	}
	st, err := e.st.GetJobState(context.Background(), "import-hs26")
	if err != nil || !st.NextDue.After(e.Clock.Now()) {
		t.Fatalf("job state %+v (%v): want next due at the quota reset", st, err)
	}

	e.Clock.Advance(24 * time.Hour)
	r2 := e.run(t, "import-hs26")
	if r2.Outcome != store.RunSucceeded || r2.Counts[jobs.CountRegistrationsCreated] != 50 || r2.MarketoCalls != 1 {
		t.Fatalf("resumed run: %s %v marketo=%d %s", r2.Outcome, r2.Counts, r2.MarketoCalls, r2.Error)
	}
	e.assertEachLeadOnce(t, ids)
}

// TestImportLeadsCertainThrottlingIsRetried: 429s from Certain are waited
// out by the client; every lead still ends registered once.
func TestImportLeadsCertainThrottlingIsRetried(t *testing.T) {
	e := newImportEnv(t)
	ids := e.addLeads(30)
	e.PutJob(t, leadsJob(listID))
	e.ce.FailNext("Profile/"+acct, 5, 429, time.Second)
	e.ce.FailNext("Registration/"+acct+"/"+event, 3, 429, 0)

	r := e.run(t, "import-hs26")
	if r.Outcome != store.RunSucceeded || r.Counts[jobs.CountRegistrationsCreated] != 30 || r.Counts["failed"] != 0 {
		t.Fatalf("run: %s %v %s", r.Outcome, r.Counts, r.Error)
	}
	if got := e.CertainClient.Stats().ByCode[429]; got != 8 {
		t.Errorf("client saw %d 429s, want 8", got)
	}
	e.assertEachLeadOnce(t, ids)
}

// TestImportLeadsCertainOutageStopsAndResumes: when Certain keeps failing
// past the client's retries the run fails with a checkpoint, and the next
// run finishes the list with nothing duplicated.
func TestImportLeadsCertainOutageStopsAndResumes(t *testing.T) {
	// 8 workers (twice maxInFlight), so that the deadline after 310
	// registrations falls before the last 20 leads are all under way.
	e := newImportEnv(t, jobstest.WithConnection(func(c *config.Connection) { c.MaxInFlight = 4 }))
	ids := e.addLeads(320)
	e.PutJob(t, leadsJob(listID))
	e.stopAfterRegistrations(310) // let the first page finish and a few more
	r0 := e.run(t, "import-hs26")
	if r0.Outcome != store.RunCheckpointed {
		t.Fatalf("first run: %s %s", r0.Outcome, r0.Error)
	}
	e.stopAfterRegistrations(0)
	e.ce.FailNext("Profile/"+acct, 1000, 503, 0)
	r1 := e.run(t, "import-hs26")
	if r1.Outcome != store.RunFailed || !strings.Contains(r1.Error, "503") {
		t.Fatalf("outage run: %s %s", r1.Outcome, r1.Error)
	}
	if _, err := e.st.GetCheckpoint(context.Background(), "import-hs26"); err != nil {
		t.Fatalf("no checkpoint after the outage: %v", err)
	}
	// End the outage: use up the injected failures the run left.
	for range 1000 {
		if _, err := e.CertainClient.GetProfile(context.Background(), acct, "P-none"); err == nil || !strings.Contains(err.Error(), "503") {
			break
		}
	}
	r2 := e.run(t, "import-hs26")
	if r2.Outcome != store.RunSucceeded || r2.Counts["failed"] != 0 {
		t.Fatalf("after the outage: %s %v %s", r2.Outcome, r2.Counts, r2.Error)
	}
	e.assertEachLeadOnce(t, ids)
}

// TestImportLeadsInvocationCutMidCall: the invocation's context ends while
// Certain calls are in flight (some writes land, their answers are lost).
// The run checkpoints, and the next one finishes with every lead once.
func TestImportLeadsInvocationCutMidCall(t *testing.T) {
	e := newImportEnv(t)
	e.ce.SetLatency(2 * time.Millisecond)
	ids := e.addLeads(120)
	e.PutJob(t, leadsJob(listID))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.InterruptWhen(func(string) bool {
		if e.ce.CountCalls("POST", "Registration/"+acct+"/"+event) >= 50 {
			cancel()
		}
		return false
	})
	sum, err := e.Executor.RunNow(ctx, "import-hs26", false)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Outcome != store.RunCheckpointed {
		t.Fatalf("cut run: %s %s", sum.Outcome, sum.Error)
	}
	e.InterruptWhen(nil)
	e.ce.SetLatency(0)
	// The cut requests may still be running inside the simulator. The next
	// invocation of a real job starts a schedule tick later; wait until the
	// simulator has answered everything it received.
	waitQuiet(t, e)
	r2 := e.run(t, "import-hs26")
	if r2.Outcome != store.RunSucceeded || r2.Counts["failed"] != 0 {
		t.Fatalf("next run: %s %v %s %+v", r2.Outcome, r2.Counts, r2.Error, outcomes(t, e.st, r2.ID, store.OutcomeFailed))
	}
	e.assertEachLeadOnce(t, ids)
}

func waitQuiet(t *testing.T, e *importEnv) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	last, stable := -1, 0
	for stable < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the Certain simulator kept receiving calls")
		}
		n := len(e.ce.Calls())
		if n == last {
			stable++
		} else {
			last, stable = n, 0
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestImportLeadsExpiredPageTokenStartsOver: a checkpointed token Marketo
// no longer accepts (1003) makes the run read the list from the start
// rather than fail forever.
func TestImportLeadsExpiredPageTokenStartsOver(t *testing.T) {
	e := newImportEnv(t)
	ids := e.addLeads(20)
	e.PutJob(t, leadsJob(listID))
	data := fmt.Sprintf(`{"v":1,"listId":%d,"event":%q,"pageToken":"expired-token","pos":0,"pages":3}`, listID, event)
	if _, err := e.st.PutCheckpoint(context.Background(), "import-hs26", store.Checkpoint{Data: []byte(data)}, 0); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, "import-hs26")
	if r.Outcome != store.RunSucceeded || r.Counts[jobs.CountRegistrationsCreated] != 20 || r.MarketoCalls != 2 {
		t.Fatalf("run: %s %v marketo=%d %s", r.Outcome, r.Counts, r.MarketoCalls, r.Error)
	}
	e.assertEachLeadOnce(t, ids)
}
