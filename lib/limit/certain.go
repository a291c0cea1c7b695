package limit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
)

// Certain budget defaults and ceilings. Certain publishes no limit
// (docs/certain.md §3): the defaults stay below what public clients are
// seen to run (20 calls at once), and within them lib/certain's adaptive
// limit finds what the tenant really tolerates.
const (
	DefaultCertainConcurrent     = 16
	DefaultCertainCallsPerSecond = 50
	MaxCertainConcurrent         = 64
	MaxCertainCallsPerSecond     = 1000
)

// CertainConfig is the budget of one Certain account: every Certain call
// of every Lambda of the account takes from it. Zero values take defaults.
// Unlike Marketo's, it has no window and no daily count: calls start at
// their own slots of one schedule, at most CallsPerSecond in any sliding
// second (paced.go), and at most Concurrent are in flight, with the same
// leases of slots and blocks as Config (see the package documentation).
type CertainConfig struct {
	Concurrent     int // calls in flight, default 16, at most 64
	CallsPerSecond int // calls started per second, default 50, at most 1000
	// MaxCall is the longest a call may stay in flight (default 65 s: the
	// Certain client's HTTP timeout is 60 s).
	MaxCall time.Duration
	// LeaseTTL is how long a slot lease lives without renewal (default
	// MaxCall+25 s; more than MaxCall).
	LeaseTTL time.Duration
	// Block is the most calls taken in one write (default
	// CallsPerSecond/10, at least 1); Burst how many slots ahead of now
	// the shared schedule may be reserved (default Block). Neither lets a
	// call start before its slot.
	Block, Burst int
	// UseBy and IdleGrace as in Config (defaults 2 s and 1 s).
	UseBy, IdleGrace time.Duration
	Now              func() time.Time
	Sleep            func(ctx context.Context, d time.Duration) error
}

// config returns the budget settings of c, defaults filled in.
func (c CertainConfig) config() Config {
	if c.Concurrent == 0 {
		c.Concurrent = DefaultCertainConcurrent
	}
	if c.CallsPerSecond == 0 {
		c.CallsPerSecond = DefaultCertainCallsPerSecond
	}
	if c.MaxCall == 0 {
		c.MaxCall = 65 * time.Second
	}
	if c.Block == 0 {
		c.Block = max(1, c.CallsPerSecond/10)
	}
	cfg := Config{Concurrent: c.Concurrent, CallsPer20s: c.CallsPerSecond, MaxCall: c.MaxCall, LeaseTTL: c.LeaseTTL,
		Block: c.Block, Burst: c.Burst, UseBy: c.UseBy, IdleGrace: c.IdleGrace, Now: c.Now, Sleep: c.Sleep,
		pace: paceOf(c.CallsPerSecond), name: "certain budget"}
	return cfg.withDefaults()
}

// validatePaced reports the first setting of a paced budget out of range.
func (cfg Config) validatePaced() error {
	switch {
	case cfg.CallsPer20s < 1 || cfg.CallsPer20s > MaxCertainCallsPerSecond:
		return fmt.Errorf("limit: CallsPerSecond %d out of range 1..%d", cfg.CallsPer20s, MaxCertainCallsPerSecond)
	case cfg.Concurrent < 1 || cfg.Concurrent > MaxCertainConcurrent:
		return fmt.Errorf("limit: Concurrent %d out of range 1..%d", cfg.Concurrent, MaxCertainConcurrent)
	case cfg.Block < 1 || cfg.Block > cfg.CallsPer20s:
		return fmt.Errorf("limit: Block %d out of range 1..CallsPerSecond (%d)", cfg.Block, cfg.CallsPer20s)
	case cfg.Burst < cfg.Block || cfg.Burst > cfg.CallsPer20s:
		return fmt.Errorf("limit: Burst %d out of range Block (%d)..CallsPerSecond (%d)", cfg.Burst, cfg.Block, cfg.CallsPer20s)
	case cfg.MaxCall < 0 || cfg.UseBy < 0:
		return errors.New("limit: negative MaxCall or UseBy")
	case cfg.LeaseTTL <= cfg.MaxCall:
		return fmt.Errorf("limit: LeaseTTL %s must be longer than MaxCall %s", cfg.LeaseTTL, cfg.MaxCall)
	}
	return nil
}

var (
	_ certain.Budget = (*Shared)(nil)
	_ certain.Budget = (*InProcess)(nil)
)

// NewSharedCertain returns the budget of the Certain account accountKey
// (its host and account code) kept in table (the state table), item
// "certain-budget#<accountKey>".
func NewSharedCertain(api DynamoAPI, table, accountKey string, cfg CertainConfig) (*Shared, error) {
	return newShared(api, table, "certain-budget#", accountKey, cfg.config())
}

// NewInProcessCertain returns the budget of a Certain account held in this
// process only (make demo, tests): Concurrent slots and the CallsPerSecond
// pace, shared by the process's clients of the account.
func NewInProcessCertain(cfg CertainConfig) (*InProcess, error) {
	return newInProcess(cfg.config())
}
