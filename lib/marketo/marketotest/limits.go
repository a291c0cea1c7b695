package marketotest

import (
	"time"
)

// ExhaustWindow fills the rate window as if the limit had just been used.
func (s *Server) ExhaustWindow() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.clock.Now()
	for len(s.window) < s.opts.rateN {
		s.window = append(s.window, now)
	}
}

// ExhaustQuota uses up today's daily quota.
func (s *Server) ExhaustQuota() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rollDay(s.opts.clock.Now())
	s.dayCount = s.opts.daily
}

// freeCodes are the answers Marketo's error-code page marks as not counted.
var freeCodes = map[string]bool{"601": true, "602": true, "604": true, "605": true, "608": true, "611": true}

// rollDay starts a new quota day at midnight of the quota zone, keeping the
// finished day's count for stats/usage. mu held.
func (s *Server) rollDay(now time.Time) {
	d := now.In(s.loc).Format(time.DateOnly)
	if d != s.day {
		if s.day != "" {
			s.usage[s.day] = s.dayCount
		}
		s.day, s.dayCount = d, 0
	}
}

// prune drops the calls that have left the rate window. mu held.
func (s *Server) prune(now time.Time) {
	i := 0
	for i < len(s.window) && !s.window[i].Add(s.opts.rateWindow).After(now) {
		i++
	}
	s.window = s.window[i:]
}

// countRejected counts a rejected call when WithCountRejected is set.
func (s *Server) countRejected(log *CallLog) {
	if !s.opts.countRejected {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.clock.Now()
	s.rollDay(now)
	s.window = append(s.window, now)
	s.dayCount++
	log.Counted = true
}

// admit applies the daily quota and the rate window and counts the call.
func (s *Server) admit(log *CallLog) (answer, bool) {
	s.mu.Lock()
	now := s.opts.clock.Now()
	s.rollDay(now)
	s.prune(now)
	quota := s.dayCount >= s.opts.daily
	rate := len(s.window) >= s.opts.rateN
	s.mu.Unlock()
	switch {
	case quota:
		s.countRejected(log)
		return fail("607", "Daily quota reached"), true
	case rate:
		s.countRejected(log)
		return fail("606", "Max rate limit '%d' exceeded with in '%d' secs", s.opts.rateN, int(s.opts.rateWindow/time.Second)), true
	}
	s.mu.Lock()
	s.window = append(s.window, now)
	s.dayCount++
	s.mu.Unlock()
	log.Counted = true
	return answer{}, false
}

// refund un-counts a call whose answer Marketo treats as free.
func (s *Server) refund(log *CallLog) {
	if !log.Counted {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.window); n > 0 {
		s.window = s.window[:n-1]
	}
	s.dayCount--
	log.Counted = false
}

// enter takes a concurrency slot and returns the calls now in flight and the
// latency to hold this one open; leave gives the slot back.
func (s *Server) enter() (inflight int, latency time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight++
	return s.inflight, s.latencyFn
}

// leave gives back the slot enter took.
func (s *Server) leave() {
	s.mu.Lock()
	s.inflight--
	s.mu.Unlock()
}
