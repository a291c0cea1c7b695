// Command marketo-sim runs the lib/marketo/marketotest simulator as a
// standalone server on a loopback port, so that local Lambda runs and other
// clients can talk to a Marketo that enforces the real limits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "marketo-sim:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("marketo-sim", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8089", "loopback address to listen on")
	seedFile := fs.String("seed", "", "optional JSON seed file")
	opts, id, err := options(fs, os.Args[1:], os.Getenv("MARKETO_SIM_CLIENT_SECRET"))
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", *addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %q: only loopback addresses are allowed", *addr)
	}
	sim := marketotest.NewUnstarted(opts...)
	if *seedFile != "" {
		if err := sim.LoadSeedFile(*seedFile); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	sim.URL = "http://" + ln.Addr().String()
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	slog.Info("marketo simulator listening", "url", sim.URL, "clientId", id)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// options parses args with fs into simulator options: the limits, and the
// variants of what Marketo leaves undocumented. secret is the accepted
// client secret (MARKETO_SIM_CLIENT_SECRET; "" = sim-client-secret).
func options(fs *flag.FlagSet, args []string, secret string) ([]marketotest.Option, string, error) {
	rate := fs.Int("rate", 100, "calls per window before 606")
	window := fs.Duration("window", 20*time.Second, "rate window")
	conc := fs.Int("concurrency", 10, "calls in flight before 615")
	daily := fs.Int("daily", 50000, "daily quota before 607")
	zone := fs.String("quota-zone", string(marketo.DefaultQuotaZone), "when the daily quota resets: America/Chicago (daylight saving) or UTC-6")
	lifetime := fs.Duration("token-lifetime", time.Hour, "access token lifetime")
	speed := fs.Float64("speed", 1, "clock speed (x wall time)")
	latency := fs.Duration("latency", 0, "simulated latency per REST call (clock time)")
	id := fs.String("client-id", "sim-client-id", "accepted client id")
	missing := fs.String("missing-token", "603", "answer to a call without access token: 603 (Access denied, since 2022) or 600 (Empty access token)")
	legacy := fs.Bool("legacy-1003", false, "1003 messages without the value (as recorded in 2020)")
	lenient := fs.Bool("lenient-types", false, "accept the text of typed values (\"true\", \"5\") in typed fields")
	overflow := fs.String("string-overflow", "refuse", "a string longer than its field: refuse (1003) or truncate")
	coCheck := fs.Bool("co-type-check", true, "check custom object values against their field types")
	if err := fs.Parse(args); err != nil {
		return nil, "", err
	}
	z, err := marketo.ParseQuotaZone(*zone)
	if err != nil {
		return nil, "", fmt.Errorf("-quota-zone: %w", err)
	}
	if *missing != "603" && *missing != "600" {
		return nil, "", fmt.Errorf("-missing-token %q: want 603 or 600", *missing)
	}
	of := marketotest.OverflowRefuse
	switch *overflow {
	case "refuse":
	case "truncate":
		of = marketotest.OverflowTruncate
	default:
		return nil, "", fmt.Errorf("-string-overflow %q: want refuse or truncate", *overflow)
	}
	if secret == "" {
		secret = "sim-client-secret"
	}
	return []marketotest.Option{
		marketotest.WithCredentials(*id, secret), marketotest.WithRateLimit(*rate, *window),
		marketotest.WithConcurrencyLimit(*conc), marketotest.WithDailyQuota(*daily), marketotest.WithQuotaZone(z),
		marketotest.WithTokenLifetime(*lifetime), marketotest.WithClock(marketotest.NewFastClock(*speed)),
		marketotest.WithLatency(*latency), marketotest.WithMissingTokenCode(*missing), marketotest.WithLegacy1003Message(*legacy),
		marketotest.WithLenientTypes(*lenient), marketotest.WithStringOverflow(of), marketotest.WithCustomObjectTypeCheck(*coCheck),
	}, *id, nil
}
