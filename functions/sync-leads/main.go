// Command sync-leads is the Lambda of Create or Update Leads in Marketo
// (sync-leads): registrations in the job's statuses become Marketo leads
// under rules A, B and C. It stays thin: lib/app decodes the schedule tick or
// direct run and builds the clients and store once per container; the rules
// live in lib/jobs.
package main

import (
	"fmt"
	"os"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

func main() {
	if err := app.MainScheduled(os.LookupEnv, map[string]jobs.JobFunc{config.TypeSyncLeads: jobs.SyncLeads}); err != nil {
		fmt.Fprintln(os.Stderr, "sync-leads:", err)
		os.Exit(1)
	}
}
