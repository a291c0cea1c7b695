package marketo

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/clock"
)

// LocalBudgetConfig configures an in-process Budget. Zero values take the
// defaults Adobe advises for one integration: 50 calls per 20 s, 5 in flight,
// no daily limit (Marketo's own 607 still stops the run).
type LocalBudgetConfig struct {
	CallsPer20s int           // calls allowed per Window; default 50, at most 100
	Window      time.Duration // default 20 s
	Concurrent  int           // calls in flight; default 5, at most 10
	Daily       int           // calls per Chicago day; 0 = unlimited
	Now         func() time.Time
	Sleep       func(ctx context.Context, d time.Duration) error
}

// LocalBudget is a sliding-window, concurrency and daily-counter budget for
// one process. It cannot coordinate several Lambdas; lib/limit's shared
// budget does that behind the same interface.
type LocalBudget struct {
	cfg  LocalBudgetConfig
	loc  *time.Location
	slot chan struct{}

	mu       sync.Mutex
	stamps   []time.Time // one per call still inside the window; oldest first
	day      string
	dayCount int
}

var _ Budget = (*LocalBudget)(nil)

// NewLocalBudget validates cfg and returns a budget.
func NewLocalBudget(cfg LocalBudgetConfig) (*LocalBudget, error) {
	if cfg.CallsPer20s == 0 {
		cfg.CallsPer20s = 50
	}
	if cfg.Window == 0 {
		cfg.Window = 20 * time.Second
	}
	if cfg.Concurrent == 0 {
		cfg.Concurrent = 5
	}
	switch {
	case cfg.CallsPer20s < 0 || cfg.CallsPer20s > 100:
		return nil, fmt.Errorf("marketo budget: CallsPer20s %d out of range 1..100", cfg.CallsPer20s)
	case cfg.Concurrent < 0 || cfg.Concurrent > 10:
		return nil, fmt.Errorf("marketo budget: Concurrent %d out of range 1..10", cfg.Concurrent)
	case cfg.Window < 0:
		return nil, fmt.Errorf("marketo budget: negative Window %s", cfg.Window)
	case cfg.Daily < 0:
		return nil, fmt.Errorf("marketo budget: negative Daily %d", cfg.Daily)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = clock.Sleep
	}
	return &LocalBudget{cfg: cfg, loc: ChicagoLocation(), slot: make(chan struct{}, cfg.Concurrent)}, nil
}

// Acquire waits for a concurrency slot and room in the window, then counts
// the call. The returned release must be called once the answer arrived; it
// re-stamps the call at release time, because Marketo may have counted it at
// any moment until then.
func (b *LocalBudget) Acquire(ctx context.Context) (func(), error) {
	select {
	case b.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("marketo budget: waiting for a concurrency slot: %w", ctx.Err())
	}
	idx, err := b.takeWindow(ctx)
	if err != nil {
		<-b.slot
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.restamp(idx)
			b.mu.Unlock()
			<-b.slot
		})
	}, nil
}

// stampRef identifies a window entry by its acquire time; restamp moves it.
type stampRef time.Time

func (b *LocalBudget) takeWindow(ctx context.Context) (stampRef, error) {
	for {
		b.mu.Lock()
		now := b.cfg.Now()
		if b.cfg.Daily > 0 {
			day := now.In(b.loc).Format(time.DateOnly)
			if day != b.day {
				b.day, b.dayCount = day, 0
			}
			if b.dayCount >= b.cfg.Daily {
				b.mu.Unlock()
				return stampRef{}, &QuotaError{ResetAt: NextDailyReset(now, b.loc), Local: true}
			}
		}
		b.prune(now)
		if len(b.stamps) < b.cfg.CallsPer20s {
			b.stamps = append(b.stamps, now)
			b.dayCount++
			b.mu.Unlock()
			return stampRef(now), nil
		}
		wait := b.stamps[0].Add(b.cfg.Window).Sub(now)
		b.mu.Unlock()
		if wait <= 0 {
			wait = time.Millisecond
		}
		if err := b.cfg.Sleep(ctx, wait); err != nil {
			return stampRef{}, fmt.Errorf("marketo budget: waiting for the rate window: %w", err)
		}
	}
}

func (b *LocalBudget) prune(now time.Time) {
	i := 0
	for i < len(b.stamps) && !b.stamps[i].Add(b.cfg.Window).After(now) {
		i++
	}
	b.stamps = b.stamps[i:]
}

func (b *LocalBudget) restamp(ref stampRef) {
	t := time.Time(ref)
	for i, s := range b.stamps {
		if s.Equal(t) {
			b.stamps = append(b.stamps[:i], b.stamps[i+1:]...)
			b.insert(b.cfg.Now())
			return
		}
	}
}

func (b *LocalBudget) insert(t time.Time) {
	i := len(b.stamps)
	for i > 0 && b.stamps[i-1].After(t) {
		i--
	}
	b.stamps = append(b.stamps, time.Time{})
	copy(b.stamps[i+1:], b.stamps[i:])
	b.stamps[i] = t
}
