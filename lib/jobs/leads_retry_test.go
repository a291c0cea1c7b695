package jobs

import (
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/store"
)

func TestDeltaEntryEncoding(t *testing.T) {
	at := time.Date(2026, 4, 1, 14, 0, 0, 0, time.UTC)
	out := store.RecordOutcome{Key: "R-1", Outcome: store.OutcomeFailed, Code: "1007", Reason: "several leads! merge them"}
	e, ok := failureMemo(out, "abc", at)
	if !ok {
		t.Fatal("1007 failure not remembered")
	}
	got := parseDelta(e.encode())
	if got != e {
		t.Errorf("round trip %+v, want %+v", got, e)
	}
	day := 24 * time.Hour
	if !got.held("abc", at.Add(23*time.Hour), day) || got.held("abc", at.Add(day), day) || got.held("abd", at.Add(time.Hour), day) {
		t.Error("held: want true for the same hash within the period only")
	}
	if got.held("abc", at.Add(time.Minute), 0) {
		t.Error("held with no period: a failure must be retried")
	}
	if _, ok := failureMemo(store.RecordOutcome{Outcome: store.OutcomeFailed, Code: "certain-write"}, "abc", at); ok {
		t.Error("a Certain write-back failure must be retried every run")
	}
	if s := parseDelta("abc R-9"); s.Hash != "abc" || s.Owner != "R-9" || s.Failed {
		t.Errorf("owner entry parsed as %+v", s)
	}
	if s := parseDelta("abc"); s.Hash != "abc" || s.Owner != "" {
		t.Errorf("plain hash (written before owners existed) parsed as %+v", s)
	}
	if s := parseDelta("!failed!1007!notanumber!abc!x"); s.Failed {
		t.Errorf("corrupt failure entry %+v must read as nothing remembered", s)
	}
}
