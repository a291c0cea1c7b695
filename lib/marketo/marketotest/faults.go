package marketotest

import (
	"net/http"
	"path"
	"time"
)

// fault is an injected failure for the next n calls matching pattern.
type fault struct {
	pattern string
	n       int
	code    string
	status  int
	drop    bool
}

// FailNext makes the next n REST calls whose path matches pathPattern
// (path.Match syntax; "" or "*" = any) answer success:false with code.
func (s *Server) FailNext(pathPattern string, n int, code string) {
	s.addFault(&fault{pattern: pathPattern, n: n, code: code})
}

// FailNextHTTP makes the next n matching calls answer HTTP status.
func (s *Server) FailNextHTTP(pathPattern string, n int, status int) {
	s.addFault(&fault{pattern: pathPattern, n: n, status: status})
}

// DropNext makes the next n matching calls lose their connection unanswered.
func (s *Server) DropNext(pathPattern string, n int) {
	s.addFault(&fault{pattern: pathPattern, n: n, drop: true})
}

// addFault queues f; a fault for no calls is dropped.
func (s *Server) addFault(f *fault) {
	if f.n <= 0 {
		return
	}
	s.mu.Lock()
	s.faults = append(s.faults, f)
	s.mu.Unlock()
}

// SetLatency changes the latency hook at run time.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latencyFn = d
	s.mu.Unlock()
}

// matches reports whether path p matches pattern ("" and "*" match all).
func matches(pattern, p string) bool {
	if pattern == "" || pattern == "*" || pattern == p {
		return true
	}
	ok, err := path.Match(pattern, p)
	return err == nil && ok
}

// takeFault uses up one call of the first fault matching p, dropping it
// when used up.
func (s *Server) takeFault(p string) *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if matches(f.pattern, p) {
			f.n--
			if f.n <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			return f
		}
	}
	return nil
}

// serveFault drops the connection, or answers the fault's HTTP status or
// Marketo code.
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, f *fault, log *CallLog) {
	switch {
	case f.drop:
		log.HTTPStatus = 0
		if hj, isHJ := w.(http.Hijacker); isHJ {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case f.status != 0:
		log.HTTPStatus = f.status
		http.Error(w, http.StatusText(f.status), f.status)
	default:
		s.countRejected(log)
		s.write(w, r, fail(f.code, "injected failure %s", f.code), log)
	}
}
