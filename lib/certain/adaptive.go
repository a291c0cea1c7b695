package certain

import (
	"context"
	"math"
	"net/http"
	"sync"
	"time"
)

// The adaptive concurrency limit of a client: AIMD with a latency signal.
//
// Certain publishes no limit; a tenant answers 429 (or 503) when it is
// overloaded, and may slow down first. The limit is how many calls the
// client lets be in flight. It grows by one per round trip (1/limit per
// answer) while answers are clean and fast and the limit is in use, and is
// cut multiplicatively on a 429 or 503 (to 3/4) or a latency jump (to 9/10),
// once per round trip: answers to calls started before a cut belong to the
// congestion event that caused it. This is TCP's congestion avoidance
// (AIMD, Jacobson 1988), whose convergence to a fair share among flows that
// do not talk to each other (Chiu and Jain 1989) is why it suits Lambdas
// sharing one account; the latency signal is Netflix concurrency-limits'
// Gradient2 (a short-term mean round trip against a long-term one), which
// catches a tenant that queues before it refuses.
//
// Plain AIMD probes past the tenant's limit once per cycle, so a tenant that
// tolerates 3 would see a 429 every few calls. This one remembers where it
// was cut (failedAt, like CUBIC's W_max) and climbs back to just below it
// at once, but probes it again only after gap clean answers; a probe that
// fails doubles gap (up to maxProbeGap), one that holds for a round trip
// forgets failedAt. So the 429s a steady tenant sees fall off as the run
// goes (about log2(calls/100) of them), while a tenant whose capacity grows
// is found again within maxProbeGap answers.
type adaptive struct {
	min, max int
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
	maxPause time.Duration

	mu         sync.Mutex
	wake       chan struct{} // closed and replaced when a slot frees
	limit      float64
	inflight   int    // calls holding a slot (sent, or waiting for the budget)
	onWire     int    // calls sent and not yet answered
	seq        uint64 // calls started
	cutSeq     uint64 // seq at the last cut
	failedAt   int    // the limit a cut happened at (0: none to respect)
	gap        int    // clean answers before failedAt is probed again
	clean      int    // clean answers since the last cut
	short      float64
	long       float64 // mean round trips (ms), short- and long-term
	samples    int
	pauseUntil time.Time
	st         adaptiveStats
}

// Tuning of the adaptive limit.
const (
	hardCut     = 0.75 // a 429 or 503
	softCut     = 0.9  // a latency jump
	jumpRatio   = 2.0  // short-term mean round trip over long-term that is a jump
	shortAlpha  = 0.1  // EWMA weight of one answer in the short-term mean (~10 answers)
	longAlpha   = 0.01 // and in the long-term mean (~100 answers)
	warmup      = 20   // answers before latency is judged
	probeGap    = 100  // clean answers before the first probe of failedAt
	maxProbeGap = 1600
)

// adaptiveStats are the limit's counters, copied into Stats.
type adaptiveStats struct {
	peak      int           // most calls sent and unanswered at once
	cuts      int           // decreases on 429/503
	latCuts   int           // decreases on a latency jump
	paused    time.Duration // time the client paused new calls for a Retry-After
	busy      time.Duration // sum of the round trips (mean in flight = busy / elapsed)
	throttled int           // 429 and 503 answers
}

func newAdaptive(initial, maxN int, now func() time.Time, sleep func(context.Context, time.Duration) error, maxPause time.Duration) *adaptive {
	return &adaptive{min: 1, max: maxN, limit: float64(min(max(initial, 1), maxN)), now: now, sleep: sleep,
		maxPause: maxPause, gap: probeGap, wake: make(chan struct{})}
}

// ticket is one call's place in the limit.
type ticket struct {
	seq  uint64
	full bool // the call took the last free slot: the limit was in use
}

// acquire waits until no Retry-After pause is running and fewer calls than
// the limit are in flight, and takes a slot. It sleeps once per pause (a
// pause that is extended meanwhile is slept again), so that a Sleep that
// returns early cannot make it spin.
func (a *adaptive) acquire(ctx context.Context) (ticket, error) {
	var waited time.Time // the end of the last pause slept for
	for {
		if err := ctx.Err(); err != nil {
			return ticket{}, err
		}
		a.mu.Lock()
		if until := a.pauseUntil; until.After(waited) && until.After(a.now()) {
			wait := until.Sub(a.now())
			a.mu.Unlock()
			if err := a.sleep(ctx, wait); err != nil {
				return ticket{}, err
			}
			waited = until
			continue
		}
		if a.inflight < int(a.limit) {
			a.inflight++
			a.seq++
			t := ticket{seq: a.seq, full: a.inflight >= int(a.limit)}
			a.mu.Unlock()
			return t, nil
		}
		ch := a.wake
		a.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ticket{}, ctx.Err()
		}
	}
}

// overload reports whether an HTTP status says the tenant is overloaded:
// 429 Too Many Requests or 503 Service Unavailable.
func overload(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// answer is what became of one call, for the limit.
type answer struct {
	status     int           // HTTP status; 0 when no answer came
	rtt        time.Duration // send to last byte of the answer
	retryAfter time.Duration
}

// release gives t's slot back and adapts the limit to the answer: a 429 or
// 503 cuts it and starts any Retry-After pause; another answer feeds the
// latency means and, clean and fast, grows the limit; no answer (a
// transport error, a cancelled call) changes nothing.
func (a *adaptive) release(t ticket, ans answer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onWire--
	a.free()
	a.judge(t, ans)
}

// sent counts a call that took its slot (and the budget) as sent.
func (a *adaptive) sent() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onWire++
	a.st.peak = max(a.st.peak, a.onWire)
}

// free gives a slot back and wakes the waiting. mu held.
func (a *adaptive) free() {
	a.inflight--
	close(a.wake)
	a.wake = make(chan struct{})
}

// judge adapts the limit to the answer of t. mu held.
func (a *adaptive) judge(t ticket, ans answer) {
	switch {
	case overload(ans.status):
		a.st.throttled++
		a.st.busy += ans.rtt
		if a.cut(t, hardCut) {
			a.st.cuts++
		}
		if ans.retryAfter > 0 {
			now := a.now()
			until := now.Add(min(ans.retryAfter, a.maxPause))
			if until.After(a.pauseUntil) {
				a.st.paused += until.Sub(later(now, a.pauseUntil))
				a.pauseUntil = until
			}
		}
	case ans.status > 0:
		a.st.busy += ans.rtt
		if a.observe(ans.rtt) {
			if a.cut(t, softCut) {
				a.st.latCuts++
			}
			return
		}
		a.clean++
		if t.full {
			a.grow()
		}
	}
}

// observe folds a round trip into the means and reports a latency jump.
func (a *adaptive) observe(rtt time.Duration) bool {
	ms := float64(rtt) / float64(time.Millisecond)
	a.samples++
	if a.samples == 1 {
		a.short, a.long = ms, ms
		return false
	}
	a.short += shortAlpha * (ms - a.short)
	a.long += longAlpha * (ms - a.long)
	return a.samples > warmup && a.short > jumpRatio*a.long
}

// cut lowers the limit by factor unless t was started before the last cut
// (the same congestion event), and remembers where it happened.
func (a *adaptive) cut(t ticket, factor float64) bool {
	if t.seq <= a.cutSeq {
		return false
	}
	level := int(a.limit)
	if a.failedAt > 0 && level <= a.failedAt {
		a.gap = min(2*a.gap, maxProbeGap)
	} else {
		a.gap = probeGap
	}
	a.failedAt = level
	a.limit = max(float64(a.min), math.Floor(a.limit*factor))
	a.cutSeq, a.clean = a.seq, 0
	return true
}

// grow adds 1/limit (one per round trip at the limit), up to max, and up
// to just below failedAt until gap clean answers have passed; past
// failedAt, it forgets it.
func (a *adaptive) grow() {
	next := min(a.limit+1/a.limit, float64(a.max))
	if a.failedAt > 0 && int(next) >= a.failedAt && a.clean < a.gap {
		return
	}
	a.limit = next
	if a.failedAt > 0 && int(a.limit) > a.failedAt {
		a.failedAt, a.gap = 0, probeGap
	}
}

// abandon gives t's slot back without judging anything (the call was never
// sent).
func (a *adaptive) abandon(ticket) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.free()
}

// snapshot returns the current limit, the calls holding a slot, the calls
// sent and unanswered, and the counters.
func (a *adaptive) snapshot() (limit, inflight, onWire int, st adaptiveStats) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return int(a.limit), a.inflight, a.onWire, a.st
}
