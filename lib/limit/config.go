package limit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/clock"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// Config is the budget of one Marketo instance. Zero values take defaults.
// InProcess reads CallsPer20s, Window, Concurrent, Daily, Now and Sleep;
// the other settings tune Shared. A Certain account's budget is built from
// CertainConfig instead (certain.go), which sets pace.
type Config struct {
	CallsPer20s int           // calls per Window; default 50, at most 100
	Window      time.Duration // default 20 s
	Concurrent  int           // calls in flight; default 5, at most 10
	Daily       int           // calls per quota day; 0 = none of the budget's own
	// QuotaZone is the clock of the daily count: its day starts at the
	// zone's midnight, as Marketo's quota does (default America/Chicago).
	// The client's Config.QuotaZone must be the same (lib/app sets both
	// from the connection's quotaZone).
	QuotaZone marketo.QuotaZone
	// Margin is added to every call's time in the window, for clock skew
	// between Lambdas, whose stamps are compared with each other's clocks
	// (default 500 ms; Lambda hosts keep time through the Amazon Time Sync
	// Service, within milliseconds). Each millisecond of margin costs
	// throughput: a call occupies the window for Window+Margin+latency.
	Margin time.Duration
	// MaxCall is the longest a call may stay in flight at Marketo (default
	// marketo.MaxCallTime, 125 s: Marketo's longest server timeout is 120 s,
	// and lib/marketo ends every call within it whatever its HTTP client).
	MaxCall time.Duration
	// LeaseTTL is how long a slot lease lives without renewal; a dead
	// Lambda's slots come back after it (default MaxCall+25 s; more than
	// MaxCall).
	LeaseTTL time.Duration
	// Block is the most calls taken from the window in one write (default
	// CallsPer20s/10, at least 1).
	Block int
	// Burst is how many calls the pacing schedule may grant ahead of its
	// steady rate (default Block).
	Burst int
	// UseBy: calls of a block not started within UseBy of its grant are
	// given back (default 2 s).
	UseBy time.Duration
	// IdleGrace: slots and unused calls a process has not needed for this
	// long are given back (default 1 s; negative: only on Close or expiry).
	IdleGrace time.Duration
	Now       func() time.Time
	Sleep     func(ctx context.Context, d time.Duration) error

	// pace, when set, makes the budget a paced one (a Certain account's):
	// one call per pace with Burst calls ahead of it, and no window
	// (CallsPer20s and Window are unused). Only CertainConfig sets it.
	pace time.Duration
	// name labels the budget's errors ("marketo budget" when empty).
	name string
}

// label is the budget's name in its errors.
func (cfg Config) label() string {
	if cfg.name == "" {
		return "marketo budget"
	}
	return cfg.name
}

// withDefaults returns cfg with every zero field set to its default.
func (cfg Config) withDefaults() Config {
	if cfg.CallsPer20s == 0 {
		cfg.CallsPer20s = 50
	}
	if cfg.Concurrent == 0 {
		cfg.Concurrent = 5
	}
	// A paced budget has no window (and so no margin for it).
	if cfg.Window == 0 && cfg.pace == 0 {
		cfg.Window = 20 * time.Second
	}
	if cfg.Margin == 0 && cfg.pace == 0 {
		cfg.Margin = 500 * time.Millisecond
	}
	if cfg.MaxCall == 0 {
		cfg.MaxCall = marketo.MaxCallTime
	}
	cfg.QuotaZone = cfg.QuotaZone.OrDefault()
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = cfg.MaxCall + 25*time.Second
	}
	if cfg.Block == 0 {
		cfg.Block = max(1, cfg.CallsPer20s/10)
	}
	if cfg.UseBy == 0 {
		cfg.UseBy = 2 * time.Second
	}
	if cfg.Burst == 0 {
		cfg.Burst = cfg.Block
	}
	if cfg.IdleGrace == 0 {
		cfg.IdleGrace = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = clock.Sleep
	}
	return cfg
}

// validate reports the first setting out of range, after withDefaults.
func (cfg Config) validate() error {
	if cfg.pace > 0 {
		return cfg.validatePaced()
	}
	switch {
	case cfg.CallsPer20s < 0 || cfg.CallsPer20s > 100:
		return fmt.Errorf("limit: CallsPer20s %d out of range 1..100", cfg.CallsPer20s)
	case cfg.Concurrent < 0 || cfg.Concurrent > 10:
		return fmt.Errorf("limit: Concurrent %d out of range 1..10", cfg.Concurrent)
	case cfg.Daily < 0:
		return fmt.Errorf("limit: negative Daily %d", cfg.Daily)
	case cfg.Block < 0 || cfg.Block > cfg.CallsPer20s:
		return fmt.Errorf("limit: Block %d out of range 1..CallsPer20s (%d)", cfg.Block, cfg.CallsPer20s)
	case cfg.Burst < cfg.Block || cfg.Burst > cfg.CallsPer20s:
		return fmt.Errorf("limit: Burst %d out of range Block (%d)..CallsPer20s (%d)", cfg.Burst, cfg.Block, cfg.CallsPer20s)
	case cfg.Window < 0 || cfg.Margin < 0 || cfg.MaxCall < 0 || cfg.UseBy < 0:
		return errors.New("limit: negative Window, Margin, MaxCall or UseBy")
	case cfg.LeaseTTL <= cfg.MaxCall:
		return fmt.Errorf("limit: LeaseTTL %s must be longer than MaxCall %s", cfg.LeaseTTL, cfg.MaxCall)
	}
	if _, err := marketo.ParseQuotaZone(string(cfg.QuotaZone)); err != nil {
		return fmt.Errorf("limit: %w", err)
	}
	return nil
}
