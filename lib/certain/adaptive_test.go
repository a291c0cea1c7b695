package certain

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/clock"
)

// The adaptive limit on a manual clock, driven answer by answer: only its
// rules are asserted, nothing that depends on timing.

var limT0 = time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)

func newTestLimit(initial, maxN int) (*adaptive, *clock.Manual) {
	clk := clock.NewManual(limT0)
	return newAdaptive(initial, maxN, clk.Now, clk.Sleep, 2*time.Minute), clk
}

// load is a client whose workers keep every slot of the limit busy: each
// answer's slot is taken again at once, so every call after the first
// ones starts with the limit full.
type load struct {
	a    *adaptive
	busy []ticket
}

// round answers one round trip of calls (as many as the limit) with status
// after rtt and returns the most calls in flight meanwhile.
func (l *load) round(t *testing.T, status int, rtt time.Duration) int {
	t.Helper()
	n := limitOf(l.a)
	l.fill(t)
	peak := len(l.busy)
	for range n {
		l.a.release(l.busy[0], answer{status: status, rtt: rtt})
		l.busy = l.busy[1:]
		l.fill(t)
		peak = max(peak, len(l.busy))
	}
	return peak
}

// fill takes slots until the limit is full.
func (l *load) fill(t *testing.T) {
	t.Helper()
	for {
		lim, in, _, _ := l.a.snapshot()
		if in >= lim {
			return
		}
		tk, err := l.a.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		l.a.sent()
		l.busy = append(l.busy, tk)
	}
}

func limitOf(a *adaptive) int { l, _, _, _ := a.snapshot(); return l }

func TestAdaptiveGrowsWhileCleanAndNeverPassesTheCeiling(t *testing.T) {
	a, _ := newTestLimit(4, 16)
	l := &load{a: a}
	prev := limitOf(a)
	for i := range 20 {
		if peak := l.round(t, 200, 200*time.Millisecond); peak > 16 {
			t.Fatalf("round %d: %d calls in flight, the ceiling is 16", i, peak)
		}
		// About one more per round trip (1/limit per answer, and a round
		// is int(limit) answers), never past 16.
		got := limitOf(a)
		if got > 16 || got < prev || got > prev+1 {
			t.Fatalf("after clean round %d the limit is %d (was %d), want one more per round trip, at most 16", i+1, got, prev)
		}
		prev = got
	}
	if prev != 16 {
		t.Fatalf("limit %d after 20 clean round trips from 4, want the ceiling of 16", prev)
	}
	// Answers that are errors of the caller (4xx other than 429) are clean
	// answers too: the tenant was not overloaded.
	if l.round(t, 404, 200*time.Millisecond); limitOf(a) != 16 {
		t.Errorf("a round of 404s moved the limit to %d", limitOf(a))
	}
}

func TestAdaptiveDoesNotGrowWhenTheLimitIsNotUsed(t *testing.T) {
	a, _ := newTestLimit(4, 16)
	for range 50 { // two calls at a time, never the four allowed
		t1, _ := a.acquire(context.Background())
		t2, _ := a.acquire(context.Background())
		a.release(t1, answer{status: 200, rtt: 100 * time.Millisecond})
		a.release(t2, answer{status: 200, rtt: 100 * time.Millisecond})
	}
	if l := limitOf(a); l != 4 {
		t.Errorf("limit %d after 100 answers with 2 of 4 slots used, want 4", l)
	}
}

func TestAdaptiveCutsOnceForOneCongestionEvent(t *testing.T) {
	a, _ := newTestLimit(8, 16)
	l := &load{a: a}
	var ts []ticket
	for range 8 {
		tk, _ := a.acquire(context.Background())
		ts = append(ts, tk)
	}
	// All eight were sent before the first 429 came back: the tenant
	// refusing several of them is one event, one cut (8 × 3/4 = 6).
	a.release(ts[0], answer{status: 429})
	a.release(ts[1], answer{status: 429})
	a.release(ts[2], answer{status: 503})
	for _, tk := range ts[3:] {
		a.release(tk, answer{status: 200, rtt: 100 * time.Millisecond})
	}
	_, _, _, st := a.snapshot()
	if l := limitOf(a); l != 6 || st.cuts != 1 || st.throttled != 3 {
		t.Fatalf("limit %d, cuts %d, throttled %d; want 6, 1, 3", l, st.cuts, st.throttled)
	}
	// A call started after the cut that is refused is a new event.
	l.round(t, 429, 0)
	if l := limitOf(a); l != 4 {
		t.Errorf("limit %d after a second refused round, want 4 (6 × 3/4)", l)
	}
	for range 10 {
		l.round(t, 429, 0)
	}
	if l := limitOf(a); l != 1 {
		t.Errorf("limit %d after refusals, want the floor of 1", l)
	}
}

// TestAdaptiveProbesTheFailedLevelRarely: a tenant that tolerates 7. The
// limit climbs back to just below the level it was cut at and probes that
// level only after 100 clean answers, then after 200, 400, ...: the 429s
// fall off as the run goes.
func TestAdaptiveProbesTheFailedLevelRarely(t *testing.T) {
	a, _ := newTestLimit(4, 16)
	l := &load{a: a}
	const tolerated = 7
	calls, refused := 0, 0
	var refusedAt []int
	for calls < 20000 {
		n := limitOf(a)
		status := 200
		if n > tolerated {
			status = 429
		}
		l.round(t, status, 100*time.Millisecond)
		calls += n
		if status == 429 {
			refused++
			refusedAt = append(refusedAt, calls)
		}
	}
	t.Logf("%d calls, %d refused rounds, after calls %v", calls, refused, refusedAt)
	if l := limitOf(a); l != tolerated {
		t.Errorf("limit %d at the end, want %d", l, tolerated)
	}
	// Refused rounds: the first overshoot, then probes after 100, 200, 400,
	// 800, 1600, 1600, ... clean answers (in whole rounds).
	if refused < 5 || refused > 20 {
		t.Errorf("%d refused rounds in %d calls at %v, want the probes to back off (5..20)", refused, calls, refusedAt)
	}
	for i := 2; i < len(refusedAt) && i < 6; i++ {
		if gap, prev := refusedAt[i]-refusedAt[i-1], refusedAt[i-1]-refusedAt[i-2]; gap < prev {
			t.Errorf("probe gaps %v shrink", refusedAt)
		}
	}
}

func TestAdaptiveForgetsTheFailedLevelOnceAProbeHolds(t *testing.T) {
	a, _ := newTestLimit(8, 16)
	l := &load{a: a}
	l.round(t, 429, 0) // cut at 8: limit 6, failedAt 8
	for range 40 {
		l.round(t, 200, 100*time.Millisecond)
	}
	// 7 at once, held at 7 for 100 clean answers, then 8 (the probe), then
	// past it, growing again one per round trip.
	if l := limitOf(a); l < 10 {
		t.Errorf("limit %d after 40 clean rounds, want past the old failure at 8", l)
	}
	a.mu.Lock()
	failed := a.failedAt
	a.mu.Unlock()
	if failed != 0 {
		t.Errorf("failedAt %d, want forgotten", failed)
	}
}

func TestAdaptiveCutsOnALatencyJump(t *testing.T) {
	a, _ := newTestLimit(10, 16)
	l := &load{a: a}
	for range 3 { // the baseline: 200 ms
		l.round(t, 200, 200*time.Millisecond)
	}
	before := limitOf(a)
	for range 3 { // the tenant queues: 5x the round trip
		l.round(t, 200, time.Second)
	}
	_, _, _, st := a.snapshot()
	if l := limitOf(a); st.latCuts == 0 || l >= before {
		t.Errorf("limit %d → %d with %d latency cuts after the round trip jumped 5x, want a cut", before, l, st.latCuts)
	}
	if st.cuts != 0 {
		t.Errorf("%d hard cuts without a 429 or 503", st.cuts)
	}
}

func TestAdaptiveRetryAfterPausesNewCalls(t *testing.T) {
	a, clk := newTestLimit(4, 16)
	tk, _ := a.acquire(context.Background())
	a.release(tk, answer{status: 429, retryAfter: 7 * time.Second})
	start := clk.Now()
	tk, err := a.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a.abandon(tk)
	_, _, _, st := a.snapshot()
	if w := clk.Now().Sub(start); w != 7*time.Second || st.paused != 7*time.Second {
		t.Errorf("the next call waited %s (paused %s), want the 7 s the tenant asked for", w, st.paused)
	}
	// A Retry-After beyond the cap (MaxBackoff) waits the cap.
	tk, _ = a.acquire(context.Background())
	a.release(tk, answer{status: 503, retryAfter: time.Hour})
	start = clk.Now()
	tk, _ = a.acquire(context.Background())
	a.abandon(tk)
	if w := clk.Now().Sub(start); w != 2*time.Minute {
		t.Errorf("a one-hour Retry-After paused %s, want the 2 min cap", w)
	}
	// A cancelled caller stops waiting.
	tk, _ = a.acquire(context.Background())
	a.release(tk, answer{status: 429, retryAfter: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("acquire on a cancelled context = %v", err)
	}
}

func TestAdaptiveTransportErrorsChangeNothing(t *testing.T) {
	a, _ := newTestLimit(6, 16)
	l := &load{a: a}
	for range 5 {
		l.round(t, 0, 0)
	}
	if l := limitOf(a); l != 6 {
		t.Errorf("limit %d after rounds without answers, want 6", l)
	}
}
