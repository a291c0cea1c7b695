package limit

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Acquire waits for a slot and a call, counts the call and returns its
// release. It returns *marketo.QuotaError when the daily budget is used up,
// and ctx's error when ctx ends while waiting.
func (d *Shared) Acquire(ctx context.Context) (func(), error) {
	d.mu.Lock()
	d.waiting++
	defer func() { d.waiting--; d.mu.Unlock() }()
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", d.cfg.label(), err)
		}
		now := d.cfg.Now()
		if b := d.spare(now); b != nil && d.inflight < d.slots && d.until >= now.Add(d.cfg.MaxCall).UnixMilli() {
			wait := d.cfg.slotWait(b, now)
			d.stats.SlotsMissed += b.missed
			b.missed = 0
			if b.started == b.n {
				continue // every slot left in b went by unused
			}
			if wait > 0 {
				// A paced block's next call has its own slot: wait for it.
				d.mu.Unlock()
				err := d.cfg.Sleep(ctx, wait)
				d.mu.Lock()
				if err != nil {
					return nil, fmt.Errorf("%s: waiting for the pace: %w", d.cfg.label(), err)
				}
				continue
			}
			b.started++
			d.inflight++
			d.stats.Grants++
			var once sync.Once
			return func() { once.Do(func() { d.release(b) }) }, nil
		}
		if !d.syncing {
			d.syncing = true
			gen := d.gen
			d.mu.Unlock()
			did, err := d.sync(ctx)
			d.mu.Lock()
			d.syncing = false
			d.broadcast()
			if err != nil {
				return nil, err
			}
			if did || d.gen != gen {
				continue
			}
			// Only a release in this process can help (every slot is in use here).
		}
		ch := d.wake
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		d.mu.Lock()
	}
}

// spare returns a block with a call that may still be handed out. mu held.
func (d *Shared) spare(now time.Time) *heldBlock {
	for _, b := range d.blocks {
		if b.started < b.n && now.Before(b.granted.Add(d.cfg.UseBy)) {
			return b
		}
	}
	return nil
}

func (d *Shared) release(b *heldBlock) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inflight--
	d.gen++
	b.answered++
	b.ends = append(b.ends, d.cfg.Now().Add(d.cfg.Window+d.cfg.Margin).UnixMilli())
	d.broadcast()
	d.startIdle()
}

// startIdle starts the idle give-back when the process holds more than it
// needs and nobody waits (they would do it). mu held.
func (d *Shared) startIdle() {
	if d.idleOn || d.cfg.IdleGrace < 0 || d.waiting > 0 || !d.surplus() {
		return
	}
	d.idleOn = true
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.UseBy+d.cfg.IdleGrace+30*time.Second)
	d.idleStop = cancel
	d.idleWG.Add(1)
	go d.idle(ctx) // ended and waited for by Close
}

// surplus: slots beyond the calls in flight, or a block with nothing in
// flight that is or will be closable. (A block with calls in flight waits
// for their release, which starts the give-back again.) mu held.
func (d *Shared) surplus() bool {
	if d.slots > d.inflight+d.waiting {
		return true
	}
	for _, b := range d.blocks {
		if b.answered == b.started {
			return true
		}
	}
	return false
}

func (d *Shared) idle(ctx context.Context) {
	defer d.idleWG.Done()
	for {
		if d.cfg.Sleep(ctx, d.cfg.IdleGrace) != nil {
			break
		}
		d.mu.Lock()
		if d.waiting > 0 || !d.surplus() {
			d.mu.Unlock()
			break
		}
		if d.syncing {
			d.mu.Unlock()
			continue
		}
		d.syncing = true
		d.mu.Unlock()
		_, err := d.sync(ctx)
		d.mu.Lock()
		d.syncing = false
		d.broadcast()
		d.mu.Unlock()
		if err != nil {
			break
		}
	}
	d.mu.Lock()
	d.idleOn = false
	d.idleStop()
	d.mu.Unlock()
}

// stopIdle ends the idle give-back, if running, and waits for it, so that no
// goroutine of the budget outlives an invocation.
func (d *Shared) stopIdle() {
	d.mu.Lock()
	stop := d.idleStop
	d.mu.Unlock()
	if stop != nil {
		stop()
	}
	d.idleWG.Wait()
}

// Close gives back every slot and unused call now (at the end of an
// invocation, so that a frozen Lambda holds nothing). Calls still in flight
// keep their slots; the budget stays usable.
func (d *Shared) Close(ctx context.Context) error {
	d.stopIdle()
	d.mu.Lock()
	for d.syncing {
		ch := d.wake
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%s: close: %w", d.cfg.label(), ctx.Err())
		}
		d.mu.Lock()
	}
	d.syncing = true
	for _, b := range d.blocks {
		b.n = b.started // nothing more will be handed out
	}
	d.mu.Unlock()
	_, err := d.sync(ctx)
	d.mu.Lock()
	d.syncing = false
	d.broadcast()
	d.mu.Unlock()
	return err
}

// needs says what the process wants from the item. mu held.
func (d *Shared) needs(now time.Time) need {
	var n need
	n.slots = min(d.cfg.Concurrent, d.inflight+d.waiting)
	spare := 0
	for _, b := range d.blocks {
		usable := now.Before(b.granted.Add(d.cfg.UseBy))
		if usable {
			spare += b.n - b.started
		}
		if b.answered == b.started && (b.started == b.n || !usable) {
			n.closing = append(n.closing, b)
		}
	}
	n.calls = max(0, d.waiting-spare)
	n.renew = d.waiting > 0 && d.slots > 0 && d.until < now.Add(d.cfg.MaxCall).UnixMilli()
	return n
}
