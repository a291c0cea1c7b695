// Command import-leads is the Lambda of two scheduled job types: Import
// Marketo Leads as Registrations (import-leads) and the account-level Import
// Marketo Leads as Profiles (import-profiles). It stays thin: lib/app decodes
// the schedule tick or direct run and builds the clients and store once per
// container; the rules live in lib/jobs.
package main

import (
	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

func main() {
	app.MainScheduled(map[string]jobs.JobFunc{
		config.TypeImportLeads:    jobs.ImportLeads,
		config.TypeImportProfiles: jobs.ImportProfiles,
	})
}
