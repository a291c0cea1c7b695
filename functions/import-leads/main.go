// Command import-leads is the Lambda of two scheduled job types: Import
// Marketo Leads as Registrations (import-leads) and the account-level Import
// Marketo Leads as Profiles (import-profiles). It stays thin: lib/app decodes
// the schedule tick or direct run and builds the clients and store once per
// container; the rules live in lib/jobs.
package main

import (
	"fmt"
	"os"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

func main() {
	if err := app.MainScheduled(os.LookupEnv, map[string]jobs.JobFunc{
		config.TypeImportLeads:    jobs.ImportLeads,
		config.TypeImportProfiles: jobs.ImportProfiles,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "import-leads:", err)
		os.Exit(1)
	}
}
