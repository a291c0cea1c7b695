package limit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// InProcess is a sliding-window, concurrency and daily-counter budget for
// one process (a Marketo instance's), or a paced concurrency budget (a
// Certain account's, NewInProcessCertain). It cannot coordinate several
// Lambdas; Shared does that behind the same interface.
type InProcess struct {
	cfg  Config
	loc  *time.Location
	slot chan struct{}

	mu       sync.Mutex
	next     time.Time   // a paced budget's next free slot (paced.go)
	stamps   []time.Time // one per call still inside the window; oldest first
	day      string
	dayCount int
}

var _ marketo.Budget = (*InProcess)(nil)

// NewInProcess validates cfg and returns an in-process budget. It uses
// CallsPer20s, Window, Concurrent, Daily, Now and Sleep; zero values take
// the defaults Adobe advises for one integration: 50 calls per 20 s, 5 in
// flight, no daily limit (Marketo's own 607 still stops the run).
func NewInProcess(cfg Config) (*InProcess, error) {
	return newInProcess(cfg.withDefaults())
}

// newInProcess returns the in-process budget of cfg, which has its defaults.
func newInProcess(cfg Config) (*InProcess, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &InProcess{cfg: cfg, loc: cfg.QuotaZone.Location(), slot: make(chan struct{}, cfg.Concurrent)}
	return b, nil
}

// Acquire waits for a concurrency slot and room in the window, then counts
// the call. The returned release must be called once the answer arrived; it
// re-stamps the call at release time, because Marketo may have counted it at
// any moment until then.
func (b *InProcess) Acquire(ctx context.Context) (func(), error) {
	select {
	case b.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: waiting for a concurrency slot: %w", b.cfg.label(), ctx.Err())
	}
	if b.cfg.pace > 0 {
		if err := b.takePace(ctx); err != nil {
			<-b.slot
			return nil, err
		}
		var once sync.Once
		return func() { once.Do(func() { <-b.slot }) }, nil
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

func (b *InProcess) takeWindow(ctx context.Context) (stampRef, error) {
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
				return stampRef{}, &marketo.QuotaError{ResetAt: marketo.NextDailyReset(now, b.loc), Local: true}
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
			return stampRef{}, fmt.Errorf("%s: waiting for the rate window: %w", b.cfg.label(), err)
		}
	}
}

func (b *InProcess) prune(now time.Time) {
	i := 0
	for i < len(b.stamps) && !b.stamps[i].Add(b.cfg.Window).After(now) {
		i++
	}
	b.stamps = b.stamps[i:]
}

func (b *InProcess) restamp(ref stampRef) {
	t := time.Time(ref)
	for i, s := range b.stamps {
		if s.Equal(t) {
			b.stamps = append(b.stamps[:i], b.stamps[i+1:]...)
			b.insert(b.cfg.Now())
			return
		}
	}
}

func (b *InProcess) insert(t time.Time) {
	i := len(b.stamps)
	for i > 0 && b.stamps[i-1].After(t) {
		i--
	}
	b.stamps = append(b.stamps, time.Time{})
	copy(b.stamps[i+1:], b.stamps[i:])
	b.stamps[i] = t
}
