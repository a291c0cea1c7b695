package jobs

import (
	"context"
	"sync"

	"github.com/certain-marketo/certain-marketo/lib/certain"
)

// Healing stale lead ids in the metrics jobs (docs/jobs.md §8, "Stale
// ids"): a record Marketo refuses because the lead it links to does not
// exist (1004, a stored id of a lead merged away or deleted) is held, not
// recorded. The held records of the run's batches gather in a healPool;
// once they fill one Marketo call (metricsBatch), and at the end of the
// invocation, their leads are checked together (Get Leads by
// filterType=id), the dead ones' registrations are resolved again (found
// by e-mail or created, written back) and their records sent again. So a
// run with merged leads spread over every batch adds about three calls per
// 300 refused records, not three per batch.

// healItem is what one batch left to heal: its held records and how the
// job sends them again and finishes the batch.
type healItem struct {
	// start is the offset of the batch's first page: a checkpoint never
	// passes it while the item is pooled.
	start int
	held  []heldRecord
	// recs are the records of the batch's registrations with a held
	// record (held[i].i indexes them); regs and ids are those
	// registrations and their lead ids, by registration code.
	recs []coRecord
	regs map[string]certain.Registration
	ids  map[string]int
	// again returns the records to send again, given the dead lead ids,
	// the new lead id and note of each healed registration.
	again func(dead map[int]bool, healed map[string]int, notes map[string]string) []coRecord
	// done finishes the batch with the results of those records (ok[i]
	// as coUploader.upload gives it); nil when there is nothing to do.
	done func(ctx context.Context, ok []bool) error
}

// healPool is the held records of a run's batches, waiting to be healed
// together. Batches add to it from their own goroutines (flights.go).
type healPool struct {
	mu      sync.Mutex
	waiting []*healItem
	busy    map[*healItem]bool // taken by a heal that has not ended well
	held    int                // held records in waiting
}

// add pools it and, once the waiting records fill a call, takes them all.
func (p *healPool) add(it *healItem) (take []*healItem) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waiting = append(p.waiting, it)
	p.held += len(it.held)
	if p.held < metricsBatch {
		return nil
	}
	return p.takeLocked()
}

// take takes every waiting item.
func (p *healPool) take() []*healItem {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.takeLocked()
}

func (p *healPool) takeLocked() []*healItem {
	take := p.waiting
	p.waiting, p.held = nil, 0
	if p.busy == nil {
		p.busy = map[*healItem]bool{}
	}
	for _, it := range take {
		p.busy[it] = true
	}
	return take
}

// healed forgets items once they are done; the items of a heal that
// failed stay busy, so lowest keeps the checkpoint before them.
func (p *healPool) healed(items []*healItem) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, it := range items {
		delete(p.busy, it)
	}
}

// lowest is at, lowered to the start of every item not healed.
func (p *healPool) lowest(at int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, it := range p.waiting {
		at = min(at, it.start)
	}
	for it := range p.busy {
		at = min(at, it.start)
	}
	return at
}

// holdForHealing pools a batch's held records and heals the pool when it
// fills a call.
func (m *metricsRun) holdForHealing(ctx context.Context, it *healItem) error {
	return m.heal(ctx, m.heals.add(it))
}

// healAll heals every pooled item: at the end of an invocation, before
// its checkpoint.
func (m *metricsRun) healAll(ctx context.Context) error {
	return m.heal(ctx, m.heals.take())
}

// heal checks the leads of the items' held records in one go, resolves the
// registrations whose lead is dead, sends their records again in one
// upload (the Marketo client splits it into calls of 300) and finishes
// each item.
func (m *metricsRun) heal(ctx context.Context, items []*healItem) error {
	if len(items) == 0 {
		return nil
	}
	dead, healed, notes, err := m.healLeads(ctx, items)
	if err != nil {
		return err
	}
	var again []coRecord
	ends := make([]int, len(items))
	for i, it := range items {
		again = append(again, it.again(dead, healed, notes)...)
		ends[i] = len(again)
	}
	ok, err := m.up.upload(ctx, again)
	if err != nil {
		return err
	}
	from := 0
	for i, it := range items {
		if it.done != nil {
			if err := it.done(ctx, ok[from:ends[i]]); err != nil {
				return err
			}
		}
		from = ends[i]
	}
	m.heals.healed(items)
	return nil
}

// healLeads checks the leads of the items' held records (one Get Leads by
// filterType=id per 300), and resolves again each registration whose
// current lead is dead as a profile without an id: found by e-mail or
// created, and written back. It returns the dead lead ids, the new lead id
// and note of each healed registration, and releases (records) the held
// records whose lead exists: Marketo refused them for another reason.
func (m *metricsRun) healLeads(ctx context.Context, items []*healItem) (dead map[int]bool, healed map[string]int, notes map[string]string, err error) {
	var leads []int // deadLeadIDs asks about each once
	for _, it := range items {
		for _, h := range it.held {
			leads = append(leads, it.recs[h.i].Lead)
		}
	}
	dead, err = newLeadOps(m.rc).deadLeadIDs(ctx, leads)
	if err != nil {
		return nil, nil, nil, err
	}
	var again []certain.Registration
	var release []heldRecord
	asked := map[string]bool{}
	for _, it := range items {
		for _, h := range it.held {
			r := it.recs[h.i]
			if !dead[r.Lead] {
				release = append(release, h)
				continue
			}
			if reg, ok := it.regs[r.Owner]; ok && dead[it.ids[r.Owner]] && !asked[r.Owner] {
				asked[r.Owner] = true
				again = append(again, reg)
			}
		}
	}
	m.up.release(ctx, release)
	healed, notes, err = m.leadIDs(ctx, again)
	return dead, healed, notes, err
}
