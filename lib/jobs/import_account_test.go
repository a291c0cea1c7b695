package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// anyAccountConnector serves the harness's clients for every account, so a
// connection for a mistyped account reaches the simulators (as it would
// reach Certain).
type anyAccountConnector struct{ clients jobs.Clients }

func (c anyAccountConnector) Connect(context.Context, config.Connection) (jobs.Clients, error) {
	return c.clients, nil
}

// import-profiles tells an account without a single profile (Certain
// answers 404 for its profiles, as for an unknown account) from a mistyped
// account: the first is imported into, the second stops the run before any
// Marketo call or Certain write with a configuration error naming the
// account setting, instead of a run that "succeeds" with nothing imported.
func TestImportProfilesEmptyAccountVersusUnknownAccount(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeImportProfiles, jobs.ImportProfiles))
	ctx := context.Background()
	a := env.Marketo.AddLead(marketo.Lead{"email": "first@example.com", "firstName": "First"})
	b := env.Marketo.AddLead(marketo.Lead{"email": "second@example.com", "firstName": "Second"})
	env.Marketo.AddList(listID, "new account", []int{a, b})
	job := func(id, account string) config.Job {
		return config.Job{ID: id, Account: account, Type: config.TypeImportProfiles, Name: "profiles", Enabled: true,
			Schedule: config.Schedule{Interval: config.Duration(time.Hour)}, Params: config.Params{ListID: listID}}
	}

	// The harness's account exists with no profile and no event.
	if n := len(env.Certain.Profiles(jobstest.Account)); n != 0 {
		t.Fatalf("%d profiles before the import", n)
	}
	env.PutJob(t, job("profiles-new", jobstest.Account))
	run := env.RunJob(t, ctx, "profiles-new")
	if run.Outcome != store.RunSucceeded || run.Counts[store.OutcomeCreated] != 2 || len(env.Certain.Profiles(jobstest.Account)) != 2 {
		t.Fatalf("import into an account without profiles: %s %q %v, %d profiles; want 2 created", run.Outcome, run.Error, run.Counts, len(env.Certain.Profiles(jobstest.Account)))
	}

	// A connection and job for a mistyped account code.
	typo := env.Conn
	typo.Account = "ACMEE"
	if err := env.Store.PutConnection(ctx, typo); err != nil {
		t.Fatal(err)
	}
	env.Executor.Connector = anyAccountConnector{env.Clients}
	env.PutJob(t, job("profiles-typo", "ACMEE"))
	env.Clock.Advance(time.Minute)
	calls := len(env.Marketo.Calls())
	run = env.RunJob(t, ctx, "profiles-typo")
	if run.Outcome != store.RunFailed || run.MarketoCalls != 0 || len(env.Marketo.Calls()) != calls {
		t.Fatalf("mistyped account: %s %v, %d Marketo calls; want failed before any Marketo call", run.Outcome, run.Counts, run.MarketoCalls)
	}
	for _, want := range []string{`job "profiles-typo"`, `account "ACMEE" not found in Certain`, "check the account of the job and of its connection", jobs.ErrConfig.Error()} {
		if !strings.Contains(run.Error, want) {
			t.Errorf("error %q does not contain %q", run.Error, want)
		}
	}
	if n := env.Certain.CountCalls("POST", ""); n != 2 {
		t.Errorf("%d Certain writes in all, want the first import's 2", n)
	}
}
