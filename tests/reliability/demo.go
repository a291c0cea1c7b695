package reliability

import (
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
)

// eventJobs are the demo's jobs of the data set's main event (lib/testkit/demodata's
// configuration, which make demo runs too), without the account-level
// profile import: the world does not seed that job's second list.
func eventJobs(d *demodata.Dataset) []config.Job {
	var out []config.Job
	for _, j := range demodata.DemoJobs(d) {
		if j.Type != config.TypeImportProfiles {
			out = append(out, j)
		}
	}
	return out
}
