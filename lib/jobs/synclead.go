package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// syncBatch is how many registrations go to Marketo per Sync Leads call:
// Marketo's maximum, so a 10,000-registration event takes 34 calls.
const syncBatch = 300

// syncCheckpoint is the sync-leads checkpoint: the Certain offset of the
// first registration not yet handled. Everything before it was sent (and
// its hash stored) or needed nothing; registrations after it that were sent
// before the stop have their hash stored, so a resumed run finds them
// unchanged and does not send them again. VerifySince is, for a run that
// verifies the stored Marketo ids, when that verification began (Unix
// seconds; 0: the run does not verify), so that its continuations verify
// the rest (synclead_verify.go).
type syncCheckpoint struct {
	V           int   `json:"v"`
	StartIndex  int   `json:"startIndex"`
	VerifySince int64 `json:"verifySince,omitempty"`
}

// SyncLeads is the "Create or Update Leads in Marketo" job: the event's
// active registrations whose status is one of the job's statuses are read
// page by page, mapped through the connection's field mapping, and sent to
// Marketo by rules A and B, 300 per call; rule C writes the Marketo id back
// to Certain. A registration whose mapped payload (and rule inputs) is
// unchanged since its last successful send is not sent again unless the job
// forces a full resend. A registration Marketo refused is retried by the
// next run; with Params.RetryFailuresAfter, one refused for good (1007:
// several leads share the email) is not re-sent with the same payload for
// that long, but is recorded as failed, with its reason, in every run (see
// leads_retry.go).
//
// The delta hash never hides a dead Marketo id for long: at most once per
// params.verifyIdsEvery (default 24h; "0s": every run) a run verifies the
// stored ids of the job's unchanged registrations (synclead_verify.go). In
// that run an unchanged registration whose profile stores a Marketo id
// counts as unchanged only once Marketo confirmed the lead exists (Get Leads
// by filterType=id, 300 ids per call, across pages, in the background;
// leads_ids.go); one whose lead was merged away or deleted is sent as a
// profile without an id (rule A) and the id found is written back (rule C),
// counted as staleIdsHealed. A registration that is sent in any run has its
// id checked by the write itself: Marketo's 1004 for a dead id heals it in
// that run (leads.go).
//
// The field mapping is checked against Marketo's lead describe once per
// run, before the first write; a run with nothing to send and no stored id
// to verify makes no Marketo call at all.
func SyncLeads(ctx context.Context, rc *RunContext) error {
	j := rc.Job
	if j.Event == "" {
		return Configf("job %q: sync-leads needs an event", j.ID)
	}
	want, err := wantedStatuses(j.ID, j.Params.Statuses)
	if err != nil {
		return err
	}
	s := &leadSyncRun{rc: rc, ops: newLeadOps(rc), scope: "job:" + j.ID, force: j.Params.ForceFull, want: want,
		fl: newFlights(batchFlights(rc.Conn)).withBacklog(syncBacklog)}
	resume := s.loadCheckpoint(ctx)
	s.startVerification(resume)
	q := certain.RegistrationQuery{ActiveOnly: true, StartIndex: resume, Keep: syncRawFields(s.ops.mapping, s.ops.fields)}
	for page, err := range rc.Clients.Certain.RegistrationPages(ctx, j.Account, j.Event, q) {
		if err != nil {
			return s.finish(ctx, resume, fmt.Errorf("read registrations of %s/%s from offset %d: %w", j.Account, j.Event, resume, err))
		}
		if s.fl.failed() != nil {
			return s.finish(ctx, page.StartIndex, nil)
		}
		if rc.ShouldStop(ctx) {
			return s.finish(ctx, page.StartIndex, ErrCheckpointed)
		}
		if err := s.page(ctx, page); err != nil {
			return s.finish(ctx, page.StartIndex, err)
		}
		resume = page.NextIndex
	}
	if err := s.finish(ctx, resume, s.drain(ctx)); err != nil {
		return err
	}
	// Every registration was read and every batch and id check ended
	// well: only now does a verification count as complete.
	s.verified(ctx)
	return nil
}

// batchFlights is how many batches of a run may be in the background at
// once: the Marketo budget's concurrency, so that batches go to Marketo as
// soon as they are full while the next pages are read (a sync-leads batch
// also waits for room in the run's backlog of write-backs, syncBacklog).
func batchFlights(conn config.Connection) int {
	return max(conn.WithDefaults().MarketoBudget.Concurrent, 1)
}

// wantedStatuses is the set of the job's statuses, normalised.
func wantedStatuses(jobID string, statuses []string) (map[string]bool, error) {
	want := map[string]bool{}
	for _, s := range statuses {
		if n := normStatus(s); n != "" {
			want[n] = true
		}
	}
	if len(want) == 0 {
		return nil, Configf("job %q: params.statuses: at least one registration status required", jobID)
	}
	return want, nil
}

// leadSyncRun buffers registrations to send and tracks the resume offset.
type leadSyncRun struct {
	rc    *RunContext
	ops   *leadOps
	scope string
	force bool
	want  map[string]bool // normalised statuses of the registrations to sync
	// fl runs the full batches in the background (flights.go).
	fl *flights
	// mapped guards the check of the field mapping, done once before the
	// first write of the run.
	mapped  callLock
	checked bool
	mapErr  error
	// revived are registrations whose stored id a background check found
	// dead: they wait for the job's goroutine to send them (takeRevived).
	revivedMu sync.Mutex
	revived   idCheckBuf
	// bufs hold the registrations waiting for Marketo, one buffer per
	// Sync Leads action (createOrUpdate for rule A, updateOnly for rule B),
	// so that each call carries up to 300 records of one action instead of
	// every flush splitting into two part-filled calls.
	bufs [2]*syncBuf
	// ids holds the unchanged registrations whose stored Marketo id is
	// checked before they count as unchanged.
	ids idCheckBuf
	// verify is the run's part in the verification of stored ids
	// (synclead_verify.go).
	verify idVerification
}

// syncRawFields are the raw fields sync-leads reads of a registration and
// of its profile: every mapped Certain name, the Source of Profile and the
// External Profile ID. The rest are decoded fields (Code, Status,
// Profile.Email, ...) or unused, and the read drops them as it decodes each
// row (RegistrationQuery.Keep): a decoded registration holds a map, a key
// string and a boxed value per field, about five times its JSON, and up to
// a few thousand wait in the run's pages and batches at once.
func syncRawFields(mapping []config.FieldMap, f certain.FieldNames) *certain.RawFields {
	k := &certain.RawFields{Profile: []string{f.Source, f.ExternalID}}
	for _, m := range mapping {
		if rest, ok := strings.CutPrefix(m.Certain, registrationPrefix); ok {
			k.Registration = append(k.Registration, rest)
		} else {
			k.Profile = append(k.Profile, m.Certain)
		}
	}
	return k
}

// idCheckBuf is unchanged registrations waiting for their stored id to be
// checked, with the Certain offset of the page each came from.
type idCheckBuf struct {
	regs    []*certain.Registration
	ids     []int
	offsets []int
}

type syncBuf struct {
	regs         []*certain.Registration
	keys         []string        // "email:" + e-mail key of each of regs (the flights' keys)
	has          map[string]bool // keys, as a set
	firstPending int             // Certain offset of the page holding regs[0]
}

// loadCheckpoint returns the offset the run starts at: the checkpoint's,
// or 0 for a fresh run.
func (s *leadSyncRun) loadCheckpoint(ctx context.Context) int {
	var cp syncCheckpoint
	if len(s.rc.Checkpoint) == 0 {
		return 0
	}
	if err := json.Unmarshal(s.rc.Checkpoint, &cp); err != nil || cp.V != 1 || cp.StartIndex < 0 {
		// Starting over is safe: the delta hashes keep sent records from
		// being sent again.
		s.rc.Logger.WarnContext(ctx, "unreadable sync-leads checkpoint; starting from the first registration", "error", err)
		return 0
	}
	if cp.VerifySince > 0 {
		s.verify.since = time.Unix(cp.VerifySince, 0).UTC()
	}
	return cp.StartIndex
}

// saveAt stores a checkpoint at offset at and returns cause (joined with
// the save failure, if any).
func (s *leadSyncRun) saveAt(ctx context.Context, at int, cause error) error {
	cp := syncCheckpoint{V: 1, StartIndex: at}
	if !s.verify.since.IsZero() {
		cp.VerifySince = s.verify.since.Unix()
	}
	data, _ := json.Marshal(cp) // three ints: cannot fail
	if err := s.rc.SaveCheckpoint(ctx, data); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// finish ends the run's reading at offset at: it waits for the batches in
// the background and, unless everything is done, saves the checkpoint
// where the first registration not yet done was read, and returns cause
// (or the first batch's error).
func (s *leadSyncRun) finish(ctx context.Context, at int, cause error) error {
	werr := s.fl.wait()
	switch {
	case werr == nil && cause == nil:
		return nil
	case werr != nil && (cause == nil || errors.Is(cause, ErrCheckpointed) || errors.Is(cause, errKeyFailed)):
		// A batch's error says more than the stop it caused.
		cause = werr
	case werr != nil:
		cause = errors.Join(cause, werr)
	}
	return s.saveAt(ctx, s.resumeAt(at), cause)
}

// drain sends what is left once every page is read: the stored ids still
// to check, then, once the checks ended, every partly filled batch.
func (s *leadSyncRun) drain(ctx context.Context) error {
	if err := s.dispatchIDs(ctx); err != nil {
		return err
	}
	s.fl.waitKind(flightIDs)
	if err := s.fl.failed(); err != nil {
		return nil // finish reports it
	}
	if err := s.takeRevived(ctx); err != nil {
		return err
	}
	for _, b := range s.bufs {
		if err := s.dispatch(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// page handles one page of registrations: those with a wanted status are
// recorded as needing nothing, or buffered, and full buffers are sent.
func (s *leadSyncRun) page(ctx context.Context, page certain.Page[certain.Registration]) error {
	if err := s.takeRevived(ctx); err != nil {
		return err
	}
	s.rc.Run.Add("registrationsRead", len(page.Items))
	var cand []int
	var codes []string
	for i, r := range page.Items {
		if s.want[normStatus(r.Status)] {
			cand = append(cand, i)
			codes = append(codes, r.Code)
		}
	}
	var stored map[string]string
	if !s.force && len(codes) > 0 {
		keys := codes
		if !s.verify.decided {
			// When the ids were last verified comes with the first
			// hashes read: no extra round trip.
			keys = append(codes, verifiedKey)
		}
		var err error
		if stored, err = s.rc.Store.GetHashes(ctx, s.scope, keys); err != nil {
			return fmt.Errorf("read delta hashes: %w", err)
		}
		if !s.verify.decided {
			s.decideVerification(ctx, stored[verifiedKey])
		}
	}
	for _, i := range cand {
		r := page.Items[i]
		switch s.settled(r, stored) {
		case settledDone:
			continue
		case settledIfIDLives:
			if err := s.addIDCheck(ctx, &r, page.StartIndex); err != nil {
				return err
			}
			continue
		}
		// Progress is kept at page starts: every paging mode can resume
		// there (page1 refuses a mid-page offset), and the records of the
		// page already sent are skipped by their delta hashes.
		if err := s.send(ctx, &r, page.StartIndex); err != nil {
			return err
		}
	}
	return nil
}

// send buffers a registration for Sync Leads and sends a full buffer.
// Registrations sharing an e-mail reach Marketo in the order they were
// read, whichever action they take: when the other action's buffer holds
// the address, that buffer goes first (see leads.go, syncGroup, for why
// the order makes the lead's values the same after any crash). One
// exception: a registration revived by a background id check (its stored
// id was dead) is sent when the check answers.
func (s *leadSyncRun) send(ctx context.Context, r *certain.Registration, offset int) error {
	i := s.bufIndex(r)
	key := "email:" + emailKey(leadEmail(BuildLeadPayload(s.ops.mapping, *r), *r))
	if o := s.bufs[1-i]; o != nil && o.has[key] {
		if err := s.dispatch(ctx, o); err != nil {
			s.add(r, offset, i, key) // buffered all the same: the checkpoint covers it (takeRevived relies on it)
			return err
		}
	}
	b := s.add(r, offset, i, key)
	if len(b.regs) >= syncBatch {
		return s.dispatch(ctx, b)
	}
	return nil
}

// addIDCheck buffers an unchanged registration whose stored id is to be
// checked, and checks a full buffer.
func (s *leadSyncRun) addIDCheck(ctx context.Context, r *certain.Registration, offset int) error {
	id, _ := knownLeadID(s.ops.fields, r.Profile)
	s.ids.regs = append(s.ids.regs, r)
	s.ids.ids = append(s.ids.ids, id)
	s.ids.offsets = append(s.ids.offsets, offset)
	if len(s.ids.regs) >= syncBatch {
		return s.dispatchIDs(ctx)
	}
	return nil
}

// Kinds of background batches.
const (
	flightSync = "sync"
	flightIDs  = "ids"
)

// dispatchIDs asks Marketo about the buffered stored ids in the background
// (one call per 300): a registration whose lead exists is unchanged; one
// whose lead no longer exists is handed back (takeRevived) to be sent as a
// profile without an id.
func (s *leadSyncRun) dispatchIDs(ctx context.Context) error {
	if len(s.ids.regs) == 0 {
		return nil
	}
	pending := s.ids
	first := slices.Min(pending.offsets)
	if err := s.fl.start(ctx, flightIDs, first, nil, 0, func() error { return s.checkIDs(ctx, pending) }); err != nil {
		return err
	}
	s.ids = idCheckBuf{}
	return nil
}

// checkIDs checks the stored ids of pending (in the background).
func (s *leadSyncRun) checkIDs(ctx context.Context, pending idCheckBuf) error {
	dead, err := s.ops.deadLeadIDs(ctx, pending.ids)
	if err != nil {
		return err
	}
	s.rc.Run.Add(CountIdsChecked, len(pending.ids))
	s.revivedMu.Lock()
	defer s.revivedMu.Unlock()
	for j, r := range pending.regs {
		if !dead[pending.ids[j]] {
			s.rc.Run.Record(store.RecordOutcome{Key: r.Code, Email: r.Profile.Email, Outcome: store.OutcomeUnchanged})
			continue
		}
		s.ops.stale.set(r.Code, pending.ids[j])
		s.revived.regs = append(s.revived.regs, r)
		s.revived.ids = append(s.revived.ids, pending.ids[j])
		s.revived.offsets = append(s.revived.offsets, pending.offsets[j])
	}
	return nil
}

// takeRevived buffers the registrations whose stored id was found dead, to
// be sent under rule A. Those not buffered when it fails stay revived, so
// the checkpoint still covers them.
func (s *leadSyncRun) takeRevived(ctx context.Context) error {
	s.revivedMu.Lock()
	rv := s.revived
	s.revived = idCheckBuf{}
	s.revivedMu.Unlock()
	for j, r := range rv.regs {
		if err := s.send(ctx, r, rv.offsets[j]); err != nil {
			s.revivedMu.Lock()
			s.revived.regs = append(s.revived.regs, rv.regs[j+1:]...)
			s.revived.ids = append(s.revived.ids, rv.ids[j+1:]...)
			s.revived.offsets = append(s.revived.offsets, rv.offsets[j+1:]...)
			s.revivedMu.Unlock()
			return err
		}
	}
	return nil
}

// settledness says what a registration needs.
type settledness int

const (
	settledNot       settledness = iota // to send
	settledDone                         // outcome recorded; nothing to send
	settledIfIDLives                    // unchanged if the Marketo id it stores still exists
)

// settled records the outcome of a registration that needs no Sync Leads
// call and says whether it did: unchanged since its last send (once its
// stored id is confirmed, when the run verifies ids), refused for good
// with this very payload, or skipped by the rules.
func (s *leadSyncRun) settled(r certain.Registration, stored map[string]string) settledness {
	if v, ok := stored[r.Code]; ok {
		e, h := parseDelta(v), s.ops.leadHash(r)
		if !e.Failed && e.Hash == h {
			return s.unchanged(r)
		}
		if after := time.Duration(s.rc.Job.Params.RetryFailuresAfter); e.held(h, s.rc.Now(), after) {
			// Refused for good last time with this very payload:
			// reported again, not re-sent (see leads_retry.go).
			s.rc.Run.Record(e.heldOutcome(r.Code, r.Profile.Email, after))
			s.rc.Run.Add("failuresNotRetried", 1)
			return settledDone
		}
	}
	if out, skip := s.ops.precheck(r); skip {
		s.rc.Run.Record(out) // no Marketo call needed to know
		return settledDone
	}
	return settledNot
}

// bufIndex is the buffer of r's action: 0 for createOrUpdate (rule A),
// 1 for updateOnly (rule B).
func (s *leadSyncRun) bufIndex(r *certain.Registration) int {
	if rule, _ := s.ops.ruleFor(*r); rule == ruleUpdateOnly {
		return 1
	}
	return 0
}

func (s *leadSyncRun) add(r *certain.Registration, offset, i int, key string) *syncBuf {
	if s.bufs[i] == nil {
		s.bufs[i] = &syncBuf{}
	}
	b := s.bufs[i]
	if len(b.regs) == 0 {
		b.firstPending = offset
		b.has = map[string]bool{}
	}
	b.regs = append(b.regs, r)
	b.keys = append(b.keys, key)
	b.has[key] = true
	return b
}

// resumeAt is where a continuation starts: the first registration still
// waiting in a buffer or in a batch that has not finished, else next.
// Registrations after it that were already sent are found unchanged by
// their delta hash, so nothing is sent twice.
func (s *leadSyncRun) resumeAt(next int) int {
	at := next
	for _, b := range s.bufs {
		if b != nil && len(b.regs) > 0 && b.firstPending < at {
			at = b.firstPending
		}
	}
	for _, off := range s.ids.offsets {
		at = min(at, off)
	}
	s.revivedMu.Lock()
	for _, off := range s.revived.offsets {
		at = min(at, off)
	}
	s.revivedMu.Unlock()
	return s.fl.lowest(at)
}

// dispatch sends the buffer's registrations in the background and empties
// it, once the write-backs it expects fit in the run's backlog. Batches
// holding one e-mail address run one after the other.
func (s *leadSyncRun) dispatch(ctx context.Context, b *syncBuf) error {
	if b == nil || len(b.regs) == 0 {
		return nil
	}
	regs := b.regs
	if err := s.fl.start(ctx, flightSync, b.firstPending, b.keys, s.expectedWriteBacks(regs), func() error { return s.flush(ctx, regs) }); err != nil {
		return err
	}
	b.regs, b.keys, b.has = nil, nil, nil
	return nil
}

// checkMapping checks the field mapping once, before the run's first
// write; batches starting together wait for the one check.
func (s *leadSyncRun) checkMapping(ctx context.Context) error {
	if err := s.mapped.lock(ctx); err != nil {
		return err
	}
	defer s.mapped.unlock()
	if s.checked || s.mapErr != nil {
		return s.mapErr
	}
	if err := s.ops.checkMapping(ctx); err != nil {
		if errors.Is(err, ErrConfig) {
			s.mapErr = err // the same answer for every batch
		}
		return err
	}
	s.checked = true
	return nil
}

// flush sends regs (in the background). Whatever Marketo accepted is
// recorded and hashed even when a later call of the same flush fails, so a
// retry skips it; a permanent refusal is remembered with its payload hash
// (leads_retry.go).
func (s *leadSyncRun) flush(ctx context.Context, regs []*certain.Registration) error {
	if err := s.checkMapping(ctx); err != nil {
		return err
	}
	res, err := s.ops.syncLeads(ctx, regs)
	hashes := map[string]string{}
	for i, r := range res {
		if r.Outcome.Outcome == "" {
			continue // not reached: the call that would have sent it failed
		}
		s.rc.Run.Record(r.Outcome)
		if r.Synced {
			hashes[regs[i].Code] = s.ops.leadHash(*regs[i])
		} else if m, ok := failureMemo(r.Outcome, s.ops.leadHash(*regs[i]), s.rc.Now()); ok {
			// Not written back (no lead id), so the registration still has
			// the values this hash was taken from.
			hashes[regs[i].Code] = m.encode()
		}
	}
	if len(hashes) > 0 {
		if herr := s.rc.Store.PutHashes(context.WithoutCancel(ctx), s.scope, hashes); herr != nil {
			err = errors.Join(err, fmt.Errorf("store delta hashes: %w", herr))
		}
	}
	return err
}

var _ JobFunc = SyncLeads
