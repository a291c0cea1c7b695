package marketotest

import (
	"context"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/clock"
)

// Clock is the simulator's time source. Pass the same Clock's Now and Sleep to
// the client (Config.Now/Config.Sleep) so that both sides agree on windows.
type Clock interface {
	Now() time.Time
	// Sleep waits d of clock time or until ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
	// Advance moves the clock forward by d.
	Advance(d time.Duration)
}

// FastClock runs speed times faster than wall time: a 20 s window passes in
// 20/speed seconds of real time.
type FastClock struct {
	speed     float64
	realStart time.Time
	simStart  time.Time

	mu     sync.Mutex
	offset time.Duration
}

// NewFastClock returns a clock starting at the current wall time and running
// speed (> 0) times faster. A non-positive speed is treated as 1.
func NewFastClock(speed float64) *FastClock {
	if speed <= 0 {
		speed = 1
	}
	now := time.Now()
	return &FastClock{speed: speed, realStart: now, simStart: now}
}

func (c *FastClock) Now() time.Time {
	c.mu.Lock()
	off := c.offset
	c.mu.Unlock()
	el := time.Since(c.realStart)
	return c.simStart.Add(time.Duration(float64(el)*c.speed) + off)
}

func (c *FastClock) Sleep(ctx context.Context, d time.Duration) error {
	return clock.Sleep(ctx, time.Duration(float64(d)/c.speed))
}

func (c *FastClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// ManualClock only moves when told to; its Sleep advances it instead of
// blocking (lib/clock.Manual).
type ManualClock = clock.Manual

// NewManualClock returns a manual clock set to start.
func NewManualClock(start time.Time) *ManualClock { return clock.NewManual(start) }

// Advance moves the simulator clock forward.
func (s *Server) Advance(d time.Duration) { s.opts.clock.Advance(d) }
