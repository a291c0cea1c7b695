package certain_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
)

// readAll drains a registration read, calling each after every page.
func readAll(t *testing.T, c *certain.Client, each func(page int)) ([]string, error) {
	t.Helper()
	var got []string
	n := 0
	for p, err := range c.RegistrationPages(context.Background(), "ACME", "HS26", certain.RegistrationQuery{}) {
		if err != nil {
			return got, err
		}
		for _, r := range p.Items {
			got = append(got, r.Code)
		}
		n++
		if each != nil {
			each(n)
		}
	}
	return got, nil
}

// clientWith is a client of srv with its configuration changed by set.
func clientWith(t *testing.T, srv *certaintest.Server, set func(*certain.Config)) *certain.Client {
	t.Helper()
	cfg := srv.Config()
	set(&cfg)
	c, err := certain.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestReadAheadOverlapsPages: once the first page gives the collection's
// size, the next pages are fetched while the caller handles this one, so
// the tenant sees several page reads at once; every row still arrives once,
// in order, and no page is fetched that the read did not need.
func TestReadAheadOverlapsPages(t *testing.T) {
	for _, mode := range []string{certain.PagingOffset0, certain.PagingOffset1, certain.PagingPage1} {
		t.Run(mode, func(t *testing.T) {
			srv, _, clk := newPair(t, certaintest.WithPagingMode(mode), certaintest.WithLatency(20*time.Millisecond))
			want := seedRegs(srv, clk, 20)
			c := clientWith(t, srv, func(cfg *certain.Config) {
				cfg.PagingMode, cfg.PageSize, cfg.ReadAhead, cfg.MaxInFlight = mode, 3, 4, 8
			})
			got, err := readAll(t, c, func(int) { time.Sleep(30 * time.Millisecond) })
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("rows = %v, want %v", got, want)
			}
			if peak := srv.LimitStats().PeakInFlight["ACME"]; peak < 2 {
				t.Errorf("peak page reads in flight = %d; read-ahead should overlap them", peak)
			}
			if calls := c.Stats().ByPath["GET Registration"]; calls != 7 {
				t.Errorf("GET Registration calls = %d, want 7 (20 rows in pages of 3)", calls)
			}
		})
	}
}

// TestReadAheadOff: ReadAhead -1 reads one page after another.
func TestReadAheadOff(t *testing.T) {
	srv, _, clk := newPair(t, certaintest.WithLatency(5*time.Millisecond))
	want := seedRegs(srv, clk, 10)
	c := clientWith(t, srv, func(cfg *certain.Config) { cfg.PageSize, cfg.ReadAhead = 3, -1 })
	got, err := readAll(t, c, nil)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("rows = %v, %v; want %v", got, err, want)
	}
	if peak := srv.LimitStats().PeakInFlight["ACME"]; peak != 1 {
		t.Errorf("peak in flight = %d without read-ahead, want 1", peak)
	}
}

// TestReadAheadStopsWithTheCaller: a caller that stops reading leaves no
// fetch running: every page fetched ahead is cancelled and waited for
// before the loop returns.
func TestReadAheadStopsWithTheCaller(t *testing.T) {
	srv, _, clk := newPair(t, certaintest.WithLatency(50*time.Millisecond))
	seedRegs(srv, clk, 30)
	c := clientWith(t, srv, func(cfg *certain.Config) { cfg.PageSize, cfg.ReadAhead, cfg.MaxInFlight = 3, 5, 8 })
	stopAfterFirstPage(t, c, func() {})
	if n := c.Stats().InFlight; n != 0 {
		t.Errorf("%d calls still in flight after the caller stopped reading", n)
	}
	// A page written and then cancelled reaches the server's handler a
	// moment later; one the client counted but never sent would not.
	counted := c.Stats().Calls
	for deadline := time.Now().Add(5 * time.Second); len(srv.Calls()) < counted && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if seen := len(srv.Calls()); counted != seen {
		t.Errorf("the client counted %d calls, Certain saw %d", counted, seen)
	}
}

// stopAfterFirstPage reads the first page of a registration read, calls
// before, and stops reading.
func stopAfterFirstPage(t *testing.T, c *certain.Client, before func()) {
	t.Helper()
	for _, err := range c.RegistrationPages(context.Background(), "ACME", "HS26", certain.RegistrationQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		before()
		break
	}
}

// heldTransport sends the first call and holds every later one until its
// context ends, then hands it on: the transport finds the context done and
// writes nothing, as for a page fetched ahead and dropped before it left.
type heldTransport struct {
	base http.RoundTripper
	n    atomic.Int32
}

func (h *heldTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if h.n.Add(1) > 1 {
		<-r.Context().Done()
	}
	return h.base.RoundTrip(r)
}

// TestWithdrawnCallsAreNotCounted: the pages fetched ahead of a caller that
// stopped after the first page were cancelled before they were written, so
// the run's call count (what a run record reports) is the one call Certain
// saw, not the four the client started.
func TestWithdrawnCallsAreNotCounted(t *testing.T) {
	srv, _, clk := newPair(t)
	seedRegs(srv, clk, 30)
	held := &heldTransport{base: http.DefaultTransport}
	c := clientWith(t, srv, func(cfg *certain.Config) {
		cfg.PageSize, cfg.ReadAhead, cfg.MaxInFlight = 3, 3, 8
		cfg.HTTPClient = &http.Client{Transport: held}
	})
	stopAfterFirstPage(t, c, func() {
		// Stop once the 3 pages ahead are at the transport.
		for deadline := time.Now().Add(10 * time.Second); held.n.Load() < 4 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	})
	if started := held.n.Load(); started != 4 {
		t.Fatalf("%d calls reached the transport, want 4 (the page and 3 ahead)", started)
	}
	if counted, seen := c.Stats().Calls, len(srv.Calls()); counted != 1 || seen != 1 {
		t.Errorf("the client counted %d calls and Certain saw %d, want 1 and 1", counted, seen)
	}
}

// TestReadAheadSeesACollectionChange: rows removed during the read stop it
// (a row may have moved into the part already read), as they do a read
// without read-ahead: pages fetched ahead under the old size are not
// trusted.
func TestReadAheadSeesACollectionChange(t *testing.T) {
	srv, _, clk := newPair(t)
	codes := seedRegs(srv, clk, 12)
	c := clientWith(t, srv, func(cfg *certain.Config) { cfg.PageSize, cfg.ReadAhead = 3, 1 })
	ctx := context.Background()
	_, err := readAll(t, c, func(page int) {
		if page == 1 {
			if err := c.DeleteRegistration(ctx, "ACME", "HS26", codes[0]); err != nil {
				t.Fatal(err)
			}
		}
	})
	if !errors.Is(err, certain.ErrCollectionChanged) {
		t.Fatalf("read over a removal = %v, want ErrCollectionChanged", err)
	}
}

// TestReadAheadFollowsACappedServer: a server that caps max_results is
// read ahead in the rows it really returns, and read in full.
func TestReadAheadFollowsACappedServer(t *testing.T) {
	srv, _, clk := newPair(t, certaintest.WithPageSizeCap(2), certaintest.WithLatency(10*time.Millisecond))
	want := seedRegs(srv, clk, 11)
	c := clientWith(t, srv, func(cfg *certain.Config) { cfg.PageSize, cfg.ReadAhead, cfg.MaxInFlight = 5, 3, 8 })
	got, err := readAll(t, c, func(int) { time.Sleep(10 * time.Millisecond) })
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("rows = %v, %v; want %v", got, err, want)
	}
	if calls := c.Stats().ByPath["GET Registration"]; calls != 6 {
		t.Errorf("GET Registration calls = %d, want 6 (11 rows, 2 a page)", calls)
	}
}

// TestReadAheadFollowsTheCaller: a caller slower than Certain (a sync whose
// batches wait on write-backs) soon has one page fetched ahead, not the
// read-ahead's four, so pages do not wait in memory; once it is faster than
// the reads again, the pages ahead widen back. Every row arrives once, in
// order.
func TestReadAheadFollowsTheCaller(t *testing.T) {
	srv, _, clk := newPair(t, certaintest.WithLatency(5*time.Millisecond))
	want := seedRegs(srv, clk, 120)
	c := clientWith(t, srv, func(cfg *certain.Config) { cfg.PageSize, cfg.ReadAhead, cfg.MaxInFlight = 3, 4, 8 })
	// ahead[n]: pages asked of Certain but not yet handed over, after
	// page n (the simulator logs a call as it arrives).
	ahead := map[int]int{}
	got, err := readAll(t, c, func(n int) {
		ahead[n] = srv.CountCalls(http.MethodGet, "Registration") - n
		switch {
		case n <= 18:
			time.Sleep(50 * time.Millisecond) // slow: 10 x a page's latency
		case n == 19:
			srv.SetLatency(20 * time.Millisecond) // and from now on, fast
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("rows = %v, want %v", got, want)
	}
	// A page that took longer than the caller's pause (a loaded machine)
	// widens the window once; a window that never narrowed shows on
	// every page.
	wider := 0
	for n := 12; n <= 18; n++ {
		if ahead[n] > 1 {
			wider++
		}
	}
	if wider > 1 {
		t.Errorf("slow caller, pages 12 to 18: %v pages fetched ahead, want 1 (one exception allowed)", ahead)
	}
	wide := 0
	for n := 20; n <= 37; n++ {
		wide = max(wide, ahead[n])
	}
	if wide < 3 {
		t.Errorf("fast caller: at most %d pages fetched ahead after page 19, want the window widened to 3 or 4", wide)
	}
}
