package jobs

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/recent"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// Stored Marketo ids go stale: Marketo merges leads routinely, and the losing
// lead's id disappears (so does a deleted lead's). Request Campaign accepts
// an id that no longer exists and reaches nobody, and a delta hash would
// hide the dead id forever, so every job that addresses a lead by the id a
// profile stores first checks that the lead exists (docs/jobs.md §8):
//
//   - Get Leads by filterType=id, 300 ids per call; when the batch looks
//     e-mails up anyway, a stored id that comes back for its profile's
//     e-mail is confirmed by that same call.
//   - The run keeps the latest answers (leadIDCache, 5,000 to 10,000 of
//     the ids used last): an id that exists is not asked about again while
//     it is kept, and neither is one that does not (Marketo never reuses a
//     lead id).
//   - A dead id is treated as no id: the lead is found by e-mail or created
//     (rule A), written back (rule C), and the healing is counted
//     (CountStaleIdsHealed) and named in the record's outcome.

// Counts of the stale-id checks.
const (
	CountStaleIds       = "staleIds"       // stored Marketo ids found to no longer exist
	CountStaleIdsHealed = "staleIdsHealed" // of those, replaced on the profile by the lead found or created by e-mail
	CountForeignIdsKept = "foreignIdsKept" // another system's External Profile ID left in place (overwriteForeignExternalIds off)
	CountIdsTrusted     = "idsTrusted"     // stored ids used without a check: Marketo confirmed them within leadIdTrust
)

// leadIDCacheSize bounds what a run remembers of Marketo's answers about
// lead ids: at most the 10,000 used last (about 0.25 MB), instead of every
// id the run wrote or checked (one per registration: the process's memory
// would grow with the event; docs/architecture.md §7).
const leadIDCacheSize = 10_000

// leadIDCache is what Marketo said this run about stored lead ids: true for
// an id that exists, false for one that does not. It only saves calls: an
// id it no longer holds is unknown, and every user of the cache asks
// Marketo about an unknown id (deadLeadIDs, resolvePlan, unchanged) or, in
// the metrics jobs, lets Marketo's 1004 answer for it. No lead is created
// from it: leads are found and created by e-mail (Sync Leads and the
// lookup), so two registrations sharing an e-mail still reach one lead
// however much of the cache was dropped. It keeps the ids set or read last
// in two generations of half its size (lib/recent), which take about a
// quarter of the memory of a linked LRU list of the same size (0.25 MB
// against 1 MB with hashicorp/golang-lru in heap profiles of the
// process-memory bench, infra/bench/internal/bench/rss.go); safe for the
// batches of a run at once.
type leadIDCache struct {
	mu  sync.Mutex
	ids *recent.Map[int, bool]
}

func newLeadIDCache() *leadIDCache { return newLeadIDCacheOf(leadIDCacheSize) }

func newLeadIDCacheOf(size int) *leadIDCache {
	return &leadIDCache{ids: recent.New[int, bool](max(size/2, 1))}
}

// get returns what is known of id.
func (c *leadIDCache) get(id int) (exists, known bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ids.Use(id)
}

// set records that the ids exist (or not).
func (c *leadIDCache) set(exists bool, ids ...int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if id > 0 {
			c.ids.Add(id, exists)
		}
	}
}

// len is how many ids the cache holds.
func (c *leadIDCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ids.Len()
}

// deadLeadIDs returns which of ids no longer exist in Marketo, asking with
// one Get Leads by filterType=id per 300 ids whose answer the run does not
// know yet.
func (o *leadOps) deadLeadIDs(ctx context.Context, ids []int) (map[int]bool, error) {
	dead := map[int]bool{}
	var ask []int
	for _, id := range ids {
		exists, known := o.idCache.get(id)
		switch {
		case known && !exists:
			dead[id] = true
		case !known && !slices.Contains(ask, id):
			ask = append(ask, id)
		}
	}
	if len(ask) == 0 {
		return dead, nil
	}
	values := make([]string, len(ask))
	for i, id := range ask {
		values[i] = strconv.Itoa(id)
	}
	leads, err := o.mk.GetLeadsByFilter(ctx, "id", values, []string{"id"})
	if err != nil {
		return nil, fmt.Errorf("check %d stored Marketo lead ids: %w", len(ask), err)
	}
	found := map[int]bool{}
	for _, l := range leads {
		found[l.ID()] = true
	}
	var live, gone []int
	for _, id := range ask {
		if found[id] {
			live = append(live, id)
			continue
		}
		o.idCache.set(false, id)
		dead[id] = true
		gone = append(gone, id)
	}
	o.confirmed(ctx, live...)
	if err := o.trust.forget(ctx, gone); err != nil {
		// The id could then be trusted for at most leadIdTrust more.
		o.log.WarnContext(ctx, "could not forget dead Marketo lead ids", "error", err)
	}
	o.count(CountStaleIds, countTrue(dead, ask))
	return dead, nil
}

func countTrue(m map[int]bool, keys []int) int {
	n := 0
	for _, k := range keys {
		if m[k] {
			n++
		}
	}
	return n
}

// staleNote is the outcome reason of a registration whose stored id was dead.
func staleNote(old, id int, how string) string {
	return fmt.Sprintf("stored Marketo id %d no longer exists (merged or deleted); %s lead %d and wrote it back", old, how, id)
}

// rawField is a profile field as Certain stores it (not trimmed), and
// whether it is set; name is a field path (certain.LookupPath).
func rawField(p certain.Profile, name string) (string, bool) {
	cur, ok := certain.LookupPath(p.Fields, name)
	if !ok {
		return "", false
	}
	switch v := cur.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	default:
		return fmt.Sprint(v), true
	}
}

// sourceIsExactlyMarketo reports whether Source of Profile holds exactly the
// configured Marketo value (rule C writes it when it differs even in case or
// spaces). A profile read without its raw fields is judged by its value.
func sourceIsExactlyMarketo(f certain.FieldNames, p certain.Profile) bool {
	if raw, ok := rawField(p, f.Source); ok || p.Fields != nil {
		return raw == f.SourceValueMarketo
	}
	return p.Source == f.SourceValueMarketo
}

// foreignID reports whether the profile's External Profile ID belongs to
// another system: set, with a Source of Profile other than blank, Import or
// Marketo.
func foreignID(f certain.FieldNames, p certain.Profile) bool {
	ext, src := strings.TrimSpace(p.ExternalID), strings.TrimSpace(p.Source)
	return ext != "" && src != "" && !strings.EqualFold(src, f.SourceValueImport) && !strings.EqualFold(src, f.SourceValueMarketo)
}

// leadTrust is what the product remembers, between runs and jobs, of the
// lead ids Marketo confirmed: when (Unix seconds), by id, in the state
// table (the hashes of scope "leadids#<account>"). Kept only for a
// connection with leadIdTrust set: a job that wrote to a lead, found it by
// e-mail, created it or checked its id records it, and trigger-campaign
// uses a stored id confirmed within leadIdTrust without asking Marketo
// again, so that a batch of changes whose leads a sync or an earlier batch
// just confirmed costs its campaign request alone (docs/jobs.md §8). A
// lead merged away within that window is requested for once more and
// reaches nobody, which is why the default (0) keeps nothing and checks
// before every request. A nil *leadTrust records and trusts nothing.
type leadTrust struct {
	store store.Hashes
	scope string
	trust time.Duration
	now   func() time.Time
}

// newLeadTrust is the lead trust of an account's connection; nil when the
// connection trusts nothing (leadIdTrust 0), so that no job writes
// confirmations nobody reads.
func newLeadTrust(st store.Hashes, account string, trust time.Duration, now func() time.Time) *leadTrust {
	if st == nil || trust <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &leadTrust{store: st, scope: "leadids#" + account, trust: trust, now: now}
}

// idKeys are the hash keys of ids.
func idKeys(ids []int) []string {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = strconv.Itoa(id)
	}
	return keys
}

// trusted returns the ids of ids confirmed within the trust window.
func (t *leadTrust) trusted(ctx context.Context, ids []int) (map[int]bool, error) {
	out := map[int]bool{}
	if t == nil || len(ids) == 0 {
		return out, nil
	}
	keys := idKeys(ids)
	got, err := t.store.GetHashes(ctx, t.scope, keys)
	if err != nil {
		return nil, fmt.Errorf("read confirmed Marketo lead ids: %w", err)
	}
	since := t.now().Add(-t.trust).Unix()
	for i, id := range ids {
		if at, err := strconv.ParseInt(got[keys[i]], 10, 64); err == nil && at >= since {
			out[id] = true
		}
	}
	return out, nil
}

// record stores that Marketo confirmed ids now.
func (t *leadTrust) record(ctx context.Context, ids []int) error {
	if t == nil || len(ids) == 0 {
		return nil
	}
	now := strconv.FormatInt(t.now().Unix(), 10)
	m := make(map[string]string, len(ids))
	for _, k := range idKeys(ids) {
		m[k] = now
	}
	if err := t.store.PutHashes(context.WithoutCancel(ctx), t.scope, m); err != nil {
		return fmt.Errorf("record %d confirmed Marketo lead ids: %w", len(m), err)
	}
	return nil
}

// forget drops the confirmations of ids that Marketo said no longer exist,
// so that no later batch trusts them.
func (t *leadTrust) forget(ctx context.Context, ids []int) error {
	if t == nil || len(ids) == 0 {
		return nil
	}
	if err := t.store.DeleteHashes(context.WithoutCancel(ctx), t.scope, idKeys(ids)); err != nil {
		return fmt.Errorf("forget %d dead Marketo lead ids: %w", len(ids), err)
	}
	return nil
}

// confirmed notes that Marketo confirmed ids (all positive): in the run's
// cache, and in the lead trust when the connection keeps one (a failure to
// record is logged: it costs a check later, never a wrong id).
func (o *leadOps) confirmed(ctx context.Context, ids ...int) {
	o.idCache.set(true, ids...)
	if err := o.trust.record(ctx, ids); err != nil {
		o.log.WarnContext(ctx, "could not record confirmed Marketo lead ids", "error", err)
	}
}
