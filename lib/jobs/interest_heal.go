package jobs

import (
	"context"

	"github.com/certain-marketo/certain-marketo/lib/certain"
)

// How interest-metrics heals the records Marketo refused for a dead lead
// (metrics_heal.go): the registrations of a batch with such a record wait
// in the run's pool with their records, and their manifests are stored
// once the held records are sent again.

// healItem is what the entries of a batch that have a held record (waits)
// leave to heal: their records, held or not, and how to send the held
// ones again and store the entries' manifests after.
func (r *interestRun) healItem(batch []pendingReg, waits map[int]bool, ids map[string]int,
	recs []coRecord, from []interestOrigin, ok []bool, held []heldRecord) *healItem {
	sub := &interestHeal{r: r, ids: map[string]int{}, entry: map[string]int{}}
	it := &healItem{start: batch[0].start, regs: map[string]certain.Registration{}, ids: sub.ids, again: sub.again, done: sub.done}
	at := map[int]int{} // batch entry -> entry in sub.batch
	for i, b := range batch {
		if waits[i] {
			at[i] = len(sub.batch)
			sub.entry[b.Reg.Code] = len(sub.batch)
			sub.batch = append(sub.batch, b)
			it.regs[b.Reg.Code] = b.Reg
			if id, ok := ids[b.Reg.Code]; ok {
				sub.ids[b.Reg.Code] = id
			}
		}
	}
	moved := map[int]int{} // record of the batch -> record of sub
	for j, o := range from {
		if e, in := at[o.entry]; in {
			moved[j] = len(sub.recs)
			o.entry = e
			sub.recs, sub.from, sub.ok = append(sub.recs, recs[j]), append(sub.from, o), append(sub.ok, ok[j])
		}
	}
	for _, h := range held {
		h.i = moved[h.i]
		sub.held = append(sub.held, h)
	}
	it.held, it.recs = sub.held, sub.recs
	return it
}

// interestHeal is the part of a batch that waits for healing: the entries
// with a held record, their records with what each stands for and its
// result, and what sending the held ones again adds.
type interestHeal struct {
	r     *interestRun
	batch []pendingReg
	ids   map[string]int // lead by registration code; updated with the healed ones
	entry map[string]int // registration code -> index in batch
	recs  []coRecord
	from  []interestOrigin
	ok    []bool
	held  []heldRecord // index recs
	// Set by again, for done:
	againFrom []interestOrigin
	drop      map[int]bool // records replaced by the ones sent again
}

// again is the records to send again: each held record of a dead lead
// whose registration has a live lead now.
func (h *interestHeal) again(dead map[int]bool, healed map[string]int, notes map[string]string) []coRecord {
	for code, id := range healed {
		if _, in := h.entry[code]; in {
			h.ids[code] = id
		}
	}
	var again []coRecord
	h.drop = map[int]bool{}
	for _, x := range h.held {
		o, rec := h.from[x.i], h.recs[x.i]
		lead, has := h.ids[rec.Owner]
		if !dead[o.lead] || !has || dead[lead] {
			continue // released, or its registration has no live lead: its outcome is recorded
		}
		b := h.batch[h.entry[rec.Owner]]
		keyLead, pts := lead, b.Points[o.tag]
		if o.zero {
			pts = 0
			// Clear the dead lead's record under its key, linked to the
			// registration's lead now (a merge moves the record there).
			keyLead = o.lead
			h.drop[x.i] = true
		}
		again = append(again, h.r.record(b, lead, keyLead, o.tag, pts, notes[rec.Owner]))
		h.againFrom = append(h.againFrom, interestOrigin{entry: o.entry, lead: keyLead, tag: o.tag, zero: o.zero})
	}
	return again
}

// done stores the entries' manifests from the records' results, those
// sent again (okAgain) included.
func (h *interestHeal) done(ctx context.Context, okAgain []bool) error {
	var from []interestOrigin
	var ok []bool
	for j := range h.from {
		if !h.drop[j] {
			from, ok = append(from, h.from[j]), append(ok, h.ok[j])
		}
	}
	from, ok = append(from, h.againFrom...), append(ok, okAgain...)
	return h.r.storeManifests(ctx, h.batch, nextManifests(h.batch, h.ids, from, ok))
}
