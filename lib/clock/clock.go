// Package clock holds the one wall-clock wait every client and store uses by
// default; tests and the simulators inject their own Sleep instead.
package clock

import (
	"context"
	"time"
)

// Sleep waits d of wall time, or until ctx is done (then it returns ctx's
// error). A d of zero or less returns at once.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
