// Command cmctl is the certain-marketo operator command: validate and put
// configuration, list and run jobs, read run records and redrive the
// registration-change DLQ. Its logic lives in infra/cmctl/ops; this file
// only hands it the environment and turns its result into the exit code.
// Run `cmctl help` for the commands and the file formats.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/certain-marketo/certain-marketo/infra/cmctl/ops"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := ops.Main(ctx, os.Args[1:], ops.Env{Stdout: os.Stdout, Stderr: os.Stderr, Lookup: os.LookupEnv})
	stop()
	os.Exit(code)
}
