package jobs

import (
	"context"
	"errors"
	"testing"
)

// TestFlightsDoNotSendAfterAFailedBatchOfTheSameAddress: a batch holding
// an address whose earlier batch failed is not sent (errKeyFailed), so a
// later registration of the address never reaches Marketo before an
// earlier one; a batch of other addresses still is.
func TestFlightsDoNotSendAfterAFailedBatchOfTheSameAddress(t *testing.T) {
	ctx := context.Background()
	f := newFlights(4)
	boom := errors.New("marketo: 500")
	if err := f.start(ctx, flightSync, 0, []string{"email:a", "email:b"}, func() error { return boom }); err != nil {
		t.Fatal(err)
	}
	ran := false
	if err := f.start(ctx, flightSync, 200, []string{"email:c", "email:a"}, func() error { ran = true; return nil }); !errors.Is(err, errKeyFailed) || ran {
		t.Fatalf("a batch sharing email:a with the failed one: %v (sent %v), want errKeyFailed and not sent", err, ran)
	}
	other := make(chan struct{})
	if err := f.start(ctx, flightSync, 400, []string{"email:d"}, func() error { close(other); return nil }); err != nil {
		t.Fatal(err)
	}
	<-other
	if err := f.wait(); !errors.Is(err, boom) {
		t.Fatalf("wait: %v, want the failed batch's error", err)
	}
	if at := f.lowest(600); at != 0 {
		t.Fatalf("lowest %d, want 0 (the failed batch's first offset)", at)
	}
}
