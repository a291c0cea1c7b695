package limit

import (
	"math"
	"slices"
	"time"
)

// staggerStep is the most one waiting process lets the one before it go
// first: several DynamoDB round trips.
const staggerStep = 250 * time.Millisecond

// plan is what the planner decided: the item to write, if any, what this
// process gets from it, or how long to wait before looking again.
type plan struct {
	next     budgetItem
	changed  bool // next differs from the item and must be written
	progress bool // a waiting goroutine gains a slot or calls
	quota    bool // the daily budget is used up
	slots    int
	until    int64
	newBlock *heldBlock
	closed   []*heldBlock
	wait     time.Duration // when nothing could be had: how long to wait
	jitter   time.Duration // at most this much is added to wait at random
}

// need is what the process wants from the item, the planner's input.
type need struct {
	slots   int          // slots wanted (held ones included)
	calls   int          // calls wanted beyond the spare ones
	renew   bool         // the slot lease is too short for a new call
	closing []*heldBlock // finished blocks, to be closed
}

// planner decides what one process writes to the item. It is pure: it
// reads no clock, takes no lock and makes no request; the caller passes the
// item, the time and what the process needs.
type planner struct {
	cfg   Config // with defaults
	owner string // this process's owner entry
	pk    string // the item's partition key
	loc   *time.Location
	// lead is how long after the plan a paced block is expected in hand
	// (the write's round trip, paced.go): its first slot is no sooner.
	lead time.Duration
}

// planning is the working state of one plan, built up step by step.
type planning struct {
	planner
	now      time.Time
	nowMS    int64
	nd       need
	inflight int // calls in flight in this process

	next budgetItem // the item after this process's changes
	me   owner      // this process's entry in next
	// delta is the pacing step: one call per delta (ms), where delta is the
	// time a call counts in the window (Occ, at least Window+Margin) over
	// CallsPer20s, so that the window refills as fast as it empties and
	// never fills in a burst; a paced budget's is its pace. deltaOwn is this owner's step: delta times
	// the active processes.
	delta, deltaOwn float64
	others          int  // slots held by the other owners
	active          int  // processes holding or wanting slots (this one when it needs any)
	othersWant      bool // another owner wants slots it did not get
	p               plan
}

// paceMS is the pacing step (ms per call) of a budget whose calls count
// occ ms in the window: a paced budget's pace, or else the time a call
// counts (at least Window+Margin) over CallsPer20s.
func (cfg Config) paceMS(occ int64) float64 {
	if cfg.pace > 0 {
		return float64(cfg.pace) / float64(time.Millisecond)
	}
	return float64(max(occ, (cfg.Window+cfg.Margin).Milliseconds())) / float64(cfg.CallsPer20s)
}

// planner returns the planner of this process.
func (d *Shared) planner() planner {
	return planner{cfg: d.cfg, owner: d.owner, pk: d.pk, loc: d.loc, lead: d.lead()}
}

// decide plans, and when the plan grants nothing although calls are
// wanted, plans again leaving closable blocks open: they count the same as
// their stamps would, so that the next grant's write closes them, unless
// one gives calls back or its first stamp nears its end.
func (pl planner) decide(st budgetItem, now time.Time, nd need, inflight int, blockID string) plan {
	p := pl.plan(st, now, nd, inflight, blockID)
	if len(nd.closing) == 0 || p.newBlock != nil || nd.calls == 0 || p.quota {
		return p
	}
	deferred := nd
	deferred.closing = mustClose(nd.closing, now)
	if q := pl.plan(st, now, deferred, inflight, blockID); len(deferred.closing) == 0 || q.newBlock != nil {
		return q
	}
	return p
}

// mustClose returns the closable blocks that may not wait for the next
// grant: those with calls to give back and those whose first stamp ends
// within a second.
func mustClose(closing []*heldBlock, now time.Time) []*heldBlock {
	var must []*heldBlock
	for _, b := range closing {
		if b.started < b.n || slices.Min(append([]int64{math.MaxInt64}, b.ends...)) <= now.Add(time.Second).UnixMilli() {
			must = append(must, b)
		}
	}
	return must
}

// plan computes the item after this process's changes, from st. blockID
// names the block it grants, if it grants one.
func (pl planner) plan(st budgetItem, now time.Time, nd need, inflight int, blockID string) plan {
	g := pl.begin(st, now, nd, inflight)
	g.closeBlocks()
	g.takeSlots()
	switch {
	case nd.calls > 0 && g.p.slots > 0:
		g.takeCalls(blockID)
	case nd.slots > g.p.slots:
		g.waitForSlots()
	}
	return g.finish()
}

// begin carries the live part of st over to its next version, restarts
// the day count on a new quota day and measures the pace and the other
// processes.
func (pl planner) begin(st budgetItem, now time.Time, nd need, inflight int) *planning {
	g := &planning{planner: pl, now: now, nowMS: now.UnixMilli(), nd: nd, inflight: inflight}
	g.next = st.successor(pl.pk, now)
	if today := now.In(pl.loc).Format(time.DateOnly); g.next.Day != today {
		g.next.Day, g.next.DayCount = today, 0
		g.p.changed = true
	}
	g.delta = pl.cfg.paceMS(st.Occ)
	g.me = g.next.Owners[pl.owner]
	g.countOthers()
	g.deltaOwn = g.delta * float64(max(g.active, 1))
	return g
}

// countOthers counts the other processes holding or wanting slots, and
// this one when it needs any.
func (g *planning) countOthers() {
	for id, o := range g.next.Owners {
		if id == g.owner || (o.Slots == 0 && o.Want == 0) {
			continue
		}
		g.others += o.Slots
		g.active++
		if o.Want > 0 {
			g.othersWant = true
		}
	}
	if g.nd.slots > 0 {
		g.active++
	}
}

// closeBlocks closes the finished blocks: their calls become exact stamps,
// unused calls are refunded to the day and to the schedules.
func (g *planning) closeBlocks() {
	for _, b := range g.nd.closing {
		if sb, ok := g.next.Blocks[b.id]; ok {
			g.refund(b, sb)
		}
		g.stamp(b)
		g.p.closed = append(g.p.closed, b)
		g.p.changed = true
	}
}

// refund removes the open block sb of b from the item and gives its unused
// calls back to the day count and to both schedules.
func (g *planning) refund(b *heldBlock, sb block) {
	delete(g.next.Blocks, b.id)
	unused := sb.N - b.started // sb.N, not b.n: Close lowers b.n to the calls started.
	if sb.Day == g.next.Day {
		g.next.DayCount -= unused
	}
	g.me.Tat -= int64(float64(unused) * g.deltaOwn)
	if g.cfg.pace == 0 {
		g.next.Tat -= int64(float64(unused) * g.delta)
		return
	}
	// A paced block's calls have their own slots on the shared schedule:
	// its unused slots go back only when they are its tail and the
	// schedule's (nobody was granted after it), or another block's slots
	// would be handed out twice.
	if g.next.Tat == b.first+g.cfg.slotOffsetMS(sb.N) {
		g.next.Tat = b.first + g.cfg.slotOffsetMS(b.started)
	}
}

// stamp records the live stamps of b's calls under this owner and folds
// the time they counted in the window into Occ. A paced budget has no
// window: nothing to record.
func (g *planning) stamp(b *heldBlock) {
	if g.cfg.pace > 0 {
		return
	}
	var sum int64
	for _, e := range b.ends {
		sum += e - b.granted.UnixMilli()
		if e > g.nowMS {
			g.next.Owned[g.owner] = append(g.next.Owned[g.owner], e)
		}
	}
	if len(b.ends) == 0 {
		return
	}
	occ := sum / int64(len(b.ends))
	if g.next.Occ == 0 {
		g.next.Occ = occ
	} else {
		g.next.Occ += (occ - g.next.Occ) / 4
	}
}

// slotTarget is how many slots this process should hold: what it needs,
// at most its fair share while others want more, and never fewer than its
// calls in flight.
func (g *planning) slotTarget() int {
	target := g.nd.slots
	if g.othersWant {
		share := (g.cfg.Concurrent + g.active - 1) / max(g.active, 1)
		target = min(target, share)
	}
	return max(target, g.inflight)
}

// takeSlots sets this process's slots, its want when it gets fewer than it
// needs, and its lease (renewed by every write while it holds slots).
func (g *planning) takeSlots() {
	newSlots := min(g.slotTarget(), max(g.cfg.Concurrent-g.others, g.inflight))
	want, wantUntil := 0, int64(0)
	if newSlots < g.nd.slots {
		want, wantUntil = g.nd.slots, g.now.Add(5*g.cfg.UseBy).UnixMilli()
	}
	me := &g.me
	if newSlots != me.Slots || want != me.Want || (want > 0 && me.WantUntil < g.now.Add(2*g.cfg.UseBy).UnixMilli()) {
		g.p.changed = true
	}
	if newSlots > me.Slots && newSlots > g.inflight {
		g.p.progress = true
	}
	me.Slots, me.Want, me.WantUntil = newSlots, want, wantUntil
	if newSlots > 0 && (g.p.changed || g.nd.renew) {
		me.Until = g.now.Add(g.cfg.LeaseTTL).UnixMilli()
		g.p.changed = true
	}
	g.p.slots, g.p.until = newSlots, me.Until
}

// takeCalls grants a block of calls if the window, both schedules and the
// day allow at least a useful part of one, or else says how long to wait.
func (g *planning) takeCalls(blockID string) {
	free, frees := math.MaxInt, []int64(nil)
	if g.cfg.pace == 0 {
		var counted int
		counted, frees = g.next.counted()
		free = g.cfg.CallsPer20s - counted
	}
	// The shared schedule allows Burst calls ahead of its pace; each
	// process's own schedule allows it 1/active of the pace (so that
	// processes that all want more get equal shares), unless every other
	// holder has used its share or is idle: then it may borrow.
	// A paced block's slots start when it is in hand, lead after now: the
	// shared schedule is planned from then (paced.go).
	from := g.nowMS
	if g.cfg.pace > 0 {
		from = ceilMS(g.now.Add(g.lead))
	}
	shared := newSchedule(g.next.Tat, from, g.delta, g.cfg.Burst)
	own := newSchedule(g.me.Tat, g.nowMS, g.deltaOwn, g.cfg.Burst)
	paced, pacedOwn := shared.allows(from), own.allows(g.nowMS)
	if g.mayBorrow(own.tau) {
		pacedOwn = paced
	}
	k := g.blockSize()
	// Take at least min(k, Block/2) at once, so that one write serves
	// several calls; the capacity waits a little for it.
	least := max(1, min(k, g.cfg.Block/2))
	avail := min(free, paced, pacedOwn)
	switch {
	case k == 0:
	case avail >= least:
		g.grant(min(k, avail), blockID, shared, own)
	default:
		g.p.wait = g.windowWait(free, least, frees)
		if paced < least {
			g.p.wait = max(g.p.wait, shared.waitFor(least, from))
		}
		if pacedOwn < least {
			g.p.wait = max(g.p.wait, own.waitFor(least, g.nowMS))
		}
		g.stagger()
	}
}

// mayBorrow: this process may go beyond its own share unless another
// holder has part of its share left (its schedule is behind, within
// tauOwn of now).
func (g *planning) mayBorrow(tauOwn float64) bool {
	for id, o := range g.next.Owners {
		if id != g.owner && o.Slots > 0 && o.Tat <= g.nowMS && float64(o.Tat) > float64(g.nowMS)-tauOwn {
			return false
		}
	}
	return true
}

// blockSize is how many calls to ask for: enough for the waiting calls or
// two per slot, at most Block, at most what is left of the day (0 and
// quota when nothing is).
func (g *planning) blockSize() int {
	k := min(g.cfg.Block, max(g.nd.calls, 2*g.p.slots))
	if g.cfg.Daily <= 0 {
		return k
	}
	left := g.cfg.Daily - g.next.DayCount
	if left <= 0 {
		g.p.quota = true
		return 0
	}
	return min(k, left)
}

// grant adds an open block of k calls, counted in full until it is closed
// or expires, and advances the day count and both schedules.
func (g *planning) grant(k int, id string, shared, own schedule) {
	end := g.now.Add(g.cfg.UseBy + g.cfg.MaxCall + g.cfg.Window + g.cfg.Margin).UnixMilli()
	g.next.Blocks[id] = block{Owner: g.owner, N: k, End: end, Day: g.next.Day}
	g.next.DayCount += k
	g.next.Tat = shared.after(k)
	// A paced block's calls take the next k slots of the shared schedule,
	// from its tat or from when the block will be in hand (now plus lead,
	// rounded up to the ms: the schedule's start, takeCalls), whichever is
	// later: nothing is banked while the account is idle, and the slots
	// are not past before the write has come back (paced.go).
	first := int64(shared.tat)
	if g.cfg.pace > 0 {
		g.next.Tat = first + g.cfg.slotOffsetMS(k)
	}
	g.me.Tat = own.after(k)
	g.p.newBlock = &heldBlock{id: id, granted: g.now, day: g.next.Day, n: k, first: first}
	g.p.changed, g.p.progress = true, true
}

// windowWait is how long until least calls fit in the window: until the
// counted call that frees the last of them leaves it. A stamp leaves at a
// known time; an open block may be closed early, unannounced, so beyond
// Window+Margin (or with too few counted calls) it looks again within a
// second.
func (g *planning) windowWait(free, least int, frees []int64) time.Duration {
	if free >= least {
		return 0
	}
	i := least - free - 1 // frees[i] leaves: then least are free
	if i >= len(frees) {
		return time.Second
	}
	wait := time.Duration(frees[i]-g.nowMS) * time.Millisecond
	if wait > g.cfg.Window+g.cfg.Margin {
		return time.Second
	}
	return wait
}

// stagger spreads the processes that wait for the same moment: the one
// whose own schedule is furthest behind goes first, the others one step
// later each, so that they rarely race for it (a lost race costs a write).
func (g *planning) stagger() {
	rank := 0
	for id, o := range g.next.Owners {
		if id != g.owner && o.Slots > 0 && max(o.Tat, g.nowMS) < max(g.me.Tat, g.nowMS) {
			rank++
		}
	}
	step := min(time.Duration(g.delta*float64(time.Millisecond)), staggerStep)
	g.p.wait += time.Millisecond + time.Duration(rank)*step
	g.p.jitter = step / 2
}

// waitForSlots: slots are given back unannounced, so poll, or wait until
// the first lease that may lapse does.
func (g *planning) waitForSlots() {
	g.p.wait = 50 * time.Millisecond
	for _, o := range g.next.Owners {
		if o.Slots > 0 && o.Until > g.nowMS {
			g.p.wait = min(g.p.wait, time.Duration(o.Until-g.nowMS)*time.Millisecond+time.Millisecond)
		}
	}
}

// finish stores this process's entry (or drops it when it holds, wants
// and owes nothing) and bounds the wait.
func (g *planning) finish() plan {
	if g.me.Slots > 0 || g.me.Want > 0 || g.me.Tat > g.nowMS {
		g.next.Owners[g.owner] = g.me
	} else {
		delete(g.next.Owners, g.owner)
	}
	if g.p.wait <= 0 {
		g.p.wait = 5 * time.Millisecond
	}
	// A pacing wait is exact (only refunds and holders leaving shorten
	// it); bound it anyway: by a quarter window, or a second when paced.
	bound := g.cfg.Window / 4
	if g.cfg.pace > 0 {
		bound = time.Second
	}
	g.p.wait = min(g.p.wait, bound)
	g.p.next = g.next
	return g.p
}

// schedule is a pacing schedule in the manner of GCRA: one call per delta
// (ms), up to tau ahead of it; tat is the theoretical time of the next
// call, never before now.
type schedule struct {
	delta, tau, tat float64
}

func newSchedule(tat, nowMS int64, delta float64, burst int) schedule {
	return schedule{delta: delta, tau: float64(burst) * delta, tat: float64(max(tat, nowMS))}
}

// allows is how many calls the schedule allows now.
func (s schedule) allows(nowMS int64) int {
	return int((float64(nowMS) + s.tau - s.tat) / s.delta)
}

// after is the schedule's tat once n calls were granted.
func (s schedule) after(n int) int64 {
	return int64(s.tat + float64(n)*s.delta)
}

// waitFor is how long until the schedule allows n calls.
func (s schedule) waitFor(n int, nowMS int64) time.Duration {
	return time.Duration((s.tat + float64(n)*s.delta - s.tau - float64(nowMS)) * float64(time.Millisecond))
}
