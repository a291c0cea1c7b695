// Package memstore is the embedded store.Store: everything lives in memory
// behind one mutex. It serves `make demo` and fast tests, where a run lasts
// one process; memory (not a file) keeps it dependency-free and makes every
// test start from a clean state. It applies the same rules as dynamostore
// (validation on write and read, conditional claims, optimistic versions,
// idempotency locks, the outcome bound), proven by lib/store/storetest.
package memstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock used for timestamps the store writes itself
// (checkpoint Updated).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// Store is an in-memory store.Store, safe for concurrent use.
type Store struct {
	now func() time.Time

	mu       sync.Mutex
	conns    map[string]config.Connection
	jobs     map[string]config.Job
	states   map[string]store.JobState
	runs     map[string]store.Run
	outcomes map[string][]store.RecordOutcome
	outSeen  map[string]int
	cps      map[string]store.Checkpoint
	idem     map[string]idemRec
	marks    map[string]time.Time
	statuses map[string]map[string]string
	hashes   map[string]map[string]string
}

type idemRec struct {
	status    string
	result    []byte
	expiresAt time.Time
	lockUntil time.Time
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{
		now: time.Now, conns: map[string]config.Connection{}, jobs: map[string]config.Job{},
		states: map[string]store.JobState{}, runs: map[string]store.Run{}, outcomes: map[string][]store.RecordOutcome{},
		outSeen: map[string]int{}, cps: map[string]store.Checkpoint{}, idem: map[string]idemRec{},
		marks: map[string]time.Time{}, statuses: map[string]map[string]string{}, hashes: map[string]map[string]string{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *Store) PutConnection(_ context.Context, c config.Connection) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("put connection: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c.Account] = cloneJSON(c)
	return nil
}

func (s *Store) GetConnection(_ context.Context, account string) (config.Connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.conns[account]
	if !ok {
		return config.Connection{}, fmt.Errorf("connection %q: %w", account, store.ErrNotFound)
	}
	return cloneJSON(c), nil
}

func (s *Store) PutJob(_ context.Context, j config.Job) error {
	if err := j.Validate(); err != nil {
		return fmt.Errorf("put job: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs[j.ID] = cloneJSON(j)
	return nil
}

func (s *Store) GetJob(_ context.Context, id string) (config.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return config.Job{}, fmt.Errorf("job %q: %w", id, store.ErrNotFound)
	}
	return cloneJSON(j), nil
}

func (s *Store) ListJobs(_ context.Context, jobType string) ([]config.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []config.Job
	for _, j := range s.jobs {
		if jobType == "" || j.Type == jobType {
			out = append(out, cloneJSON(j))
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out, nil
}

func (s *Store) GetJobState(_ context.Context, jobID string) (store.JobState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.states[jobID]
	if !ok {
		return store.JobState{JobID: jobID}, nil
	}
	return st, nil
}

func (s *Store) ClaimJob(_ context.Context, jobID, runID string, expectVersion int64, leaseUntil, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.states[jobID]
	if !ok {
		st = store.JobState{JobID: jobID}
	}
	if st.Version != expectVersion || (st.LeaseOwner != "" && st.LeaseUntil.After(now)) {
		return false, nil
	}
	st.Version++
	st.LeaseOwner, st.LeaseUntil = runID, leaseUntil
	st.LastRunID, st.LastRun = runID, now
	s.states[jobID] = st
	return true, nil
}

func (s *Store) ReleaseJob(_ context.Context, jobID, runID string, nextDue time.Time, outcome string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.states[jobID]
	if !ok || st.LeaseOwner != runID {
		return fmt.Errorf("release job %q by run %q: lease not held: %w", jobID, runID, store.ErrConflict)
	}
	st.Version++
	st.LeaseOwner, st.LeaseUntil = "", time.Time{}
	st.NextDue, st.LastOutcome = nextDue, outcome
	s.states[jobID] = st
	return nil
}

func (s *Store) PutRun(_ context.Context, r store.Run) error {
	if r.ID == "" {
		return fmt.Errorf("put run: empty id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r.Counts = maps.Clone(r.Counts)
	s.runs[r.ID] = r
	return nil
}

func (s *Store) GetRun(_ context.Context, runID string) (store.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[runID]
	if !ok {
		return store.Run{}, fmt.Errorf("run %q: %w", runID, store.ErrNotFound)
	}
	r.Counts = maps.Clone(r.Counts)
	return r, nil
}

func (s *Store) ListRuns(_ context.Context, jobID string, limit int) ([]store.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Run
	for _, r := range s.runs {
		if r.JobID == jobID {
			r.Counts = maps.Clone(r.Counts)
			out = append(out, r)
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].Started.Equal(out[b].Started) {
			return out[a].Started.After(out[b].Started)
		}
		return out[a].ID > out[b].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *Store) AddOutcomes(_ context.Context, runID string, outs []store.RecordOutcome) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := s.outSeen[runID]
	room := max(0, store.MaxOutcomesPerRun-seen)
	kept := min(room, len(outs))
	s.outcomes[runID] = append(s.outcomes[runID], outs[:kept]...)
	s.outSeen[runID] = seen + len(outs)
	return len(outs) - kept, nil
}

func (s *Store) ListOutcomes(_ context.Context, runID string, outcome string) ([]store.RecordOutcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.RecordOutcome
	for _, o := range s.outcomes[runID] {
		if outcome == "" || o.Outcome == outcome {
			out = append(out, o)
		}
	}
	return out, nil
}

func (s *Store) GetCheckpoint(_ context.Context, jobID string) (store.Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp, ok := s.cps[jobID]
	if !ok {
		return store.Checkpoint{}, fmt.Errorf("checkpoint of job %q: %w", jobID, store.ErrNotFound)
	}
	cp.Data = slices.Clone(cp.Data)
	return cp, nil
}

func (s *Store) PutCheckpoint(_ context.Context, jobID string, cp store.Checkpoint, expectVersion int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cps[jobID] // zero Version when none
	if cur.Version != expectVersion {
		return 0, fmt.Errorf("checkpoint of job %q: have version %d, expected %d: %w", jobID, cur.Version, expectVersion, store.ErrConflict)
	}
	cp.Version = expectVersion + 1
	cp.Data = slices.Clone(cp.Data)
	cp.Updated = s.now()
	s.cps[jobID] = cp
	return cp.Version, nil
}

func (s *Store) DeleteCheckpoint(_ context.Context, jobID string, expectVersion int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.cps[jobID]
	if !ok {
		if expectVersion == 0 {
			return nil
		}
		return fmt.Errorf("delete checkpoint of job %q: none exists, expected version %d: %w", jobID, expectVersion, store.ErrConflict)
	}
	if cur.Version != expectVersion {
		return fmt.Errorf("delete checkpoint of job %q: have version %d, expected %d: %w", jobID, cur.Version, expectVersion, store.ErrConflict)
	}
	delete(s.cps, jobID)
	return nil
}

func (s *Store) BeginIdem(_ context.Context, key string, lockUntil time.Time, retention time.Duration, now time.Time) (store.IdemResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.idem[key]
	if ok && !old.expiresAt.Before(now) {
		switch {
		case old.status == store.IdemDuplicate:
			return store.IdemResult{Status: store.IdemDuplicate, Result: slices.Clone(old.result)}, nil
		case !old.lockUntil.Before(now):
			return store.IdemResult{Status: store.IdemInProgress}, nil
		}
	}
	s.idem[key] = idemRec{status: store.IdemInProgress, expiresAt: now.Add(retention), lockUntil: lockUntil}
	return store.IdemResult{Status: store.IdemProceed}, nil
}

func (s *Store) PeekIdem(_ context.Context, key string, now time.Time) (store.IdemResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.idem[key]
	if ok && !old.expiresAt.Before(now) {
		switch {
		case old.status == store.IdemDuplicate:
			return store.IdemResult{Status: store.IdemDuplicate, Result: slices.Clone(old.result)}, nil
		case !old.lockUntil.Before(now):
			return store.IdemResult{Status: store.IdemInProgress}, nil
		}
	}
	return store.IdemResult{Status: store.IdemProceed}, nil
}

func (s *Store) CompleteIdem(_ context.Context, key string, result []byte, retention time.Duration, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.idem[key]; !ok {
		return fmt.Errorf("complete idempotency key: no record: %w", store.ErrNotFound)
	}
	s.idem[key] = idemRec{status: store.IdemDuplicate, result: slices.Clone(result), expiresAt: now.Add(retention)}
	return nil
}

func (s *Store) AbortIdem(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Only an in-progress record: a late abort must not erase a completion.
	if s.idem[key].status == store.IdemInProgress {
		delete(s.idem, key)
	}
	return nil
}

func (s *Store) GetWatermark(_ context.Context, scope string) (time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.marks[scope]
	return t, ok, nil
}

func (s *Store) PutWatermark(_ context.Context, scope string, t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marks[scope] = t
	return nil
}

func (s *Store) GetLastStatuses(_ context.Context, scope string, regCodes []string) (map[string]string, error) {
	return s.getKV(s.statuses, scope, regCodes), nil
}

func (s *Store) PutLastStatuses(_ context.Context, scope string, statuses map[string]string) error {
	s.putKV(s.statuses, scope, statuses)
	return nil
}

func (s *Store) GetHashes(_ context.Context, scope string, keys []string) (map[string]string, error) {
	return s.getKV(s.hashes, scope, keys), nil
}

func (s *Store) PutHashes(_ context.Context, scope string, hashes map[string]string) error {
	s.putKV(s.hashes, scope, hashes)
	return nil
}

func (s *Store) DeleteHashes(_ context.Context, scope string, keys []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.hashes[scope], k)
	}
	return nil
}

func (s *Store) getKV(m map[string]map[string]string, scope string, keys []string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for _, k := range keys {
		if v, ok := m[scope][k]; ok {
			out[k] = v
		}
	}
	return out
}

func (s *Store) putKV(m map[string]map[string]string, scope string, kv map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m[scope] == nil {
		m[scope] = map[string]string{}
	}
	maps.Copy(m[scope], kv)
}
