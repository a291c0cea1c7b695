package jobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// TestTriggerLeadIDTrust: 300 registrations linked to their leads, which a
// sync-leads run has just written to (and so confirmed); then 300 changes
// in 3 batches of 100. By default each batch checks its stored ids before
// requesting (2 Marketo calls a batch). With the connection's leadIdTrust
// at 1h, the ids the sync confirmed are used as they are: 1 call a batch,
// the request. Past the window they are checked again. With the default,
// no confirmation is written at all.
func TestTriggerLeadIDTrust(t *testing.T) {
	for _, tc := range []struct {
		name        string
		trust       time.Duration
		later       time.Duration // between the sync and the changes
		wantCalls   int
		wantTrusted int
	}{
		{"default: check before every request", 0, time.Minute, 6, 0},
		{"leadIdTrust 1h, confirmed a minute ago", time.Hour, time.Minute, 3, 300},
		{"leadIdTrust 1h, confirmed two hours ago", time.Hour, 2 * time.Hour, 6, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTriggerEnvWith(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads),
				jobstest.WithConnection(func(c *config.Connection) { c.LeadIDTrust = config.Duration(tc.trust) }))
			ctx := context.Background()
			const n = 300
			codes, idKeys := make([]string, n), make([]string, n)
			for i := range n {
				email := fmt.Sprintf("t%03d@example.org", i)
				id := env.Marketo.AddLead(marketo.Lead{"email": email})
				idKeys[i] = fmt.Sprint(id)
				_, codes[i] = seedReg(env.Env, map[string]any{"email": email, "firstName": "T",
					"externalKey": fmt.Sprint(id), "sourceOfProfile": "Marketo"}, "Pre-Registered")
			}
			env.PutJob(t, syncJob("sync-trust", "Pre-Registered"))
			if r := env.RunJob(t, ctx, "sync-trust"); r.Counts[store.OutcomeUpdated] != n {
				t.Fatalf("sync %v", r.Counts)
			}
			env.Clock.Advance(tc.later)
			env.PutJob(t, triggerJob("trig-trust", func(p *config.Params) { p.Tokens = p.Tokens[:1] }))
			before := env.MarketoClient.Stats().Calls
			for b := 0; b < n; b += 100 {
				var msgs []jobs.ChangeMessage
				for _, code := range codes[b : b+100] {
					msgs = append(msgs, change(env.Env, code, "Invited", "Pre-Registered"))
				}
				noErrors(t, env.trigger.Handle(ctx, msgs))
			}
			calls := env.MarketoClient.Stats().Calls - before
			requested, trusted := 0, 0
			runs, err := env.Store.ListRuns(ctx, "trig-trust", 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range runs {
				requested += r.Counts[store.OutcomeRequested]
				trusted += r.Counts[jobs.CountIdsTrusted]
			}
			// Confirmations are kept only for a connection that trusts them.
			kept, err := env.Store.GetHashes(ctx, "leadids#"+jobstest.Account, idKeys)
			if err != nil {
				t.Fatal(err)
			}
			if (len(kept) == 0) != (tc.trust == 0) {
				t.Errorf("%d lead-id confirmations kept with leadIdTrust %s; want none exactly when it is 0", len(kept), tc.trust)
			}
			if calls != tc.wantCalls || requested != n || trusted != tc.wantTrusted {
				t.Errorf("%d Marketo calls, %d requested, %d ids trusted; want %d, %d, %d", calls, requested, trusted, tc.wantCalls, n, tc.wantTrusted)
			}
		})
	}
}
