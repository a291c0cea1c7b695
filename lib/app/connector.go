package app

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/secrets"
)

// SecretSource yields credentials by Secrets Manager id (*secrets.Manager).
type SecretSource interface {
	Marketo(ctx context.Context, id string) (secrets.MarketoCredentials, error)
	Certain(ctx context.Context, id string) (secrets.CertainCredentials, error)
}

// Connector builds the API clients of a connection and keeps them for the
// life of the process (a warm Lambda reuses them, tokens included). A
// changed connection or rotated credential builds new clients.
type Connector struct {
	Secrets        SecretSource
	Budgets        BudgetFactory
	CertainBudgets CertainBudgetFactory
	HTTPClient     *http.Client
	Logger         *slog.Logger

	mu       sync.Mutex
	clients  map[string]cached         // by account
	budgets  map[string]*watchedBudget // by Marketo instance
	cbudgets map[string]certainBudget  // by Certain host and account
}

// certainBudget is the budget of one Certain account and what sized it.
type certainBudget struct {
	size   config.CertainBudget
	budget certain.Budget
}

type cached struct {
	fingerprint [32]byte
	clients     jobs.Clients
}

var _ jobs.Connector = (*Connector)(nil)

// Connect implements jobs.Connector. The connection's defaults are applied
// here, the one place every caller (the executor, trigger-campaign, the
// detector) builds its clients through: the daily budget share, the quota
// zone and the Certain settings are the same whoever asks.
func (c *Connector) Connect(ctx context.Context, conn config.Connection) (jobs.Clients, error) {
	conn = conn.WithDefaults()
	mcred, err := c.Secrets.Marketo(ctx, conn.MarketoSecret)
	if err != nil {
		return jobs.Clients{}, fmt.Errorf("account %q: marketo credentials: %w", conn.Account, err)
	}
	ccred, err := c.Secrets.Certain(ctx, conn.CertainSecret)
	if err != nil {
		return jobs.Clients{}, fmt.Errorf("account %q: certain credentials: %w", conn.Account, err)
	}
	fp := fingerprint(conn, mcred, ccred)

	c.mu.Lock()
	defer c.mu.Unlock()
	if got, ok := c.clients[conn.Account]; ok && got.fingerprint == fp {
		return got.clients, nil
	}
	budget, err := c.budget(mcred.InstanceKey(), conn.MarketoBudget, conn.Zone())
	if err != nil {
		return jobs.Clients{}, fmt.Errorf("account %q: marketo budget: %w", conn.Account, err)
	}
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	// The secret's identityURL is the identity service as Admin shows it
	// (…/identity); lib/marketo appends /oauth/token, so it passes as given.
	mc, err := marketo.New(marketo.Config{
		BaseURL: mcred.BaseURL, IdentityURL: mcred.IdentityURL,
		ClientID: mcred.ClientID, ClientSecret: mcred.ClientSecret,
		AllowHTTP: conn.AllowHTTP, HTTPClient: c.HTTPClient, Budget: budget, QuotaZone: conn.Zone(),
		Logger: log.With("api", "marketo", "account", conn.Account),
	})
	if err != nil {
		return jobs.Clients{}, fmt.Errorf("account %q: marketo client: %w", conn.Account, err)
	}
	ccfg, err := conn.CertainConfig(ccred.Username, ccred.Password)
	if err != nil {
		return jobs.Clients{}, fmt.Errorf("account %q: certain client: %w", conn.Account, err)
	}
	if ccfg.Budget, err = c.certainBudget(conn.CertainBaseURL, conn.Account, conn.WithDefaults().CertainBudget); err != nil {
		return jobs.Clients{}, fmt.Errorf("account %q: certain budget: %w", conn.Account, err)
	}
	ccfg.HTTPClient, ccfg.Logger = c.HTTPClient, log.With("api", "certain", "account", conn.Account)
	cc, err := certain.New(ccfg)
	if err != nil {
		return jobs.Clients{}, fmt.Errorf("account %q: certain client: %w", conn.Account, err)
	}
	if c.clients == nil {
		c.clients = map[string]cached{}
	}
	cl := jobs.Clients{Marketo: mc, Certain: cc}
	c.clients[conn.Account] = cached{fingerprint: fp, clients: cl}
	return cl, nil
}

// budget returns the one budget of a Marketo instance in this process, so
// two accounts syncing to one instance share it (the first connection's
// share and quota zone size it).
func (c *Connector) budget(key string, b config.Budget, zone marketo.QuotaZone) (marketo.Budget, error) {
	if got, ok := c.budgets[key]; ok {
		return got, nil
	}
	f := c.Budgets
	if f == nil {
		f = InProcessBudgets
	}
	bud, err := f(key, b, zone)
	if err != nil {
		return nil, err
	}
	if c.budgets == nil {
		c.budgets = map[string]*watchedBudget{}
	}
	w := &watchedBudget{Budget: bud}
	c.budgets[key] = w
	return w, nil
}

// certainBudget returns the one budget of a Certain account (its host and
// account code) in this process, built anew when its size changed. mu held.
func (c *Connector) certainBudget(baseURL, account string, size config.CertainBudget) (certain.Budget, error) {
	key := account
	if u, err := url.Parse(baseURL); err == nil && u.Host != "" {
		key = strings.ToLower(u.Host) + "/" + account
	}
	if got, ok := c.cbudgets[key]; ok && got.size == size {
		return got.budget, nil
	}
	f := c.CertainBudgets
	if f == nil {
		f = InProcessCertainBudgets
	}
	b, err := f(key, size)
	if err != nil {
		return nil, err
	}
	if c.cbudgets == nil {
		c.cbudgets = map[string]certainBudget{}
	}
	c.cbudgets[key] = certainBudget{size: size, budget: b}
	return b, nil
}

// fingerprint identifies what the clients were built from; it is kept in
// memory only and never logged.
func fingerprint(conn config.Connection, m secrets.MarketoCredentials, c secrets.CertainCredentials) [32]byte {
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(conn)
	for _, s := range []string{m.BaseURL, m.IdentityURL, m.ClientID, m.ClientSecret, c.Username, c.Password} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// ReleaseBudgets gives back what the process's shared budgets, Marketo's
// and Certain's, hold (their concurrency slots and unused calls) so that
// other Lambdas of the instance or account can use them while this one is
// frozen between invocations. Budgets without
// a Close (the in-process ones) hold nothing across invocations.
func (c *Connector) ReleaseBudgets(ctx context.Context) error {
	c.mu.Lock()
	var closers []interface{ Close(context.Context) error }
	for _, b := range c.budgets {
		closers = append(closers, b)
	}
	for _, b := range c.cbudgets {
		if cl, ok := b.budget.(interface{ Close(context.Context) error }); ok {
			closers = append(closers, cl)
		}
	}
	c.mu.Unlock()
	var errs []error
	for _, b := range closers {
		if err := b.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
