package dryrun

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// Store is the store twin: reads go to the real store, writes are counted
// in the log and kept in the twin, so that later reads of the same plan see
// them (a delta hash stored for one record, a checkpoint saved) while the
// real store is never written. Safe for concurrent use.
type Store struct {
	inner store.Store
	log   *Log

	mu       sync.Mutex
	jobs     map[string]config.Job
	hashes   map[string]map[string]*string // scope -> key -> value; nil: deleted
	cps      map[string]*store.Checkpoint  // nil: deleted
	idem     map[string]*store.IdemResult  // nil: deleted
	runs     map[string]store.Run
	order    []string // run ids in the order first written
	outcomes map[string][]store.RecordOutcome
	marks    map[string]time.Time
	statuses map[string]map[string]string
}

var _ store.Store = (*Store)(nil)

// NewStore returns a twin of inner recording into log.
func NewStore(inner store.Store, log *Log) *Store {
	return &Store{inner: inner, log: log, jobs: map[string]config.Job{}, hashes: map[string]map[string]*string{},
		cps: map[string]*store.Checkpoint{}, idem: map[string]*store.IdemResult{}, runs: map[string]store.Run{},
		outcomes: map[string][]store.RecordOutcome{}, marks: map[string]time.Time{}, statuses: map[string]map[string]string{}}
}

// errConfigWrite: a plan never writes configuration, and no job does.
var errConfigWrite = errors.New("dry run: configuration is not written")

// ShowJob makes the twin answer with j for its id (a trigger-campaign job
// planned as if enabled, say) instead of what the config table holds.
func (s *Store) ShowJob(j config.Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs[j.ID] = j
}

// Runs returns the run records written to the twin, in the order first
// written (each in its last version).
func (s *Store) Runs() []store.Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Run, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.runs[id])
	}
	return out
}

// Outcomes returns every per-record outcome written to the twin for runID
// (no bound: a plan keeps them all).
func (s *Store) Outcomes(runID string) []store.RecordOutcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.outcomes[runID])
}

func (s *Store) count(f func(w *StateWrites)) { s.log.add(func(w *Writes) { f(&w.State) }) }

// PutConnection is refused.
func (s *Store) PutConnection(context.Context, config.Connection) error { return errConfigWrite }

// GetConnection reads through.
func (s *Store) GetConnection(ctx context.Context, account string) (config.Connection, error) {
	return s.inner.GetConnection(ctx, account)
}

// PutJob is refused.
func (s *Store) PutJob(context.Context, config.Job) error { return errConfigWrite }

// GetJob reads through, unless ShowJob gave the job.
func (s *Store) GetJob(ctx context.Context, id string) (config.Job, error) {
	s.mu.Lock()
	j, ok := s.jobs[id]
	s.mu.Unlock()
	if ok {
		return j, nil
	}
	return s.inner.GetJob(ctx, id)
}

// ListJobs reads through, with the jobs ShowJob gave in place of theirs.
func (s *Store) ListJobs(ctx context.Context, jobType string) ([]config.Job, error) {
	js, err := s.inner.ListJobs(ctx, jobType)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, j := range js {
		if shown, ok := s.jobs[j.ID]; ok {
			js[i] = shown
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.jobs)) {
		j := s.jobs[id]
		if (jobType == "" || j.Type == jobType) && !slices.ContainsFunc(js, func(x config.Job) bool { return x.ID == id }) {
			js = append(js, j)
		}
	}
	return js, nil
}

// GetJobState reads through.
func (s *Store) GetJobState(ctx context.Context, jobID string) (store.JobState, error) {
	return s.inner.GetJobState(ctx, jobID)
}

// ClaimJob is counted and wins, without taking the lease.
func (s *Store) ClaimJob(context.Context, string, string, int64, time.Time, time.Time) (bool, error) {
	s.count(func(w *StateWrites) { w.Other++ })
	return true, nil
}

// ReleaseJob is counted only.
func (s *Store) ReleaseJob(context.Context, string, string, time.Time, string) error {
	s.count(func(w *StateWrites) { w.Other++ })
	return nil
}

// PutRun keeps the run in the twin.
func (s *Store) PutRun(_ context.Context, r store.Run) error {
	s.mu.Lock()
	if _, ok := s.runs[r.ID]; !ok {
		s.order = append(s.order, r.ID)
	}
	r.Counts = maps.Clone(r.Counts)
	s.runs[r.ID] = r
	s.mu.Unlock()
	s.count(func(w *StateWrites) { w.Runs++ })
	return nil
}

// GetRun answers from the twin, else reads through.
func (s *Store) GetRun(ctx context.Context, runID string) (store.Run, error) {
	s.mu.Lock()
	r, ok := s.runs[runID]
	s.mu.Unlock()
	if ok {
		return r, nil
	}
	return s.inner.GetRun(ctx, runID)
}

// ListRuns reads through (a plan's runs are not listed with the job's).
func (s *Store) ListRuns(ctx context.Context, jobID string, limit int) ([]store.Run, error) {
	return s.inner.ListRuns(ctx, jobID, limit)
}

// AddOutcomes keeps the outcomes in the twin, all of them.
func (s *Store) AddOutcomes(_ context.Context, runID string, outs []store.RecordOutcome) (int, error) {
	s.mu.Lock()
	s.outcomes[runID] = append(s.outcomes[runID], outs...)
	s.mu.Unlock()
	s.count(func(w *StateWrites) { w.Outcomes += len(outs) })
	return 0, nil
}

// ListOutcomes answers from the twin for its runs, else reads through.
func (s *Store) ListOutcomes(ctx context.Context, runID string, outcome string) ([]store.RecordOutcome, error) {
	s.mu.Lock()
	outs, ok := s.outcomes[runID]
	s.mu.Unlock()
	if !ok {
		return s.inner.ListOutcomes(ctx, runID, outcome)
	}
	var res []store.RecordOutcome
	for _, o := range outs {
		if outcome == "" || o.Outcome == outcome {
			res = append(res, o)
		}
	}
	return res, nil
}

// GetCheckpoint answers from the twin when the plan wrote or deleted it,
// else reads through.
func (s *Store) GetCheckpoint(ctx context.Context, jobID string) (store.Checkpoint, error) {
	s.mu.Lock()
	cp, ok := s.cps[jobID]
	s.mu.Unlock()
	switch {
	case ok && cp == nil:
		return store.Checkpoint{}, fmt.Errorf("checkpoint of job %q: %w", jobID, store.ErrNotFound)
	case ok:
		return *cp, nil
	}
	return s.inner.GetCheckpoint(ctx, jobID)
}

// version is the checkpoint version the twin holds for jobID (0: none).
func (s *Store) version(ctx context.Context, jobID string) (int64, error) {
	cp, err := s.GetCheckpoint(ctx, jobID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	return cp.Version, err
}

// PutCheckpoint keeps the checkpoint in the twin, with the store's version
// rule (the version it replaces must be expectVersion).
func (s *Store) PutCheckpoint(ctx context.Context, jobID string, cp store.Checkpoint, expectVersion int64) (int64, error) {
	cur, err := s.version(ctx, jobID)
	if err != nil {
		return 0, err
	}
	if cur != expectVersion {
		return 0, fmt.Errorf("put checkpoint of job %q: have version %d, expected %d: %w", jobID, cur, expectVersion, store.ErrConflict)
	}
	cp.Version = cur + 1
	cp.Data = slices.Clone(cp.Data)
	s.mu.Lock()
	s.cps[jobID] = &cp
	s.mu.Unlock()
	s.count(func(w *StateWrites) { w.Checkpoints++ })
	return cp.Version, nil
}

// DeleteCheckpoint marks the checkpoint deleted in the twin.
func (s *Store) DeleteCheckpoint(ctx context.Context, jobID string, expectVersion int64) error {
	cur, err := s.version(ctx, jobID)
	if err != nil {
		return err
	}
	if cur != expectVersion && !(cur == 0 && expectVersion == 0) {
		return fmt.Errorf("delete checkpoint of job %q: have version %d, expected %d: %w", jobID, cur, expectVersion, store.ErrConflict)
	}
	s.mu.Lock()
	s.cps[jobID] = nil
	s.mu.Unlock()
	s.count(func(w *StateWrites) { w.Checkpoints++ })
	return nil
}
