// Command engagement-metrics is the Lambda of Upload Engagement Metrics
// (engagement-metrics): per attendee, the nine metrics of docs/jobs.md §4
// written to a Marketo custom object. It stays thin: lib/app decodes the
// schedule tick or direct run and builds the clients and store once per
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
	if err := app.MainScheduled(os.LookupEnv, map[string]jobs.JobFunc{config.TypeEngagementMetrics: jobs.EngagementMetrics}); err != nil {
		fmt.Fprintln(os.Stderr, "engagement-metrics:", err)
		os.Exit(1)
	}
}
