// Command registration-changes is the change detector: every minute it polls
// Certain for registrations modified since its watermark and sends one
// registration-change message per status change to the SQS queue.
package main

import (
	"fmt"
	"os"

	"github.com/certain-marketo/certain-marketo/lib/app"
)

func main() {
	if err := app.MainDetector(os.LookupEnv); err != nil {
		fmt.Fprintln(os.Stderr, "registration-changes:", err)
		os.Exit(1)
	}
}
