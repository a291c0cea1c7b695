package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"
)

// What Executor, Trigger and Detector share about the Lambda invocation they
// run in: the clock they record with, their logger, run ids, and the soft
// deadline after which they start no new work.

// runEnv is how a runner reads its clock, logger and run ids. Each runner
// builds it from its exported Now, Logger and NewID fields, so that the
// defaults (the wall clock, slog.Default, NewRunID) are decided here once.
type runEnv struct {
	clock func() time.Time
	log   *slog.Logger
	ids   func() string
}

func (r runEnv) now() time.Time {
	if r.clock != nil {
		return r.clock()
	}
	return time.Now()
}

func (r runEnv) logger() *slog.Logger {
	if r.log != nil {
		return r.log
	}
	return slog.Default()
}

func (r runEnv) newID() string {
	if r.ids != nil {
		return r.ids()
	}
	return NewRunID(r.now())
}

// NewRunID returns a run id that sorts by start time: 20260401T080311Z-1a2b3c4d.
func NewRunID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// softDeadline is the time after which a runner starts no new job, group,
// page or batch, so that what it started can finish, and its progress be
// saved, before Lambda ends the invocation. The zero value (a context
// without deadline) never passes.
type softDeadline struct {
	at time.Time // wall clock; zero: none
}

// newSoftDeadline is ctx's deadline less margin (def when margin is not
// positive). The margin is never more than a sixth of the time left now, so
// an invocation that starts with little time still does some work.
func newSoftDeadline(ctx context.Context, margin, def time.Duration) softDeadline {
	dl, ok := ctx.Deadline()
	if !ok {
		return softDeadline{}
	}
	if margin <= 0 {
		margin = def
	}
	// Deadlines are wall-clock time whatever clock the runner records with.
	if left := time.Until(dl); margin > left/6 {
		margin = left / 6
	}
	return softDeadline{at: dl.Add(-margin)}
}

// passed reports whether the soft deadline has passed.
func (s softDeadline) passed() bool {
	return !s.at.IsZero() && !time.Now().Before(s.at)
}

// reached reports whether a runner must stop starting new work: ctx is done
// or the soft deadline has passed.
func (s softDeadline) reached(ctx context.Context) bool {
	return ctx.Err() != nil || s.passed()
}
