// Command trigger-campaign is the Lambda of Trigger Marketo Campaign: it
// consumes SQS batches of registration-change messages and requests the
// matching Marketo smart campaigns, idempotently per change, reporting
// failures per message (partial batch response).
package main

import (
	"fmt"
	"os"

	"github.com/certain-marketo/certain-marketo/lib/app"
)

func main() {
	if err := app.MainTrigger(os.LookupEnv); err != nil {
		fmt.Fprintln(os.Stderr, "trigger-campaign:", err)
		os.Exit(1)
	}
}
