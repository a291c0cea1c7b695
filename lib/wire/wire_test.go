package wire_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/wire"
)

// TestWatch: a call cancelled before its request was written did not reach
// the server; one cancelled while the server held it, one refused by the
// network and one answered did.
func TestWatch(t *testing.T) {
	var seen atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		if r.URL.Path == "/hold" {
			<-release
		}
	}))
	defer srv.Close()
	defer close(release)

	send := func(ctx context.Context, path string, rt http.RoundTripper) (reached bool, err error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req, reachedFn := wire.Watch(req)
		resp, err := (&http.Client{Transport: rt}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return reachedFn(err), err
	}

	t.Run("answered", func(t *testing.T) {
		seen.Store(0)
		if reached, err := send(context.Background(), "/ok", http.DefaultTransport); err != nil || !reached || seen.Load() != 1 {
			t.Fatalf("reached %v, err %v, the server saw %d; want true, nil, 1", reached, err, seen.Load())
		}
	})
	t.Run("withdrawn before it was written", func(t *testing.T) {
		seen.Store(0)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		reached, err := send(ctx, "/ok", http.DefaultTransport)
		if !errors.Is(err, context.Canceled) || reached || seen.Load() != 0 {
			t.Fatalf("reached %v, err %v, the server saw %d; want false, context canceled, 0", reached, err, seen.Load())
		}
	})
	t.Run("cancelled while the server holds it", func(t *testing.T) {
		seen.Store(0)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for seen.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		reached, err := send(ctx, "/hold", http.DefaultTransport)
		if !errors.Is(err, context.Canceled) || !reached || seen.Load() != 1 {
			t.Fatalf("reached %v, err %v, the server saw %d; want true, context canceled, 1", reached, err, seen.Load())
		}
	})
	t.Run("refused by the network", func(t *testing.T) {
		reset := errors.New("connection reset by peer")
		rt := roundTripper(func(*http.Request) (*http.Response, error) { return nil, reset })
		if reached, err := send(context.Background(), "/ok", rt); !errors.Is(err, reset) || !reached {
			t.Fatalf("reached %v, err %v; a failure the client cannot place may have reached the server", reached, err)
		}
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
