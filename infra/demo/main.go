// Command demo (`make demo`) shows the whole product working on a laptop
// with nothing but Go: both simulators run in-process on loopback with the
// demo data set, the store is the embedded one, credentials come from an
// in-memory secret source, and every step goes through the handler code the
// Lambdas run (lib/testkit/inprocess wires it). It prints what each job did, in a table
// a person can read, and exits 0 when every step did what the data set
// guarantees.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
	"github.com/certain-marketo/certain-marketo/lib/testkit/inprocess"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "write the functions' logs to stderr (default: to a file)")
	regs := fs.Int("registrations", 0, "generate a data set of N registrations instead of the fixed demo set")
	seed := fs.Int64("seed", 2026, "data set seed (with -registrations)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./infra/demo [-v] [-registrations N] [-seed S]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "demo: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *regs < 0 || *regs > 200000 {
		fmt.Fprintf(stderr, "demo: -registrations %d: want 1..200000 (0 = the fixed demo set)\n", *regs)
		return 2
	}

	var logW io.Writer = stderr
	logPath := ""
	if !*verbose {
		f, err := os.CreateTemp("", "certain-marketo-demo-*.log")
		if err != nil {
			fmt.Fprintf(stderr, "demo: log file: %v\n", err)
			return 1
		}
		defer f.Close()
		logW, logPath = f, f.Name()
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(logW, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	data := demodata.Demo()
	if *regs > 0 {
		data = demodata.Generate(demodata.Options{Seed: *seed, Registrations: *regs})
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	start := time.Now()
	env, err := inprocess.Start(ctx, inprocess.Options{Data: data, Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "demo: start: %v\n", err)
		return 1
	}
	defer env.Close()
	p := &printer{out: stdout, progress: progressWriter(stderr)}
	p.intro(env, time.Since(start), logPath)
	res, err := Run(ctx, env, p)
	if err != nil {
		fmt.Fprintf(stderr, "\ndemo: %v\n", err)
		if logPath != "" {
			fmt.Fprintf(stderr, "demo: the functions' logs are in %s\n", logPath)
		}
		return 1
	}
	p.outro(env, res, time.Since(start), logPath)
	return 0
}

// progressWriter returns where progress lines go: stderr when it is a
// terminal (redrawn in place), nowhere otherwise, so piped output stays a
// clean table.
func progressWriter(stderr io.Writer) io.Writer {
	f, ok := stderr.(*os.File)
	if !ok {
		return nil
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return f
}
