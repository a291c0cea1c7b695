package jobs

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/store"
)

// Permanent failures and their retry policy (sync-leads, engagement-metrics,
// interest-metrics).
//
// Some Marketo refusals are a property of the data, not of the moment: 1007
// (several leads share the email) stays until someone merges the leads in
// Marketo, 1004 on an update-only lead stays until a lead with the email
// exists, 1003/1006 (invalid value, unknown field) stay until the payload
// changes.
//
// By default a failed record is retried on the next run, like every other
// failure: nothing is lost, and a merge done in Marketo is picked up at
// once. That costs a batched Marketo call per run (and a lookup per batch
// in the metrics jobs) while the problem stands. A job may instead set
// Params.RetryFailuresAfter (e.g. "24h"): a record refused with one of these
// codes is then remembered in the job's delta store with the hash of what
// was sent, the code, the reason and the time of the attempt, and a later
// run does not send it again while the hash is the same and less than that
// has passed. It still records the record as failed (or skipped, as the
// first time) with the same code and reason, saying when it was last tried
// and when it will be retried, so every run record shows the problem. The
// record is sent again as soon as its payload changes, after the period, and
// on a forced full run (Params.ForceFull). Other failures (transient errors,
// Certain write-back failures, unknown codes) are always retried next run.

// permanentCodes are the Marketo per-record codes remembered as above.
func permanentCode(code string) bool {
	switch code {
	case "1003", "1004", "1006", "1007", "1008", CodeType:
		return true
	}
	return false
}

// deltaEntry is one stored delta value: either the hash of what Marketo
// last accepted (with, for custom object records, the registration that
// owns the record), or a remembered permanent failure.
//
// Encodings: "<hash>" or "<hash> <owner>" for a success; for a failure
// "!<outcome>!<code>!<unix seconds>!<hash>!<reason>".
type deltaEntry struct {
	Hash    string
	Owner   string
	Failed  bool
	Outcome string // failed or skipped, as first recorded
	Code    string
	At      time.Time
	Reason  string
}

func (e deltaEntry) encode() string {
	if e.Failed {
		return strings.Join([]string{"", e.Outcome, e.Code, strconv.FormatInt(e.At.Unix(), 10), e.Hash, e.Reason}, "!")
	}
	if e.Owner != "" {
		return e.Hash + " " + e.Owner
	}
	return e.Hash
}

// parseDelta reads a stored value; "" gives the zero entry (never sent).
// An unreadable failure entry reads as nothing remembered, so the record
// is simply sent again.
func parseDelta(v string) deltaEntry {
	if rest, ok := strings.CutPrefix(v, "!"); ok {
		p := strings.SplitN(rest, "!", 5)
		if len(p) != 5 {
			return deltaEntry{}
		}
		sec, err := strconv.ParseInt(p[2], 10, 64)
		if err != nil {
			return deltaEntry{}
		}
		return deltaEntry{Failed: true, Outcome: p[0], Code: p[1], At: time.Unix(sec, 0).UTC(), Hash: p[3], Reason: p[4]}
	}
	h, owner, _ := strings.Cut(v, " ")
	return deltaEntry{Hash: h, Owner: owner}
}

// failureMemo builds the entry remembering a permanent failure of a record
// whose current hash is hash; ok is false when the outcome is not one to
// remember (a success, or a code retried every run).
func failureMemo(out store.RecordOutcome, hash string, now time.Time) (deltaEntry, bool) {
	if (out.Outcome != store.OutcomeFailed && out.Outcome != store.OutcomeSkipped) || !permanentCode(out.Code) {
		return deltaEntry{}, false
	}
	return deltaEntry{Failed: true, Outcome: out.Outcome, Code: out.Code, At: now.UTC(), Hash: hash, Reason: out.Reason}, true
}

// held reports whether a remembered failure still stands for a record whose
// hash is now hash: same payload, tried less than after ago (after <= 0: a
// failure is always retried).
func (e deltaEntry) held(hash string, now time.Time, after time.Duration) bool {
	return after > 0 && e.Failed && e.Hash == hash && now.Sub(e.At) < after && !now.Before(e.At.Add(-time.Minute))
}

// heldOutcome is the outcome recorded for a held failure: the first
// attempt's outcome, code and reason, with when it was tried and when it
// will be tried again.
func (e deltaEntry) heldOutcome(key, email string, after time.Duration) store.RecordOutcome {
	return store.RecordOutcome{Key: key, Email: email, Outcome: e.Outcome, Code: e.Code,
		Reason: fmt.Sprintf("%s [not sent again: Marketo refused the same data at %s; retried when it changes, after %s, or on a forced full run]",
			e.Reason, e.At.Format(time.RFC3339), e.At.Add(after).Format(time.RFC3339))}
}
