// Command marketo-sim runs the lib/marketo/marketotest simulator as a
// standalone server on a loopback port, so that local Lambda runs and other
// clients can talk to a Marketo that enforces the real limits.
package main

import (
	"context"
	"encoding/json"
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

// seed is the JSON seed file format.
type seed struct {
	Leads []marketo.Lead `json:"leads"`
	Lists []struct {
		ID      int    `json:"id"`
		Name    string `json:"name"`
		LeadIDs []int  `json:"leadIds"`
	} `json:"lists"`
	Campaigns []struct {
		ID          int    `json:"id"`
		Name        string `json:"name"`
		Type        string `json:"type"`
		Active      bool   `json:"active"`
		Requestable bool   `json:"requestable"`
	} `json:"campaigns"`
	CustomObjects []struct {
		Name         string   `json:"name"`
		DedupeFields []string `json:"dedupeFields"`
		LinkField    string   `json:"linkField"`
		Fields       []struct {
			Name     string `json:"name"`
			DataType string `json:"dataType"`
		} `json:"fields"`
	} `json:"customObjects"`
	LeadFields []struct {
		Name     string `json:"name"`
		DataType string `json:"dataType"`
	} `json:"leadFields"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "marketo-sim:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8089", "loopback address to listen on")
	rate := flag.Int("rate", 100, "calls per window before 606")
	window := flag.Duration("window", 20*time.Second, "rate window")
	conc := flag.Int("concurrency", 10, "calls in flight before 615")
	daily := flag.Int("daily", 50000, "daily quota before 607")
	lifetime := flag.Duration("token-lifetime", time.Hour, "access token lifetime")
	speed := flag.Float64("speed", 1, "clock speed (x wall time)")
	latency := flag.Duration("latency", 0, "simulated latency per REST call (clock time)")
	id := flag.String("client-id", "sim-client-id", "accepted client id")
	seedFile := flag.String("seed", "", "optional JSON seed file")
	flag.Parse()
	secret := os.Getenv("MARKETO_SIM_CLIENT_SECRET")
	if secret == "" {
		secret = "sim-client-secret"
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", *addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %q: only loopback addresses are allowed", *addr)
	}
	sim := marketotest.NewUnstarted(
		marketotest.WithCredentials(*id, secret), marketotest.WithRateLimit(*rate, *window),
		marketotest.WithConcurrencyLimit(*conc), marketotest.WithDailyQuota(*daily),
		marketotest.WithTokenLifetime(*lifetime), marketotest.WithClock(marketotest.NewFastClock(*speed)),
		marketotest.WithLatency(*latency))
	if *seedFile != "" {
		if err := loadSeed(sim, *seedFile); err != nil {
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
	slog.Info("marketo simulator listening", "url", sim.URL, "clientId", *id, "rate", *rate, "window", *window, "concurrency", *conc, "daily", *daily, "speed", *speed)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func loadSeed(sim *marketotest.Server, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	var sd seed
	if err := json.Unmarshal(b, &sd); err != nil {
		return fmt.Errorf("seed %s: %w", path, err)
	}
	for _, f := range sd.LeadFields {
		sim.AddLeadField(marketo.LeadField{Name: f.Name, DataType: f.DataType})
	}
	for _, l := range sd.Leads {
		sim.AddLead(l)
	}
	for _, l := range sd.Lists {
		sim.AddList(l.ID, l.Name, l.LeadIDs)
	}
	for _, c := range sd.Campaigns {
		sim.AddCampaign(marketotest.Campaign{ID: c.ID, Name: c.Name, Type: c.Type, Active: c.Active, Requestable: c.Requestable})
	}
	for _, co := range sd.CustomObjects {
		t := marketotest.CustomObjectType{Name: co.Name, DedupeFields: co.DedupeFields, LinkField: co.LinkField}
		for _, f := range co.Fields {
			t.Fields = append(t.Fields, marketo.CustomObjectField{Name: f.Name, DataType: f.DataType, Updatable: true})
		}
		sim.AddCustomObjectType(t)
	}
	return nil
}
