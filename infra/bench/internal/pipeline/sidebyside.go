package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
)

// SideBySide is one upsert of new leads done two ways against the same
// simulated Marketo (limits and latencies of Setup): the way a script with
// a popular Marketo client does it (batches of 300 one after the other, no
// shared budget, the token fetched once), and with the product's client
// (its budget, batches in flight up to the budget's concurrency).
type SideBySide struct {
	Leads          int     `json:"leads"`
	ScriptSeconds  float64 `json:"scriptSeconds"`
	ScriptCalls    int     `json:"scriptCalls"`
	ProductSeconds float64 `json:"productSeconds"`
	ProductCalls   int     `json:"productCalls"`
	// Ratio is ScriptSeconds ÷ ProductSeconds.
	Ratio      float64 `json:"ratio"`
	Script606  int     `json:"script606"`
	Product606 int     `json:"product606"`
}

// RunSideBySide measures both ways inside the caller's synctest bubble,
// each on a fresh simulator (every lead is new to both).
func RunSideBySide(ctx context.Context, s Setup, leads int) (SideBySide, error) {
	out := SideBySide{Leads: leads}
	batches := leadBatches(leads)
	var err error
	if out.ScriptSeconds, out.ScriptCalls, out.Script606, err = timed(s, func(clk *marketotest.FastClock, mk *marketotest.Server, h http.Handler) error {
		return scriptUpsert(ctx, mk, client(h), batches)
	}); err != nil {
		return out, fmt.Errorf("script: %w", err)
	}
	if out.ProductSeconds, out.ProductCalls, out.Product606, err = timed(s, func(clk *marketotest.FastClock, mk *marketotest.Server, h http.Handler) error {
		return productUpsert(ctx, s, clk, mk, client(h), batches)
	}); err != nil {
		return out, fmt.Errorf("product: %w", err)
	}
	if out.ProductSeconds > 0 {
		out.Ratio = out.ScriptSeconds / out.ProductSeconds
	}
	return out, nil
}

func leadBatches(n int) [][]marketo.Lead {
	var out [][]marketo.Lead
	for i := 0; i < n; i += 300 {
		var b []marketo.Lead
		for k := i; k < min(i+300, n); k++ {
			b = append(b, marketo.Lead{"email": fmt.Sprintf("side%06d@prospect.example", k), "firstName": "Side", "lastName": fmt.Sprint(k)})
		}
		out = append(out, b)
	}
	return out
}

// timed runs fn against a fresh simulator and returns the simulated
// seconds it took, the REST calls it made (the token not counted) and the
// 606 answers among them.
func timed(s Setup, fn func(*marketotest.FastClock, *marketotest.Server, http.Handler) error) (float64, int, int, error) {
	clk := marketotest.NewFastClock(1)
	clk.Advance(start.Sub(clk.Now()))
	mk := marketotest.NewUnstarted(marketotest.WithClock(clk), marketotest.WithRateLimit(s.MarketoCallsPer20s, 20*time.Second),
		marketotest.WithConcurrencyLimit(s.MarketoConcurrent), marketotest.WithLatency(s.MarketoLatencyMin))
	mk.URL = "http://marketo.sim"
	h := &latencyHandler{next: mk, clock: clk, spread: s.MarketoLatencyMax - s.MarketoLatencyMin, rng: rand.New(rand.NewPCG(uint64(s.Seed), 11))}
	t0 := clk.Now()
	err := fn(clk, mk, h)
	secs := clk.Now().Sub(t0).Seconds()
	calls, n606 := 0, 0
	for _, c := range mk.Calls() {
		if c.Path == "/identity/oauth/token" {
			continue
		}
		calls++
		if c.Code == "606" {
			n606++
		}
	}
	return secs, calls, n606, err
}

// scriptUpsert is the script: a token, then POST /rest/v1/leads.json with
// 300 leads at a time, each call after the previous one answered.
func scriptUpsert(ctx context.Context, mk *marketotest.Server, hc *http.Client, batches [][]marketo.Lead) error {
	q := url.Values{"grant_type": {"client_credentials"}, "client_id": {mk.ClientID()}, "client_secret": {mk.ClientSecret()}}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := call(ctx, hc, http.MethodGet, mk.URL+"/identity/oauth/token?"+q.Encode(), "", nil, &tok); err != nil {
		return err
	}
	for i, b := range batches {
		body, err := json.Marshal(map[string]any{"action": "createOrUpdate", "lookupField": "email", "input": b})
		if err != nil {
			return err
		}
		var res struct {
			Success bool `json:"success"`
			Errors  []struct {
				Code, Message string
			} `json:"errors"`
		}
		if err := call(ctx, hc, http.MethodPost, mk.URL+"/rest/v1/leads.json", tok.AccessToken, body, &res); err != nil {
			return err
		}
		if !res.Success {
			return fmt.Errorf("batch %d: %v", i, res.Errors)
		}
	}
	return nil
}

func call(ctx context.Context, hc *http.Client, method, u, token string, body []byte, into any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d", method, req.URL.Path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

// productUpsert sends the same batches through the product's client and
// budget, as many at once as the budget lets in.
func productUpsert(ctx context.Context, s Setup, clk *marketotest.FastClock, mk *marketotest.Server, hc *http.Client, batches [][]marketo.Lead) error {
	b, err := limit.NewInProcess(limit.Config{CallsPer20s: s.MarketoCallsPer20s, Concurrent: s.MarketoConcurrent, Now: clk.Now, Sleep: clk.Sleep})
	if err != nil {
		return err
	}
	mc, err := mk.NewClient(func(c *marketo.Config) { c.Budget = b; c.HTTPClient = hc })
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.MarketoConcurrent)
	for i, batch := range batches {
		g.Go(func() error {
			res, err := mc.SyncLeads(gctx, marketo.SyncLeadsRequest{Action: marketo.ActionCreateOrUpdate, Input: batch})
			if err != nil {
				return fmt.Errorf("batch %d: %w", i, err)
			}
			if len(res) != len(batch) {
				return fmt.Errorf("batch %d: %d results for %d leads", i, len(res), len(batch))
			}
			return nil
		})
	}
	return g.Wait()
}
