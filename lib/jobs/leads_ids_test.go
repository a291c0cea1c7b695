package jobs

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/memstore"
)

// TestLeadIDCacheIsBounded: the cache keeps the ids used last, never more
// than its size, however many ids a run writes or checks; an id read
// outlives the ids set before it that were not.
func TestLeadIDCacheIsBounded(t *testing.T) {
	c := newLeadIDCacheOf(100)
	for id := 1; id <= 1000; id++ {
		c.set(id%7 != 0, id)
		if id == 500 {
			c.get(1) // dropped long ago: stays unknown
		}
		if n := c.len(); n > 100 {
			t.Fatalf("cache holds %d ids after %d, want at most its size 100", n, id)
		}
	}
	if n := c.len(); n < 50 {
		t.Fatalf("cache holds %d ids after 1,000, want at least half its size", n)
	}
	for id := 951; id <= 1000; id++ {
		if exists, known := c.get(id); !known || exists != (id%7 != 0) {
			t.Fatalf("id %d: exists %v known %v, want the last answer kept", id, exists, known)
		}
	}
	if _, known := c.get(1); known {
		t.Fatal("id 1, the oldest, is still held")
	}
	// Used ids stay: 901, among the oldest held, is read; 50 ids later it
	// is still held, and 951, set after it but not read, is not.
	c.get(901)
	for id := 1001; id <= 1050; id++ {
		c.set(true, id)
	}
	if _, known := c.get(901); !known {
		t.Error("the id read last was dropped")
	}
	if _, known := c.get(951); known {
		t.Error("an id neither set nor read since 901 was read is still held")
	}
	if d := newLeadIDCache(); d.len() != 0 || leadIDCacheSize > 20_000 {
		t.Errorf("default cache of %d ids: want a bound of at most 20,000", leadIDCacheSize)
	}
}

// TestRunLeadIDCacheStaysBoundedAndCorrect sends 1,200 registrations in
// batches of 300, as sync-leads does, through a run whose id cache holds 20
// ids: the cache stays at its size, and what it dropped costs calls, never
// correctness: two registrations sharing an e-mail in different batches
// reach one lead, and a stored id the cache no longer holds is asked about
// again and answered right.
func TestRunLeadIDCacheStaysBoundedAndCorrect(t *testing.T) {
	const n, emails = 1200, 600
	mk, ct := newFakeMarketo(), newFakeCertain()
	rc := testRC(mk, ct)
	rc.leadIDs = newLeadIDCacheOf(20)
	ops := newLeadOps(rc)
	ctx := context.Background()
	regs := make([]certain.Registration, n)
	for i := range regs {
		regs[i] = reg(fmt.Sprintf("R-%04d", i), fmt.Sprintf("P-%04d", i), fmt.Sprintf("p%d@example.net", i%emails), "", "", "Pre-Registered", nil)
	}
	ct.regs = regs
	idOf := map[string]int{}
	for start := 0; start < n; start += syncBatch {
		batch := make([]*certain.Registration, 0, syncBatch)
		for i := start; i < start+syncBatch; i++ {
			batch = append(batch, &regs[i])
		}
		res, err := ops.syncLeads(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range res {
			if r.ID <= 0 {
				t.Fatalf("registration %s: outcome %+v, no lead", batch[j].Code, r.Outcome)
			}
			email := batch[j].Profile.Email
			if prev, ok := idOf[email]; ok && prev != r.ID {
				t.Fatalf("%s reached lead %d, another registration with its e-mail lead %d", email, r.ID, prev)
			}
			idOf[email] = r.ID
		}
		if got := rc.leadIDCache().len(); got > 20 {
			t.Fatalf("after %d registrations the run's id cache holds %d ids, want at most 20", start+syncBatch, got)
		}
	}
	if len(mk.leads) != emails {
		t.Fatalf("%d Marketo leads for %d e-mails", len(mk.leads), emails)
	}
	// The first lead's id was dropped long ago: checking it asks Marketo.
	checks := len(mk.idChecks)
	first := idOf["p0@example.net"]
	mk.mu.Lock()
	delete(mk.leads, first) // merged away meanwhile
	mk.mu.Unlock()
	dead, err := ops.deadLeadIDs(ctx, []int{first, idOf["p599@example.net"]})
	if err != nil {
		t.Fatal(err)
	}
	if len(mk.idChecks) != checks+1 || !dead[first] || len(dead) != 1 {
		t.Fatalf("dead %v after %d id checks (was %d): want one call finding lead %d dead", dead, len(mk.idChecks), checks, first)
	}
}

// failingHashes is a hash store whose reads fail.
type failingHashes struct{ store.Hashes }

func (failingHashes) GetHashes(context.Context, string, []string) (map[string]string, error) {
	return nil, errors.New("dynamodb: throttled")
}

// TestLeadTrust: an id Marketo confirmed is trusted within the window and
// not after it; an id a check finds dead is forgotten, so no later batch
// trusts it; a store that cannot be read trusts nothing (every id is then
// checked with Marketo) rather than failing.
func TestLeadTrust(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	st := memstore.New()
	tr := newLeadTrust(st, "ACME", time.Hour, func() time.Time { return now })
	mk := newFakeMarketo()
	live := mk.add(marketo.Lead{"email": "live@example.org"})
	ops := newLeadOps(testRC(mk, newFakeCertain()))
	ops.trust = tr
	ops.confirmed(ctx, live, 999_999)
	got, err := tr.trusted(ctx, []int{live, 999_999, 5})
	if err != nil || !got[live] || !got[999_999] || got[5] {
		t.Fatalf("trusted %v %v, want both confirmed ids and not 5", got, err)
	}
	// A later run (its own cache) checks both ids with Marketo.
	ops = newLeadOps(testRC(mk, newFakeCertain()))
	ops.trust = tr
	dead, err := ops.deadLeadIDs(ctx, []int{live, 999_999})
	if err != nil || !dead[999_999] || dead[live] {
		t.Fatalf("dead %v %v", dead, err)
	}
	if got, _ := tr.trusted(ctx, []int{live, 999_999}); !got[live] || got[999_999] {
		t.Fatalf("after the check: trusted %v, want the live id only (the dead one forgotten)", got)
	}
	now = now.Add(61 * time.Minute)
	if got, _ := tr.trusted(ctx, []int{live}); got[live] {
		t.Fatal("an id confirmed 61 minutes ago is trusted with a 1h window")
	}
	bad := newLeadTrust(failingHashes{st}, "ACME", time.Hour, func() time.Time { return now })
	if _, err := bad.trusted(ctx, []int{live}); err == nil {
		t.Fatal("a failed read must be an error for trusted")
	}
	ops.trust = bad
	res := leadResolution{IDs: map[string]int{}, Trusted: map[string]bool{}}
	r := &certain.Registration{Code: "R-1"}
	check, ids := ops.trustedLeads(ctx, []*certain.Registration{r}, []storedLead{{0, live, "live@example.org"}}, []int{live}, &res)
	if len(check) != 1 || len(ids) != 1 || res.Trusted["R-1"] {
		t.Fatalf("unreadable trust: %d left to check, trusted %v; want the id checked", len(check), res.Trusted)
	}
}
