// Command certain-sim serves the Certain simulator (lib/certain/certaintest)
// on a loopback port, seeded with the deterministic demo data set, so that
// the jobs, curl, a local Lambda or cmctl probe-certain can be pointed at a
// Certain that behaves like the default contract of docs/certain.md, or like
// any variant a tenant could present: every simulator option is a flag.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "certain-sim:", err)
		os.Exit(1)
	}
}

func run() error {
	port := flag.Int("port", 8081, "loopback port to listen on")
	account := flag.String("account", "ACME", "account code")
	user := flag.String("user", certaintest.DefaultUsername, "Basic-auth user")
	seed := flag.Int64("seed", 2026, "demo data seed")
	size := flag.Int("registrations", 300, "registrations to generate (0 = empty account)")
	var o simFlags
	o.register(flag.CommandLine)
	var lim limitFlags
	lim.register(flag.CommandLine)
	flag.Parse()
	pass := os.Getenv("CERTAIN_SIM_PASSWORD") // kept out of argv and logs
	if pass == "" {
		pass = certaintest.DefaultPassword
	}
	if *port < 1 || *port > 65535 {
		return fmt.Errorf("-port %d is out of range", *port)
	}
	opts, err := o.options()
	if err != nil {
		return err
	}
	limOpts, err := lim.options()
	if err != nil {
		return err
	}
	srv := certaintest.New(append(append(opts, limOpts...), certaintest.WithCredentials(*user, pass))...)
	srv.AddAccount(*account)
	if *size > 0 {
		d := demodata.Generate(demodata.Options{Seed: *seed, Registrations: *size, Account: *account, Fields: srv.Fields()})
		if err := d.SeedCertain(srv); err != nil {
			return err
		}
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, os.Interrupt)
		<-stop
		_ = hs.Close()
	}()
	slog.Info("certain simulator listening", "url", "http://"+l.Addr().String(), "account", *account, "user", *user, "registrations", *size,
		"paging", o.paging, "lenient", o.lenient, "pageCap", o.pageCap, "tagsField", o.tagsField, "errorFormat", o.errorFormat,
		"rate", lim.rate, "concurrency", lim.concurrency, "latency", lim.latency.String(), "latencyMax", max(lim.latency, lim.latencyMax).String())
	if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
