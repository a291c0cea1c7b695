package jobs

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
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
	if err := f.start(ctx, flightSync, 0, []string{"email:a", "email:b"}, func() error { <-release; return boom }); err != nil {
		t.Fatal(err)
	}
	var ran atomic.Int32
	sameAddress := func() error { ran.Add(1); return nil }
	go close(release) // the failed batch ends while the next one waits for it
	if err := f.start(ctx, flightSync, 200, []string{"email:c", "email:a"}, sameAddress); !errors.Is(err, errKeyFailed) {
		t.Fatalf("a batch sharing email:a with the running failed one: %v, want errKeyFailed", err)
	}
	f.waitKind(flightSync)
	if err := f.start(ctx, flightSync, 300, []string{"email:b"}, sameAddress); !errors.Is(err, errKeyFailed) {
		t.Fatalf("a batch sharing email:b with the ended failed one: %v, want errKeyFailed", err)
	}
	other := make(chan struct{})
	if err := f.start(ctx, flightSync, 400, []string{"email:d"}, func() error { close(other); return nil }); err != nil {
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
