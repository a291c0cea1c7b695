package certaintest

import (
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// fault is an injected failure for the next n requests matching pattern.
type fault struct {
	pattern    string
	n          int
	status     int
	retryAfter time.Duration
	drop       bool
}

// FailNext makes the next n requests whose path matches pathPattern answer
// status (with a Retry-After header when retryAfter > 0). pathPattern is
// matched against the path below the API base ("Registration/ACME/HS26",
// "accounts/ACME/events/HS26/sessions"): as a prefix, or as a path.Match glob
// when it contains * ? or [. "" matches every request.
func (s *Server) FailNext(pathPattern string, n int, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{pattern: pathPattern, n: n, status: status, retryAfter: retryAfter})
}

// DropNext makes the next n matching requests lose their connection without
// an answer.
func (s *Server) DropNext(pathPattern string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{pattern: pathPattern, n: n, drop: true})
}

// matches reports whether path p matches pattern (see FailNext).
func matches(pattern, p string) bool {
	if pattern == "" {
		return true
	}
	r := rel(p)
	if strings.ContainsAny(pattern, "*?[") {
		ok, _ := path.Match(pattern, r)
		return ok
	}
	return strings.HasPrefix(r, pattern)
}

// takeFault uses up one request of the first live fault matching p. mu held.
func (s *Server) takeFault(p string) *fault {
	for _, x := range s.faults {
		if x.n > 0 && matches(x.pattern, p) {
			x.n--
			return x
		}
	}
	return nil
}

// serveFault drops the connection or answers the fault's status.
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, f *fault) {
	if f.drop {
		s.log(r, 0)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if f.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((f.retryAfter+time.Second-1)/time.Second)))
	}
	s.fail(w, r, f.status, fmt.Sprintf("simulated fault %d", f.status))
}
