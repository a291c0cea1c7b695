package jobs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// echoTokenMarketo answers every list page after the first with the token it
// was sent, as a broken server (or proxy) might.
type echoTokenMarketo struct{ jobs.Marketo }

func (m echoTokenMarketo) ListLeadsPage(ctx context.Context, listID int, fields []string, token string, batchSize int) (marketo.ListPage, error) {
	p, err := m.Marketo.ListLeadsPage(ctx, listID, fields, token, batchSize)
	if err == nil && token != "" {
		p.NextPageToken = token
	}
	return p, err
}

// An import whose list pages repeat their token stops with an error naming
// it, after registering what it read, instead of looping until the deadline.
func TestImportStopsOnRepeatedPageToken(t *testing.T) {
	e := newImportEnv(t)
	e.addLeads(650) // three pages
	clients := e.Clients
	clients.Marketo = echoTokenMarketo{clients.Marketo}
	e.Executor.Connector = jobstest.StaticConnector{Clients: clients, Account: jobstest.Account}
	e.PutJob(t, leadsJob(listID))
	run := e.run(t, "import-hs26")
	if run.Outcome != store.RunFailed || !strings.Contains(run.Error, "page token it was sent") {
		t.Fatalf("run = %s %q, want failed naming the repeated page token", run.Outcome, run.Error)
	}
	if got := run.Counts[jobs.CountRegistrationsCreated]; got != 600 {
		t.Fatalf("registrations created = %d, want the first two pages' 600", got)
	}
}
