package jobs

import (
	"context"
	"strconv"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// How often sync-leads verifies stored Marketo ids (params.verifyIdsEvery,
// default 24h; docs/jobs.md §3).
//
// The delta hash must not hide a dead id, but verifying every stored id on
// every run costs ⌈n/300⌉ Get Leads calls per run for nothing: 34 at 10,000
// registrations, 3,264 a day on a 15-minute schedule. Instead a run
// verifies the stored ids of the job's unchanged registrations only when
// the last complete verification began at least verifyIdsEvery ago:
//
//   - The job keeps when its last complete verification began in its delta
//     store, beside the registration hashes (verifiedKey), read with the
//     first page's hashes: no extra round trip.
//   - The checks themselves run in the background like any batch
//     (synclead.go: addIDCheck, dispatchIDs, checkIDs), 300 ids a call,
//     while the next pages are read; the cadence only decides whether an
//     unchanged registration's stored id is checked at all (unchanged).
//   - A run that verifies and stops at the soft deadline (or on an error,
//     its own or a background batch's) keeps the start of the
//     verification in its checkpoint: the continuation verifies the rest,
//     and the time is stored only once a run reached the last registration
//     and every batch and id check in the background ended well. A
//     continuation of a run that did not verify does not start verifying
//     half-way.
//   - Registrations that are sent need no check: the write tells a dead id
//     (Marketo answers 1004 for an update-only profile; leads.go heals it
//     in the same run), whatever the cadence.
//   - A forced run sends every registration, so it counts as a
//     verification; "0s" verifies on every run.
//
// An unchanged run inside the cadence makes no Marketo call; the run that
// verifies makes ⌈n/300⌉ (the optimum: once per interval, 300 ids per
// call; measured in TestStaleIDFigures).

const (
	// verifiedKey is the delta-store key, beside the registration codes
	// (which never start with "#"), holding when the job's last complete
	// verification of stored ids began (Unix seconds).
	verifiedKey = "#idsVerifiedAt"
	// CountIdsChecked counts the stored Marketo ids a sync-leads run asked
	// Marketo about.
	CountIdsChecked = "idsChecked"
)

// idVerification is a run's part in verifying the job's stored ids.
type idVerification struct {
	// decided once the run knows whether it verifies.
	decided bool
	// since is when the verification this run takes part in began; zero
	// when the run does not verify.
	since time.Time
}

// startVerification settles what it can before the first page: a
// continuation follows its checkpoint, a forced run counts as a
// verification; a fresh run decides with the first hashes read.
func (s *leadSyncRun) startVerification(resume int) {
	switch {
	case !s.verify.since.IsZero(): // a verifying run's continuation
		s.verify.decided = true
	case s.force && resume == 0:
		s.verify = idVerification{decided: true, since: s.rc.Now()}
	case resume > 0 || s.force:
		s.verify.decided = true // continuing a run that did not verify
	}
}

// decideVerification makes a fresh run verify when the last verification
// stored (stored: its Unix seconds; "" when none) began verifyIdsEvery or
// longer ago, or lies in the future (a clock moved back).
func (s *leadSyncRun) decideVerification(ctx context.Context, stored string) {
	s.verify.decided = true
	now, every := s.rc.Now(), s.rc.Job.Params.VerifyIDsInterval()
	if sec, err := strconv.ParseInt(stored, 10, 64); err == nil && sec > 0 {
		last := time.Unix(sec, 0).UTC()
		if age := now.Sub(last); age >= 0 && age < every {
			return
		}
	} else if stored != "" {
		s.rc.Logger.WarnContext(ctx, "unreadable time of the last Marketo id verification; verifying now", "value", stored)
	}
	s.verify.since = now
}

// unchanged settles a registration whose delta hash is unchanged: at once,
// unless its profile stores a Marketo id and the run verifies ids (and has
// not confirmed this one already), or Source of Profile is not exactly the
// configured value (rule C has a write left to do).
func (s *leadSyncRun) unchanged(r certain.Registration) settledness {
	id, linked := knownLeadID(s.ops.fields, r.Profile)
	if linked && !sourceIsExactlyMarketo(s.ops.fields, r.Profile) {
		return settledNot
	}
	if linked {
		switch exists, known := s.ops.idCache.get(id); {
		case known && !exists:
			s.ops.stale.set(r.Code, id)
			return settledNot
		case !known && !s.verify.since.IsZero():
			return settledIfIDLives
		}
	}
	s.rc.Run.Record(store.RecordOutcome{Key: r.Code, Email: r.Profile.Email, Outcome: store.OutcomeUnchanged})
	return settledDone
}

// verified stores, once a verifying run reached the last registration and
// drained everything without an error, when its verification began: the
// next falls due verifyIdsEvery after it.
func (s *leadSyncRun) verified(ctx context.Context) {
	if s.verify.since.IsZero() {
		return
	}
	v := map[string]string{verifiedKey: strconv.FormatInt(s.verify.since.Unix(), 10)}
	if err := s.rc.Store.PutHashes(context.WithoutCancel(ctx), s.scope, v); err != nil {
		// Every registration was handled; not storing the time only
		// makes the next run verify again, which costs calls but loses
		// nothing.
		s.rc.Logger.WarnContext(ctx, "could not store when the stored Marketo ids were verified; the next run verifies them again", "error", err)
	}
}
