package reliability

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// CrashStore wraps a store and, once Crash is called, refuses every write:
// the process died between a write to Marketo or Certain and the store
// write that would have recorded it. Reads still work, so the "next
// invocation" (after Recover) sees exactly what the dead one left.
type CrashStore struct {
	store.Store
	crashed atomic.Bool

	mu         sync.Mutex
	afterClaim func(jobID string)
}

// SetAfterClaim calls f right after every claim that won (a fault that
// kills the process there).
func (c *CrashStore) SetAfterClaim(f func(jobID string)) {
	c.mu.Lock()
	c.afterClaim = f
	c.mu.Unlock()
}

var _ store.Store = (*CrashStore)(nil)

// Crash makes every later write fail.
func (c *CrashStore) Crash() { c.crashed.Store(true) }

// Recover starts a "new process": writes work again.
func (c *CrashStore) Recover() { c.crashed.Store(false) }

// Crashed reports whether the store refuses writes.
func (c *CrashStore) Crashed() bool { return c.crashed.Load() }

func (c *CrashStore) refuse() error {
	if c.crashed.Load() {
		return ErrCrashed
	}
	return nil
}

func (c *CrashStore) PutConnection(ctx context.Context, conn config.Connection) error {
	if err := c.refuse(); err != nil {
		return err
	}
	return c.Store.PutConnection(ctx, conn)
}

func (c *CrashStore) PutJob(ctx context.Context, j config.Job) error {
	if err := c.refuse(); err != nil {
		return err
	}
	return c.Store.PutJob(ctx, j)
}

func (c *CrashStore) ClaimJob(ctx context.Context, jobID, runID string, v int64, leaseUntil, now time.Time) (bool, error) {
	if err := c.refuse(); err != nil {
		return false, err
	}
	ok, err := c.Store.ClaimJob(ctx, jobID, runID, v, leaseUntil, now)
	c.mu.Lock()
	f := c.afterClaim
	c.mu.Unlock()
	if ok && err == nil && f != nil {
		f(jobID)
	}
	return ok, err
}

func (c *CrashStore) ReleaseJob(ctx context.Context, jobID, runID string, next time.Time, outcome string) error {
	if err := c.refuse(); err != nil {
		return err
	}
	return c.Store.ReleaseJob(ctx, jobID, runID, next, outcome)
}

func (c *CrashStore) PutRun(ctx context.Context, r store.Run) error {
	if err := c.refuse(); err != nil {
		return err
	}
	return c.Store.PutRun(ctx, r)
}

func (c *CrashStore) AddOutcomes(ctx context.Context, runID string, outs []store.RecordOutcome) (int, error) {
	if err := c.refuse(); err != nil {
		return 0, err
	}
	return c.Store.AddOutcomes(ctx, runID, outs)
}

func (c *CrashStore) PutCheckpoint(ctx context.Context, jobID string, cp store.Checkpoint, v int64) (int64, error) {
	if err := c.refuse(); err != nil {
		return 0, err
	}
	return c.Store.PutCheckpoint(ctx, jobID, cp, v)
}

func (c *CrashStore) DeleteCheckpoint(ctx context.Context, jobID string, v int64) error {
	if err := c.refuse(); err != nil {
		return err
	}
	return c.Store.DeleteCheckpoint(ctx, jobID, v)
}

func (c *CrashStore) BeginIdem(ctx context.Context, key string, lockUntil time.Time, retention time.Duration, now time.Time) (store.IdemResult, error) {
	if err := c.refuse(); err != nil {
		return store.IdemResult{}, err
	}
	return c.Store.BeginIdem(ctx, key, lockUntil, retention, now)
}

func (c *CrashStore) CompleteIdem(ctx context.Context, key string, result []byte, retention time.Duration, now time.Time) error {
	if err := c.refuse(); err != nil {
		return err
	}
	return c.Store.CompleteIdem(ctx, key, result, retention, now)
}

func (c *CrashStore) AbortIdem(ctx context.Context, key string) error {
	if err := c.refuse(); err != nil {
		return err
	}
	return c.Store.AbortIdem(ctx, key)
}

func (c *CrashStore) PutWatermark(ctx context.Context, scope string, t time.Time) error {
	if err := c.refuse(); err != nil {
		return err
	}
	return c.Store.PutWatermark(ctx, scope, t)
}

func (c *CrashStore) PutLastStatuses(ctx context.Context, scope string, st map[string]string) error {
	if err := c.refuse(); err != nil {
		return err
	}
	return c.Store.PutLastStatuses(ctx, scope, st)
}

func (c *CrashStore) PutHashes(ctx context.Context, scope string, h map[string]string) error {
	if err := c.refuse(); err != nil {
		return err
	}
	return c.Store.PutHashes(ctx, scope, h)
}

func (c *CrashStore) DeleteHashes(ctx context.Context, scope string, keys []string) error {
	if err := c.refuse(); err != nil {
		return err
	}
	return c.Store.DeleteHashes(ctx, scope, keys)
}
