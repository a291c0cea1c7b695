package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// requestsFor counts the campaign requests that named lead id (of campaign
// campaignID when only is 0, of only otherwise).
func requestsFor(env *triggerEnv, id int, only ...int) int {
	want := campaignID
	if len(only) > 0 {
		want = only[0]
	}
	n := 0
	for _, r := range env.Marketo.CampaignRequests() {
		for _, l := range r.LeadIDs {
			if l == id && r.CampaignID == want {
				n++
			}
		}
	}
	return n
}

// A change whose campaign cannot be requested until someone fixes the data
// (several Marketo leads share the e-mail: 1007) is recorded as failed with
// what to do, and its message is done; its claim is released, so the same
// change runs again once the cause is fixed, and a change that was
// requested is never requested again.
func TestTriggerFailedChangeRunsAgainOnceFixed(t *testing.T) {
	env := newTriggerEnv(t, false)
	ctx := context.Background()
	twin1 := env.Marketo.AddLead(marketo.Lead{"email": "twin@example.org"})
	twin2 := env.Marketo.AddLead(marketo.Lead{"email": "twin@example.org"})
	_, twin := seedReg(env.Env, map[string]any{"email": "twin@example.org"}, "Pre-Registered")
	ok := env.Marketo.AddLead(marketo.Lead{"email": "ok@example.org"})
	_, fine := seedReg(env.Env, map[string]any{"email": "ok@example.org", "externalKey": fmt.Sprint(ok), "sourceOfProfile": "Marketo"}, "Pre-Registered")
	env.PutJob(t, triggerJob("trig-fix", nil))
	msgs := []jobs.ChangeMessage{change(env.Env, twin, "Invited", "Pre-Registered"), change(env.Env, fine, "Invited", "Pre-Registered")}

	noErrors(t, env.trigger.Handle(ctx, msgs))
	o := outcomesByKey(t, env.Env, lastRun(t, env.Env, "trig-fix").ID)[twin]
	if o.Outcome != store.OutcomeFailed || o.Code != "1007" || !strings.Contains(o.Reason, "merge them in Marketo") || !strings.Contains(o.Reason, "cmctl retry-failures") {
		t.Fatalf("1007 outcome %+v, want failed with what to do", o)
	}
	if requestsFor(env, ok) != 1 || requestsFor(env, twin1)+requestsFor(env, twin2) != 0 {
		t.Fatalf("requests %+v", env.Marketo.CampaignRequests())
	}

	env.Marketo.MergeLeads(twin1, twin2)
	noErrors(t, env.trigger.Handle(ctx, msgs))
	if requestsFor(env, twin1) != 1 || requestsFor(env, ok) != 1 {
		t.Fatalf("after the merge: %d requests for the fixed change, %d for the done one; want 1 and 1", requestsFor(env, twin1), requestsFor(env, ok))
	}
	noErrors(t, env.trigger.Handle(ctx, msgs))
	if requestsFor(env, twin1) != 1 || requestsFor(env, ok) != 1 {
		t.Fatalf("a third delivery requested again: %+v", env.Marketo.CampaignRequests())
	}
}

// Redrive (cmctl retry-failures) re-runs the failed changes of a run for
// its job only, with the changes' own idempotency keys: a change fixed since
// is requested exactly once, even by two re-drives at the same time; a
// change already requested is reported as a duplicate; a change still
// broken fails again with its reason.
func TestTriggerRedriveRunsEachFailedChangeOnce(t *testing.T) {
	for _, dyn := range []bool{false, true} {
		t.Run(map[bool]string{false: "memstore", true: "dynamodb"}[dyn], func(t *testing.T) {
			env := newTriggerEnv(t, dyn)
			ctx := context.Background()
			twin1 := env.Marketo.AddLead(marketo.Lead{"email": "twin@example.org"})
			twin2 := env.Marketo.AddLead(marketo.Lead{"email": "twin@example.org"})
			_, twin := seedReg(env.Env, map[string]any{"email": "twin@example.org"}, "Pre-Registered")
			env.Marketo.AddLead(marketo.Lead{"email": "dup@example.org"})
			env.Marketo.AddLead(marketo.Lead{"email": "dup@example.org"})
			_, dup := seedReg(env.Env, map[string]any{"email": "dup@example.org"}, "Pre-Registered")
			ok := env.Marketo.AddLead(marketo.Lead{"email": "ok@example.org"})
			_, fine := seedReg(env.Env, map[string]any{"email": "ok@example.org", "externalKey": fmt.Sprint(ok), "sourceOfProfile": "Marketo"}, "Pre-Registered")
			const otherCampaign = campaignID + 1
			env.Marketo.AddCampaign(marketotest.Campaign{ID: otherCampaign, Name: "Other", Type: "trigger", Active: true, Requestable: true})
			env.PutJob(t, triggerJob("trig-rd", nil))
			// trig-other fires for the same changes; a re-drive of trig-rd
			// leaves it alone.
			env.PutJob(t, triggerJob("trig-other", func(p *config.Params) { p.CampaignID = otherCampaign }))
			noErrors(t, env.trigger.Handle(ctx, []jobs.ChangeMessage{
				change(env.Env, twin, "Invited", "Pre-Registered"), change(env.Env, dup, "Invited", "Pre-Registered"), change(env.Env, fine, "Invited", "Pre-Registered")}))
			run := lastRun(t, env.Env, "trig-rd")
			var failed []jobs.ChangeMessage
			for _, o := range env.Outcomes(t, run.ID) {
				if o.Outcome != store.OutcomeFailed {
					continue
				}
				m, err := jobs.DecodeChange([]byte(o.Change))
				if err != nil {
					t.Fatalf("failed outcome %+v carries no change: %v", o, err)
				}
				failed = append(failed, m)
			}
			if len(failed) != 2 {
				t.Fatalf("%d failed changes, want 2 (the two 1007s)", len(failed))
			}
			before := len(env.Marketo.CampaignRequests())

			env.Marketo.MergeLeads(twin1, twin2)
			// The fine change is re-driven too: it was requested, so it is a
			// duplicate.
			drive := append(failed, change(env.Env, fine, "Invited", "Pre-Registered"))
			var wg sync.WaitGroup
			results := make([][]jobs.RedriveResult, 2)
			for i := range results {
				wg.Go(func() { results[i] = env.trigger.Redrive(ctx, "trig-rd", drive) })
			}
			wg.Wait()
			if n := requestsFor(env, twin1); n != 1 {
				t.Fatalf("the fixed change was requested %d times by two concurrent re-drives, want 1", n)
			}
			if n, m := requestsFor(env, ok), requestsFor(env, ok, otherCampaign); n != 1 || m != 1 {
				t.Fatalf("the done change was requested %d and %d times, want once per job, by the first delivery", n, m)
			}
			if n := len(env.Marketo.CampaignRequests()); n != before+1 || requestsFor(env, twin1, otherCampaign) != 0 {
				t.Errorf("%d campaign requests after the re-drives, want %d: only the fixed change of trig-rd", n, before+1)
			}
			requested := 0
			for _, res := range results {
				for _, r := range res {
					switch code := r.Change.RegistrationCode; {
					case r.Err != nil:
						// The other re-drive held the change at that moment.
					case code == twin && r.Outcome == store.OutcomeRequested:
						requested++
					case code == twin && r.Outcome != jobs.RedriveDuplicate:
						t.Errorf("fixed change: %+v", r)
					case code == dup && (r.Outcome != store.OutcomeFailed || r.Code != "1007"):
						t.Errorf("still-broken change: %+v, want failed 1007 again", r)
					case code == fine && r.Outcome != jobs.RedriveDuplicate:
						t.Errorf("done change: %+v, want duplicate", r)
					}
				}
			}
			if requested != 1 {
				t.Errorf("%d re-drives report the fixed change requested, want 1", requested)
			}
			// A later re-drive finds nothing left to request.
			for _, r := range env.trigger.Redrive(ctx, "trig-rd", drive) {
				if r.Err != nil || (r.Change.RegistrationCode != dup && r.Outcome != jobs.RedriveDuplicate) {
					t.Errorf("third re-drive: %+v", r)
				}
			}
			if n := requestsFor(env, twin1); n != 1 {
				t.Errorf("the fixed change was requested %d times in all, want 1", n)
			}
			runs, err := env.Store.ListRuns(ctx, "trig-rd", 10)
			retried := 0
			for _, r := range runs {
				if r.Trigger == "retry" {
					retried++
				}
			}
			if err != nil || retried == 0 {
				t.Errorf("runs %+v %v: want the re-drives recorded with trigger retry", runs, err)
			}
		})
	}
}
