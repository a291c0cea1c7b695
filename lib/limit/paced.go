package limit

import (
	"context"
	"fmt"
	"time"
)

// A paced budget (a Certain account's) guarantees that no sliding second
// sees more than CallsPerSecond (N) call starts, across every process
// sharing it. Each call has its own slot on one schedule and starts at it,
// never before:
//
//   - Shared: a block's k calls take the next k slots of the item's
//     schedule, from its tat or now, whichever is later (so an idle account
//     banks nothing), and the block's call i is handed out at its slot,
//     first+slotOffsetMS(i), or at most slotGrace (2 ms) after it; a slot
//     nobody was waiting for is passed over, not used late. Burst only
//     lets a block be reserved ahead of time; it never lets a call start
//     early. A block gives unused slots back only when they are the
//     schedule's tail.
//   - InProcess: each call takes the next slot under a lock at the moment
//     it is handed out, at least paceOf(N) after the one before.
//
// Why N+1 starts never fit in one second: in-process, each start is at
// least ceil(1 s/N) ns after the one before. In the item, times are
// milliseconds and S = 1000+2 ms (a second and slotGrace) over N need not
// be whole, so a block's slots are first+ceil(i*S/N) and the next block
// starts at or after first+ceil(k*S/N); by ceil(a)+ceil(b) >= ceil(a+b)
// the slots N apart, in one block or across several, are at least
// ceil((i+N)*S/N)-ceil(i*S/N) = S ms apart, and the calls started at most
// slotGrace after their slots at least 1000 ms. A tenant that counts a
// call until a second after it arrived therefore never counts more than
// N. (The 2 ms cost 0.2% of the rate.)
//
// Slots are useless if they are past when the block arrives: a block is
// planned before its write and in hand a DynamoDB round trip later, and
// at a fine pace (1000 calls/s is a slot a millisecond) a block whose
// slots started at the plan's now would be all missed by then, and the
// next one too, for ever. So a block's first slot is at least lead after
// the plan: twice the write round trip this process last saw (it rises
// at once with a slow write and falls back by an eighth of the gap each
// write after), at most maxLead and a quarter of UseBy.
//
// What the budget cannot see: a goroutine woken late starts after its
// slot, and the network moves arrivals at Certain by its jitter; both can
// bring two calls closer than their slots were. Keep callsPerSecond a
// little under a tenant's known limit where that matters; a 429 that
// results is handled by the client (lib/certain).

// paceOf is the in-process step of a paced budget of perSecond calls:
// a second over perSecond, rounded up to the nanosecond.
func paceOf(perSecond int) time.Duration {
	n := time.Duration(max(perSecond, 1))
	return (time.Second + n - 1) / n
}

// slotOffsetMS is the offset (ms) of a paced block's call i from its first
// slot: ceil(i*(1000+slotGrace)/CallsPerSecond).
func (cfg Config) slotOffsetMS(i int) int64 {
	n, span := int64(max(cfg.CallsPer20s, 1)), (time.Second + slotGrace).Milliseconds()
	return (int64(i)*span + n - 1) / n
}

// slotGrace is how late after its slot a paced block's call may still
// start; slots N apart are a second plus slotGrace apart, so that calls
// started that late still never put N+1 starts in one second. A slot
// missed by more (nobody was waiting for it) is passed over.
const slotGrace = 2 * time.Millisecond

// slotWait is how long the next call of b waits for its slot (0 for a
// windowed budget's block, whose calls may start at once). It first passes
// over the slots missed by more than slotGrace, counting them as calls
// made and answered (they are past: nobody else may have them); it
// returns 0 with no call left in b when every one was missed.
func (cfg Config) slotWait(b *heldBlock, now time.Time) time.Duration {
	if cfg.pace == 0 {
		return 0
	}
	for b.started < b.n {
		at := time.UnixMilli(b.first + cfg.slotOffsetMS(b.started))
		if now.Sub(at) <= slotGrace {
			return at.Sub(now)
		}
		b.started++
		b.answered++
		b.missed++
	}
	return 0
}

// maxLead bounds the lead of a paced block's first slot (a quarter of the
// default UseBy; lead also keeps it within a quarter of the configured one).
const maxLead = 500 * time.Millisecond

// ceilMS is t in Unix milliseconds, rounded up.
func ceilMS(t time.Time) int64 {
	return (t.UnixNano() + int64(time.Millisecond) - 1) / int64(time.Millisecond)
}

// lead is how far after the plan a paced block's first slot goes: twice
// the write round trip seen, at most maxLead and a quarter of UseBy (a
// block is used well before it expires). mu not held.
func (d *Shared) lead() time.Duration {
	if d.cfg.pace == 0 {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return min(2*d.rtt, maxLead, d.cfg.UseBy/4)
}

// sawWrite folds one write's round trip (from the plan to its answer) into
// the estimate lead uses: up at once, down by an eighth of the gap.
func (d *Shared) sawWrite(took time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if took >= d.rtt {
		d.rtt = took
		return
	}
	d.rtt -= (d.rtt - took) / 8
}

// takePace hands the call the next slot of the in-process schedule: now,
// if the slot before it is at least a step ago, or else it waits and
// looks again (so a goroutine woken late never starts within a step of
// the call before it).
func (b *InProcess) takePace(ctx context.Context) error {
	for {
		b.mu.Lock()
		now := b.cfg.Now()
		if !now.Before(b.next) {
			b.next = now.Add(b.cfg.pace)
			b.mu.Unlock()
			return nil
		}
		wait := b.next.Sub(now)
		b.mu.Unlock()
		if err := b.cfg.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: waiting for the pace: %w", b.cfg.label(), err)
		}
	}
}
