package dryrun

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/store"
)

// BeginIdem answers what the real store would (PeekIdem: nothing is
// written there) unless the plan itself claimed or settled the key, and
// keeps the claim in the twin.
func (s *Store) BeginIdem(ctx context.Context, key string, _ time.Time, _ time.Duration, now time.Time) (store.IdemResult, error) {
	s.mu.Lock()
	r, ok := s.idem[key]
	s.mu.Unlock()
	switch {
	case ok && r != nil && r.Status == store.IdemDuplicate:
		return store.IdemResult{Status: store.IdemDuplicate, Result: slices.Clone(r.Result)}, nil
	case ok && r != nil:
		return store.IdemResult{Status: store.IdemInProgress}, nil
	case !ok:
		peek, err := s.inner.PeekIdem(ctx, key, now)
		if err != nil {
			return store.IdemResult{}, err
		}
		if peek.Status != store.IdemProceed {
			return peek, nil
		}
	}
	s.mu.Lock()
	s.idem[key] = &store.IdemResult{Status: store.IdemInProgress}
	s.mu.Unlock()
	s.count(func(w *StateWrites) { w.Idempotency++ })
	return store.IdemResult{Status: store.IdemProceed}, nil
}

// PeekIdem answers from the twin for a key the plan wrote, else reads
// through.
func (s *Store) PeekIdem(ctx context.Context, key string, now time.Time) (store.IdemResult, error) {
	s.mu.Lock()
	r, ok := s.idem[key]
	s.mu.Unlock()
	switch {
	case ok && r == nil:
		return store.IdemResult{Status: store.IdemProceed}, nil
	case ok:
		return *r, nil
	}
	return s.inner.PeekIdem(ctx, key, now)
}

// CompleteIdem settles the key in the twin.
func (s *Store) CompleteIdem(_ context.Context, key string, result []byte, _ time.Duration, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.idem[key]; !ok || r == nil {
		return fmt.Errorf("complete idempotency key: no record: %w", store.ErrNotFound)
	}
	s.idem[key] = &store.IdemResult{Status: store.IdemDuplicate, Result: slices.Clone(result)}
	s.log.add(func(w *Writes) { w.State.Idempotency++ })
	return nil
}

// AbortIdem releases a claim the plan holds.
func (s *Store) AbortIdem(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.idem[key]; ok && r != nil && r.Status == store.IdemInProgress {
		s.idem[key] = nil
		s.log.add(func(w *Writes) { w.State.Idempotency++ })
	}
	return nil
}

// GetWatermark answers from the twin, else reads through.
func (s *Store) GetWatermark(ctx context.Context, scope string) (time.Time, bool, error) {
	s.mu.Lock()
	t, ok := s.marks[scope]
	s.mu.Unlock()
	if ok {
		return t, true, nil
	}
	return s.inner.GetWatermark(ctx, scope)
}

// PutWatermark keeps the watermark in the twin.
func (s *Store) PutWatermark(_ context.Context, scope string, t time.Time) error {
	s.mu.Lock()
	s.marks[scope] = t
	s.mu.Unlock()
	s.count(func(w *StateWrites) { w.Other++ })
	return nil
}

// GetLastStatuses reads through, with the statuses the plan wrote.
func (s *Store) GetLastStatuses(ctx context.Context, scope string, regCodes []string) (map[string]string, error) {
	out, err := s.inner.GetLastStatuses(ctx, scope, regCodes)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range regCodes {
		if v, ok := s.statuses[scope][c]; ok {
			if out == nil {
				out = map[string]string{}
			}
			out[c] = v
		}
	}
	return out, nil
}

// PutLastStatuses keeps the statuses in the twin.
func (s *Store) PutLastStatuses(_ context.Context, scope string, statuses map[string]string) error {
	s.mu.Lock()
	if s.statuses[scope] == nil {
		s.statuses[scope] = map[string]string{}
	}
	maps.Copy(s.statuses[scope], statuses)
	s.mu.Unlock()
	s.count(func(w *StateWrites) { w.Other++ })
	return nil
}

// GetHashes reads through, with the entries the plan stored or deleted.
func (s *Store) GetHashes(ctx context.Context, scope string, keys []string) (map[string]string, error) {
	out, err := s.inner.GetHashes(ctx, scope, keys)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	over := s.hashes[scope]
	if len(over) == 0 {
		return out, nil
	}
	res := maps.Clone(out)
	if res == nil {
		res = map[string]string{}
	}
	for _, k := range keys {
		if v, ok := over[k]; ok {
			if v == nil {
				delete(res, k)
			} else {
				res[k] = *v
			}
		}
	}
	return res, nil
}

// PutHashes keeps the entries in the twin.
func (s *Store) PutHashes(_ context.Context, scope string, hashes map[string]string) error {
	s.mu.Lock()
	if s.hashes[scope] == nil {
		s.hashes[scope] = map[string]*string{}
	}
	for k, v := range hashes {
		s.hashes[scope][k] = &v
	}
	s.mu.Unlock()
	s.count(func(w *StateWrites) { w.Hashes += len(hashes) })
	return nil
}

// DeleteHashes marks the entries deleted in the twin.
func (s *Store) DeleteHashes(_ context.Context, scope string, keys []string) error {
	s.mu.Lock()
	if s.hashes[scope] == nil {
		s.hashes[scope] = map[string]*string{}
	}
	for _, k := range keys {
		s.hashes[scope][k] = nil
	}
	s.mu.Unlock()
	s.count(func(w *StateWrites) { w.HashesDeleted += len(keys) })
	return nil
}
