// Package wire tells the two API clients (lib/marketo, lib/certain) whether
// a call that failed ever left the process, so a run's call counts are the
// calls Marketo and Certain may have seen (docs/operations.md §5).
package wire

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
)

// Watch returns req with a trace that notes when its request began to be
// written, and a function that reports, for the error the round trip
// returned, whether the server may have seen the call. A call its own
// context withdrew before any of its request was written (a page read ahead
// and dropped, a run's deadline, a per-call timeout while dialling) did not
// reach the server; any other failure may have. A request counts as
// written from its first header field on, not only once it is all sent:
// over HTTP/2 a cancelled call returns without waiting for its writer, and
// a count must never miss a call the server may have answered.
func Watch(req *http.Request) (*http.Request, func(err error) bool) {
	var written atomic.Bool
	ctx := httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteHeaderField: func(string, []string) { written.Store(true) },
		WroteRequest:     func(httptrace.WroteRequestInfo) { written.Store(true) },
	})
	return req.WithContext(ctx), func(err error) bool {
		return err == nil || written.Load() || !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
}
