package jobs

import "github.com/certain-marketo/certain-marketo/lib/certain"

// syncBacklog bounds the write-backs a run's batches in the background may
// expect at once: two full batches' worth. A batch writes its lead ids back
// to Certain (rule C) for the profiles not yet linked to their lead, one
// Certain call each against one Marketo call for the whole batch, and holds
// its registrations until they end: with no bound, a first run's batches
// all end up waiting on Certain, the Marketo budget's concurrency of them,
// which costs memory and gains nothing (Certain is the bound). Two full
// batches keep Certain busy across the end of one and the start of the
// next. A batch whose profiles are linked expects none, so a run bound by
// Marketo keeps every batch the budget allows in flight.
const syncBacklog = 2 * syncBatch

// expectedWriteBacks is how many of regs rule C will probably write back:
// those whose profile does not yet hold a live Marketo id under Source of
// Profile exactly Marketo. It only paces the run (syncBacklog): a guess
// that is wrong costs time or memory, never a record.
func (s *leadSyncRun) expectedWriteBacks(regs []*certain.Registration) int64 {
	var n int64
	for _, r := range regs {
		_, linked := knownLeadID(s.ops.fields, r.Profile)
		if !linked || !sourceIsExactlyMarketo(s.ops.fields, r.Profile) || s.ops.stale.get(r.Code) > 0 {
			n++
		}
	}
	return n
}
