package jobs

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store/memstore"
)

// stalledCertain is a fakeCertain whose profile writes wait until release
// is closed.
type stalledCertain struct {
	*fakeCertain
	release chan struct{}
}

func (c *stalledCertain) UpdateProfile(ctx context.Context, acct, pin string, changed map[string]any) error {
	select {
	case <-c.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return c.fakeCertain.UpdateProfile(ctx, acct, pin, changed)
}

// stalledMarketo is a fakeMarketo whose Sync Leads calls wait until release
// is closed, counting the calls waiting at once.
type stalledMarketo struct {
	*fakeMarketo
	release chan struct{}
	mu      sync.Mutex
	waiting int
}

func (m *stalledMarketo) SyncLeads(ctx context.Context, req marketo.SyncLeadsRequest) ([]marketo.SyncResult, error) {
	m.mu.Lock()
	m.waiting++
	m.mu.Unlock()
	select {
	case <-m.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return m.fakeMarketo.SyncLeads(ctx, req)
}

// backlogRun is a sync-leads run over 5 batches of 300 registrations with
// a Marketo budget of 5 batches at once; linked: every profile already
// holds its Marketo lead's id (nothing to write back).
func backlogRun(mk Marketo, ct *fakeCertain, fm *fakeMarketo, linked bool) *RunContext {
	for i := range 1500 {
		email := fmt.Sprintf("p%04d@example.org", i)
		ext, src := "", ""
		if linked {
			ext, src = strconv.Itoa(fm.add(marketo.Lead{"email": email})), "Marketo"
		}
		r := reg(fmt.Sprintf("R%04d", i), fmt.Sprintf("P%04d", i), email, ext, src, "Registered", map[string]any{"firstName": "F"})
		r.DateModified = time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)
		ct.regs = append(ct.regs, r)
	}
	rc := testRC(mk, ct)
	rc.Job.Params.Statuses = []string{"Registered"}
	rc.Conn.MarketoBudget.Concurrent = 5
	rc.Store = memstore.New()
	rc.now = time.Now
	return rc
}

// TestSyncLeadsBacklog: in a first run, whose batches each expect 300 lead
// ids to write back to Certain, the run starts no batch (no Sync Leads call)
// beyond the two whose write-backs fill its backlog, though the Marketo
// budget would let 5 go at once: the others' registrations are not held in
// memory to wait on Certain. A run with nothing to write back is not held:
// its 5 batches wait on Marketo at once.
func TestSyncLeadsBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fm := newFakeMarketo()
		ct := &stalledCertain{fakeCertain: newFakeCertain(), release: make(chan struct{})}
		rc := backlogRun(fm, ct.fakeCertain, fm, false)
		rc.Clients.Certain = ct
		done := make(chan error, 1)
		go func() { done <- SyncLeads(t.Context(), rc) }()
		synctest.Wait() // every batch started is stalled on its write-backs
		fm.mu.Lock()
		calls := len(fm.syncs)
		fm.mu.Unlock()
		if calls != syncBacklog/syncBatch {
			t.Errorf("%d Sync Leads calls while the write-backs are stalled, want %d (the backlog holds %d write-backs)", calls, syncBacklog/syncBatch, syncBacklog)
		}
		close(ct.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n, w := len(fm.syncs), len(ct.updates); n != 5 || w != 1500 {
			t.Errorf("%d Sync Leads calls and %d profiles written back, want 5 and 1,500", n, w)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		fm := newFakeMarketo()
		mk := &stalledMarketo{fakeMarketo: fm, release: make(chan struct{})}
		ct := newFakeCertain()
		rc := backlogRun(mk, ct, fm, true)
		done := make(chan error, 1)
		go func() { done <- SyncLeads(t.Context(), rc) }()
		synctest.Wait()
		mk.mu.Lock()
		waiting := mk.waiting
		mk.mu.Unlock()
		if waiting != 5 {
			t.Errorf("linked profiles: %d Sync Leads calls waiting on Marketo at once, want 5 (the budget's concurrency)", waiting)
		}
		close(mk.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n, w := len(fm.syncs), len(ct.updates); n != 5 || w != 0 {
			t.Errorf("linked profiles: %d Sync Leads calls and %d profiles written back, want 5 and 0", n, w)
		}
	})
}

var _ Certain = (*stalledCertain)(nil)
