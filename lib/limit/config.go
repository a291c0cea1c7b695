package limit

import (
	"context"
	"time"
)

// Config is the budget of one Marketo instance. Zero values take defaults.
type Config struct {
	CallsPer20s int           // calls per Window; default 50, at most 100
	Window      time.Duration // default 20 s
	Concurrent  int           // calls in flight; default 5, at most 10
	Daily       int           // calls per Chicago day; 0 = no local daily limit
	// Margin is added to every call's time in the window, for clock skew
	// between Lambdas, whose stamps are compared with each other's clocks
	// (default 500 ms; Lambda hosts keep time through the Amazon Time Sync
	// Service, within milliseconds). Each millisecond of margin costs
	// throughput: a call occupies the window for Window+Margin+latency.
	Margin time.Duration
	// MaxCall is the longest a call may stay in flight at Marketo (default
	// 125 s: Marketo's longest server timeout is 120 s).
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
}
