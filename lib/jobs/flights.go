package jobs

import (
	"context"
	"errors"
	"sync"

	"golang.org/x/sync/semaphore"
)

// flights runs a job's batches (a Sync Leads call and its write-backs, a
// custom object upload, a check of stored ids) in the background, at most
// limit at once, while the job goes on reading and mapping the next pages:
// the stages of a run overlap, so its wall time approaches that of its
// slowest stage instead of their sum (docs/architecture.md §7).
//
// What makes that safe:
//   - Every batch carries the Certain offset of the first registration it
//     holds. lowest says where a checkpoint may be placed: never past a
//     batch that has not finished, or that failed.
//   - Batches that share a key (an e-mail address) never run at once: a
//     batch starts only after the batches holding any of its keys ended,
//     so two registrations sharing an address reach Marketo one after the
//     other, as they did when batches ran one at a time (the second is an
//     update of the lead the first created, never a second lead).
//   - Errors are kept (the first one) rather than cancelling the others:
//     a batch that started finishes, so that what Marketo accepted is
//     written back and hashed. The job stops starting batches once one
//     failed, and waits for the others before it saves its checkpoint.
//
// A run may also bound what its batches weigh together (withBacklog):
// sync-leads weighs a batch by the write-backs it expects, so that its
// batches do not all wait on Certain at once holding their registrations
// (synclead_backlog.go).
//
// Only the job's own goroutine calls start, lowest, failed and wait.
type flights struct {
	limit chan struct{}
	wg    sync.WaitGroup
	// backlog bounds the weight of the batches running at once; nil: no
	// bound.
	backlog *semaphore.Weighted
	size    int64 // backlog's capacity

	mu       sync.Mutex
	open     map[*flight]struct{}
	byKey    map[string]*flight
	err      error
	failedAt int // lowest first offset of a failed batch; -1 when none
	// failedKeys are the keys of every batch that failed: a later batch
	// holding one is not sent, also once the failed batch has ended.
	failedKeys map[string]bool
}

// flight is one batch in the background.
type flight struct {
	first int
	kind  string
	keys  []string
	done  chan struct{}
}

// errKeyFailed is start's answer for a batch that shares a key with one
// that failed: it is not sent, so that a registration never reaches
// Marketo after one read before it with the same address failed to (the
// next run sends both, in order).
var errKeyFailed = errors.New("a batch holding the same e-mail address failed")

func newFlights(limit int) *flights {
	return &flights{limit: make(chan struct{}, max(limit, 1)), open: map[*flight]struct{}{}, byKey: map[string]*flight{}, failedAt: -1,
		failedKeys: map[string]bool{}}
}

// withBacklog bounds the weight of the batches running at once to size.
func (f *flights) withBacklog(size int64) *flights {
	f.backlog, f.size = semaphore.NewWeighted(size), size
	return f
}

// start runs fn in the background once the batches sharing one of keys
// have ended, fewer than the limit are running and, with a backlog, the
// running batches' weights leave room for weight (capped at the backlog's
// size). first is the Certain offset of the batch's first registration;
// kind names the batch for wait. It returns an error when ctx ends while it
// waits, and errKeyFailed (fn not run) when a batch sharing one of keys
// failed.
func (f *flights) start(ctx context.Context, kind string, first int, keys []string, weight int64, fn func() error) error {
	for _, k := range keys {
		f.mu.Lock()
		prev := f.byKey[k]
		f.mu.Unlock()
		if prev == nil {
			continue
		}
		select {
		case <-prev.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	for _, k := range keys {
		if f.failedKeys[k] {
			f.mu.Unlock()
			return errKeyFailed
		}
	}
	f.mu.Unlock()
	if f.backlog == nil {
		weight = 0
	}
	weight = min(weight, f.size)
	if weight > 0 {
		if err := f.backlog.Acquire(ctx, weight); err != nil {
			return err
		}
	}
	select {
	case f.limit <- struct{}{}:
	case <-ctx.Done():
		if weight > 0 {
			f.backlog.Release(weight)
		}
		return ctx.Err()
	}
	fl := &flight{first: first, kind: kind, keys: keys, done: make(chan struct{})}
	f.mu.Lock()
	f.open[fl] = struct{}{}
	for _, k := range keys {
		f.byKey[k] = fl
	}
	f.mu.Unlock()
	f.wg.Go(func() {
		err := fn()
		f.mu.Lock()
		delete(f.open, fl)
		for _, k := range fl.keys {
			if f.byKey[k] == fl {
				delete(f.byKey, k)
			}
		}
		if err != nil {
			for _, k := range fl.keys {
				f.failedKeys[k] = true
			}
			if f.err == nil {
				f.err = err
			}
			if f.failedAt < 0 || fl.first < f.failedAt {
				f.failedAt = fl.first
			}
		}
		f.mu.Unlock()
		close(fl.done)
		<-f.limit
		if weight > 0 {
			f.backlog.Release(weight)
		}
	})
	return nil
}

// failed returns the first error of a batch, nil while none failed.
func (f *flights) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// lowest is at, lowered to the first offset of every batch still running
// or failed.
func (f *flights) lowest(at int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	for fl := range f.open {
		at = min(at, fl.first)
	}
	if f.failedAt >= 0 {
		at = min(at, f.failedAt)
	}
	return at
}

// waitKind waits for the running batches of one kind.
func (f *flights) waitKind(kind string) {
	f.mu.Lock()
	var dones []chan struct{}
	for fl := range f.open {
		if fl.kind == kind {
			dones = append(dones, fl.done)
		}
	}
	f.mu.Unlock()
	for _, d := range dones {
		<-d
	}
}

// wait waits for every batch and returns the first error.
func (f *flights) wait() error {
	f.wg.Wait()
	return f.failed()
}

// callLock is a mutex held across a call to a service (the lead describe,
// the mapping check) by one of a run's batches while the others wait for
// its answer: a waiter gives up when its context ends, and waits on a
// channel rather than a sync.Mutex. The zero value is unlocked.
type callLock struct {
	once sync.Once
	ch   chan struct{}
}

// lock takes the lock, or returns ctx's error if ctx ends first.
func (l *callLock) lock(ctx context.Context) error {
	l.once.Do(func() { l.ch = make(chan struct{}, 1) })
	select {
	case l.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unlock releases the lock lock took.
func (l *callLock) unlock() { <-l.ch }
