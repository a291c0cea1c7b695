// Command interest-metrics is the Lambda of Upload Interest Metrics
// (interest-metrics): per attendee and tag, the points of the agenda items or
// sessions they registered for or attended, written to a Marketo custom
// object. It stays thin: lib/app decodes the schedule tick or direct run and
// builds the clients and store once per container; the rules live in
// lib/jobs.
package main

import (
	"fmt"
	"os"

	"github.com/certain-marketo/certain-marketo/lib/app"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

func main() {
	if err := app.MainScheduled(os.LookupEnv, map[string]jobs.JobFunc{config.TypeInterestMetrics: jobs.InterestMetrics}); err != nil {
		fmt.Fprintln(os.Stderr, "interest-metrics:", err)
		os.Exit(1)
	}
}
