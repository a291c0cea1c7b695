package bench

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// slowStore is the scale scenario's state store: the embedded store behind
// a fixed delay per call, standing in for DynamoDB (single-digit
// milliseconds per call, any number in parallel). moto_server, which the
// other bench rows and the tests use for DynamoDB, answers about 200 calls
// a second on one core whatever the parallelism: the scale run makes some
// 50,000 store calls, so on moto it would measure moto.
type slowStore struct {
	store.Store
	delay time.Duration
	calls atomic.Int64
}

func (s *slowStore) wait(ctx context.Context) {
	s.calls.Add(1)
	t := time.NewTimer(s.delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (s *slowStore) PutConnection(ctx context.Context, c config.Connection) error {
	s.wait(ctx)
	return s.Store.PutConnection(ctx, c)
}

func (s *slowStore) GetConnection(ctx context.Context, account string) (config.Connection, error) {
	s.wait(ctx)
	return s.Store.GetConnection(ctx, account)
}

func (s *slowStore) PutJob(ctx context.Context, j config.Job) error {
	s.wait(ctx)
	return s.Store.PutJob(ctx, j)
}

func (s *slowStore) GetJob(ctx context.Context, id string) (config.Job, error) {
	s.wait(ctx)
	return s.Store.GetJob(ctx, id)
}

func (s *slowStore) ListJobs(ctx context.Context, jobType string) ([]config.Job, error) {
	s.wait(ctx)
	return s.Store.ListJobs(ctx, jobType)
}

func (s *slowStore) GetJobState(ctx context.Context, jobID string) (store.JobState, error) {
	s.wait(ctx)
	return s.Store.GetJobState(ctx, jobID)
}

func (s *slowStore) ClaimJob(ctx context.Context, jobID, runID string, v int64, leaseUntil, now time.Time) (bool, error) {
	s.wait(ctx)
	return s.Store.ClaimJob(ctx, jobID, runID, v, leaseUntil, now)
}

func (s *slowStore) ReleaseJob(ctx context.Context, jobID, runID string, next time.Time, outcome string) error {
	s.wait(ctx)
	return s.Store.ReleaseJob(ctx, jobID, runID, next, outcome)
}

func (s *slowStore) PutRun(ctx context.Context, r store.Run) error {
	s.wait(ctx)
	return s.Store.PutRun(ctx, r)
}

func (s *slowStore) GetRun(ctx context.Context, runID string) (store.Run, error) {
	s.wait(ctx)
	return s.Store.GetRun(ctx, runID)
}

func (s *slowStore) ListRuns(ctx context.Context, jobID string, limit int) ([]store.Run, error) {
	s.wait(ctx)
	return s.Store.ListRuns(ctx, jobID, limit)
}

func (s *slowStore) AddOutcomes(ctx context.Context, runID string, outs []store.RecordOutcome) (int, error) {
	s.wait(ctx)
	return s.Store.AddOutcomes(ctx, runID, outs)
}

func (s *slowStore) ListOutcomes(ctx context.Context, runID, outcome string) ([]store.RecordOutcome, error) {
	s.wait(ctx)
	return s.Store.ListOutcomes(ctx, runID, outcome)
}

func (s *slowStore) GetCheckpoint(ctx context.Context, jobID string) (store.Checkpoint, error) {
	s.wait(ctx)
	return s.Store.GetCheckpoint(ctx, jobID)
}

func (s *slowStore) PutCheckpoint(ctx context.Context, jobID string, cp store.Checkpoint, v int64) (int64, error) {
	s.wait(ctx)
	return s.Store.PutCheckpoint(ctx, jobID, cp, v)
}

func (s *slowStore) DeleteCheckpoint(ctx context.Context, jobID string, v int64) error {
	s.wait(ctx)
	return s.Store.DeleteCheckpoint(ctx, jobID, v)
}

func (s *slowStore) BeginIdem(ctx context.Context, key string, lockUntil time.Time, retention time.Duration, now time.Time) (store.IdemResult, error) {
	s.wait(ctx)
	return s.Store.BeginIdem(ctx, key, lockUntil, retention, now)
}

func (s *slowStore) CompleteIdem(ctx context.Context, key string, result []byte, retention time.Duration, now time.Time) error {
	s.wait(ctx)
	return s.Store.CompleteIdem(ctx, key, result, retention, now)
}

func (s *slowStore) AbortIdem(ctx context.Context, key string) error {
	s.wait(ctx)
	return s.Store.AbortIdem(ctx, key)
}

func (s *slowStore) GetWatermark(ctx context.Context, scope string) (time.Time, bool, error) {
	s.wait(ctx)
	return s.Store.GetWatermark(ctx, scope)
}

func (s *slowStore) PutWatermark(ctx context.Context, scope string, t time.Time) error {
	s.wait(ctx)
	return s.Store.PutWatermark(ctx, scope, t)
}

func (s *slowStore) GetLastStatuses(ctx context.Context, scope string, codes []string) (map[string]string, error) {
	s.wait(ctx)
	return s.Store.GetLastStatuses(ctx, scope, codes)
}

func (s *slowStore) PutLastStatuses(ctx context.Context, scope string, st map[string]string) error {
	s.wait(ctx)
	return s.Store.PutLastStatuses(ctx, scope, st)
}

func (s *slowStore) GetHashes(ctx context.Context, scope string, keys []string) (map[string]string, error) {
	s.wait(ctx)
	return s.Store.GetHashes(ctx, scope, keys)
}

func (s *slowStore) PutHashes(ctx context.Context, scope string, h map[string]string) error {
	s.wait(ctx)
	return s.Store.PutHashes(ctx, scope, h)
}

func (s *slowStore) DeleteHashes(ctx context.Context, scope string, keys []string) error {
	s.wait(ctx)
	return s.Store.DeleteHashes(ctx, scope, keys)
}
