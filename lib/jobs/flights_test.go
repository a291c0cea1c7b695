package jobs

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// TestFlightsDoNotSendAfterAFailedBatchOfTheSameAddress: a batch holding
// an address whose earlier batch failed is not sent (errKeyFailed), while
// that batch still runs and after it ended, so a later registration of the
// address never reaches Marketo before an earlier one; a batch of other
// addresses still is.
func TestFlightsDoNotSendAfterAFailedBatchOfTheSameAddress(t *testing.T) {
	ctx := context.Background()
	f := newFlights(4)
	boom := errors.New("marketo: 500")
	release := make(chan struct{})
	if err := f.start(ctx, flightSync, 0, []string{"email:a", "email:b"}, 0, func() error { <-release; return boom }); err != nil {
		t.Fatal(err)
	}
	var ran atomic.Int32
	sameAddress := func() error { ran.Add(1); return nil }
	go close(release) // the failed batch ends while the next one waits for it
	if err := f.start(ctx, flightSync, 200, []string{"email:c", "email:a"}, 0, sameAddress); !errors.Is(err, errKeyFailed) {
		t.Fatalf("a batch sharing email:a with the running failed one: %v, want errKeyFailed", err)
	}
	f.waitKind(flightSync)
	if err := f.start(ctx, flightSync, 300, []string{"email:b"}, 0, sameAddress); !errors.Is(err, errKeyFailed) {
		t.Fatalf("a batch sharing email:b with the ended failed one: %v, want errKeyFailed", err)
	}
	other := make(chan struct{})
	if err := f.start(ctx, flightSync, 400, []string{"email:d"}, 0, func() error { close(other); return nil }); err != nil {
		t.Fatal(err)
	}
	<-other
	if err := f.wait(); !errors.Is(err, boom) {
		t.Fatalf("wait: %v, want the failed batch's error", err)
	}
	if n := ran.Load(); n != 0 {
		t.Fatalf("%d batches of a failed batch's addresses were sent, want none", n)
	}
	if at := f.lowest(600); at != 0 {
		t.Fatalf("lowest %d, want 0 (the failed batch's first offset)", at)
	}
}

// TestFlightsBacklog: with a backlog, a batch starts only once the running
// batches' weights leave room for its own (a weight above the backlog's
// size counts as the size); a batch of weight 0 is not held; a wait for
// room ends with the context, and gives nothing back it did not take.
func TestFlightsBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := newFlights(4).withBacklog(10)
		release := make(chan struct{})
		held := func() error { <-release; return nil }
		if err := f.start(ctx, flightSync, 0, nil, 25, held); err != nil { // counts as 10
			t.Fatal(err)
		}
		if err := f.start(ctx, flightIDs, 100, nil, 0, held); err != nil {
			t.Fatalf("a batch of weight 0 while the backlog is full: %v", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		waited := make(chan error, 1)
		go func() { waited <- f.start(cctx, flightSync, 200, nil, 1, held) }()
		synctest.Wait()
		select {
		case err := <-waited:
			t.Fatalf("a batch of weight 1 started while the backlog is full: %v", err)
		default:
		}
		cancel()
		if err := <-waited; !errors.Is(err, context.Canceled) {
			t.Fatalf("the wait for room: %v, want context.Canceled", err)
		}
		started := make(chan error, 1)
		go func() { started <- f.start(ctx, flightSync, 300, nil, 10, func() error { return nil }) }()
		synctest.Wait()
		if len(started) != 0 {
			t.Fatal("a batch of weight 10 started before the first one ended")
		}
		close(release) // the first batch ends: its 10 come back
		if err := <-started; err != nil {
			t.Fatal(err)
		}
		if err := f.wait(); err != nil {
			t.Fatal(err)
		}
	})
}
