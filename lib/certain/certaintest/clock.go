package certaintest

import (
	"time"

	"github.com/certain-marketo/certain-marketo/lib/clock"
)

// Clock is a manual clock for WithClock (lib/clock.Manual).
type Clock = clock.Manual

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return clock.NewManual(t) }
