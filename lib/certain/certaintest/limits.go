package certaintest

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Certain publishes no rate limit; clients in the wild see 429 and back off
// (docs/certain.md §3). The simulator offers the variants a tenant could
// present: a limit on calls per second and one on calls in flight, per
// account, each answered with 429 (with Retry-After, or without it), and a
// per-call latency, fixed or uniform in a range. None is on by default.

// WithRateLimit makes each account answer 429 to a call that arrives when
// perSecond calls of the account arrived in the second before it (a
// sliding second on the simulator's clock; refused calls do not count).
// 0 means no limit.
func WithRateLimit(perSecond int) Option { return func(s *Server) { s.lim.rate = perSecond } }

// WithConcurrencyLimit makes each account answer 429 to a call that arrives
// while n of its calls are in flight. 0 means no limit.
func WithConcurrencyLimit(n int) Option { return func(s *Server) { s.lim.concurrency = n } }

// WithoutRetryAfter leaves the Retry-After header off the limits' 429s
// (by default it says how many whole seconds to wait: until a call leaves
// the rate limit's second, or 1 for the concurrency limit).
func WithoutRetryAfter() Option { return func(s *Server) { s.lim.noRetryAfter = true } }

// WithLatency holds every call for d (after the limits admitted it, while
// it counts in flight).
func WithLatency(d time.Duration) Option { return WithLatencyRange(d, d) }

// WithLatencyRange holds every call for a time drawn uniformly from
// [lo, hi].
func WithLatencyRange(lo, hi time.Duration) Option {
	return func(s *Server) { s.lim.latLo, s.lim.latHi = lo, max(lo, hi) }
}

// WithSleep sets how the latency is waited (default: wall time). Pass the
// Sleep of the clock given to WithClock to hold calls on simulated time.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(s *Server) { s.sleep = sleep }
}

// limits are the account limits and the latency; under Server.mu.
type limits struct {
	rate, concurrency int
	noRetryAfter      bool
	latLo, latHi      time.Duration
	rng               *rand.Rand
	arrivals          map[string][]time.Time // per account: admitted calls of the last second, oldest first
	inflight          map[string]int
	peak              map[string]int
	throttled         int
}

// LimitStats are what the limits did.
type LimitStats struct {
	Throttled    int            // 429s answered for a limit
	PeakInFlight map[string]int // per account, the most calls in flight at once
}

// SetLimits changes the rate and concurrency limits at run time (0: none),
// as a tenant that starts refusing mid-run does.
func (s *Server) SetLimits(perSecond, concurrency int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lim.rate, s.lim.concurrency = perSecond, concurrency
}

// SetLatency changes the latency of every call to d.
func (s *Server) SetLatency(d time.Duration) { s.SetLatencyRange(d, d) }

// SetLatencyRange changes the latency to a uniform draw from [lo, hi].
func (s *Server) SetLatencyRange(lo, hi time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lim.latLo, s.lim.latHi = lo, max(lo, hi)
}

// LimitStats returns what the limits did so far.
func (s *Server) LimitStats() LimitStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := LimitStats{Throttled: s.lim.throttled, PeakInFlight: map[string]int{}}
	for k, v := range s.lim.peak {
		st.PeakInFlight[k] = v
	}
	return st
}

// accountOf is the account code in an API path ("" when it names none).
func accountOf(p string) string {
	parts := strings.Split(strings.Trim(rel(p), "/"), "/")
	if strings.HasPrefix(p, v2Base) {
		if len(parts) >= 2 && parts[0] == "accounts" {
			return parts[1]
		}
		return ""
	}
	if len(parts) >= 2 {
		return parts[1]
	}
	return ""
}

// admit applies the account's limits to a call arriving now. It returns
// the call's release, or ok false and the Retry-After to answer with.
func (s *Server) admit(p string) (leave func(), latency time.Duration, ok bool, retryAfter time.Duration) {
	acct := accountOf(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	l := &s.lim
	now := s.now()
	if l.rate > 0 {
		arr := l.arrivals[acct]
		i := 0
		for i < len(arr) && !arr[i].Add(time.Second).After(now) {
			i++
		}
		arr = arr[i:]
		l.arrivals[acct] = arr
		if len(arr) >= l.rate {
			l.throttled++
			return nil, 0, false, arr[len(arr)-l.rate].Add(time.Second).Sub(now)
		}
	}
	if l.concurrency > 0 && l.inflight[acct] >= l.concurrency {
		l.throttled++
		return nil, 0, false, time.Second
	}
	if l.rate > 0 {
		l.arrivals[acct] = append(l.arrivals[acct], now)
	}
	l.inflight[acct]++
	l.peak[acct] = max(l.peak[acct], l.inflight[acct])
	return func() {
		s.mu.Lock()
		l.inflight[acct]--
		s.mu.Unlock()
	}, l.draw(), true, 0
}

// throttle answers a call a limit refused: 429, with Retry-After in whole
// seconds (at least 1) unless WithoutRetryAfter.
func (s *Server) throttle(w http.ResponseWriter, r *http.Request, retryAfter time.Duration) {
	if !s.lim.noRetryAfter {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((retryAfter+time.Second-1)/time.Second))))
	}
	s.fail(w, r, http.StatusTooManyRequests, "Too many requests")
}

// latencyOf draws one call's latency.
func (s *Server) latencyOf() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lim.draw()
}

// draw draws a latency from the range. Server.mu held.
func (l *limits) draw() time.Duration {
	if l.latHi > l.latLo {
		return l.latLo + time.Duration(l.rng.Int64N(int64(l.latHi-l.latLo)+1))
	}
	return l.latLo
}

// hold waits the call's latency, or until the request is cancelled.
func (s *Server) hold(ctx context.Context, d time.Duration) {
	if d > 0 {
		_ = s.sleep(ctx, d)
	}
}
