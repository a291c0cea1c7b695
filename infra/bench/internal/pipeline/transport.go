package pipeline

import (
	"net/http"
	"net/http/httptest"
)

// handlerTransport hands a request straight to a simulator's handler in the
// calling goroutine: no socket, so that a run lives entirely in one
// testing/synctest bubble (a goroutine blocked on a socket is not "durably
// blocked", and the bubble's clock would never move). What the clients send
// and read is exactly what they would over HTTP; only the transport differs.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:1"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, in)
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	res := rec.Result()
	res.Request = req
	return res, nil
}

// client is an HTTP client on the handler.
func client(h http.Handler) *http.Client {
	return &http.Client{Transport: handlerTransport{h}}
}
