package limit

import (
	"slices"
	"time"
)

// budgetItem is the DynamoDB item of one instance's budget (state table, pk
// "budget#<instance>", sk "budget"): the open blocks, the stamps of closed
// calls, the owner entries, the pacing schedule and the day count.
type budgetItem struct {
	PK       string `dynamodbav:"pk"`
	SK       string `dynamodbav:"sk"`
	Ver      int64  `dynamodbav:"ver"`
	Day      string `dynamodbav:"day"`
	DayCount int    `dynamodbav:"dayCount"`
	// Stamps: stamps of an older version of this package, owner unknown;
	// counted until they expire, never added to.
	Stamps []int64 `dynamodbav:"stamps,omitempty"`
	// Owned: the stamps of closed calls (answer+Window+Margin, ms), per
	// owner.
	Owned map[string][]int64 `dynamodbav:"ost"`
	// Tat: the pacing schedule's theoretical time of the next call (ms).
	Tat int64 `dynamodbav:"tat"`
	// Occ: the mean time a call counts in the window, from its block's
	// grant to its stamp (ms), averaged over recently closed blocks.
	Occ       int64            `dynamodbav:"occ"`
	Blocks    map[string]block `dynamodbav:"blocks"`
	Owners    map[string]owner `dynamodbav:"owners"`
	ExpiresAt int64            `dynamodbav:"expiresAt"`
}

// block is an open block of calls granted to one owner.
type block struct {
	Owner string `dynamodbav:"o"`
	N     int    `dynamodbav:"n"`
	End   int64  `dynamodbav:"e"` // ms; counts until then unless closed
	Day   string `dynamodbav:"d"`
}

// owner is one process's entry: its slot lease, its unmet want and its own
// pacing schedule.
type owner struct {
	Slots     int   `dynamodbav:"s"`
	Until     int64 `dynamodbav:"u"`  // slot lease (ms)
	Want      int   `dynamodbav:"w"`  // slots wanted but not granted
	WantUntil int64 `dynamodbav:"wu"` // the want counts until then (ms)
	Tat       int64 `dynamodbav:"t"`  // the owner's own pacing schedule (ms)
}

// itemTTL is how long the item lives after its last write (DynamoDB TTL
// on expiresAt).
const itemTTL = 48 * time.Hour

// successor returns the next version of st, the item at pk, keeping what
// still counts at now: live stamps and blocks, and the owners that hold a
// live lease, want slots or whose schedule is ahead of now.
func (st budgetItem) successor(pk string, now time.Time) budgetItem {
	nowMS := now.UnixMilli()
	next := budgetItem{PK: pk, SK: "budget", Ver: st.Ver + 1, Day: st.Day, DayCount: st.DayCount,
		Owned: map[string][]int64{}, Tat: st.Tat, Occ: st.Occ,
		Blocks: map[string]block{}, Owners: map[string]owner{}, ExpiresAt: now.Add(itemTTL).Unix()}
	next.Stamps = liveStamps(st.Stamps, nowMS)
	for id, ss := range st.Owned {
		if live := liveStamps(ss, nowMS); len(live) > 0 {
			next.Owned[id] = live
		}
	}
	for id, b := range st.Blocks {
		if b.End > nowMS {
			next.Blocks[id] = b
		}
	}
	for id, o := range st.Owners {
		if o, ok := o.live(nowMS); ok {
			next.Owners[id] = o
		}
	}
	return next
}

// liveStamps returns the stamps after nowMS (nil when none is).
func liveStamps(stamps []int64, nowMS int64) []int64 {
	var live []int64
	for _, s := range stamps {
		if s > nowMS {
			live = append(live, s)
		}
	}
	return live
}

// live returns o with a lapsed lease or want cleared, and whether the
// entry still matters.
func (o owner) live(nowMS int64) (owner, bool) {
	if o.Until <= nowMS {
		o.Slots = 0
	}
	if o.WantUntil <= nowMS {
		o.Want = 0
	}
	return o, o.Slots > 0 || o.Want > 0 || o.Tat > nowMS
}

// counted returns the calls the item counts in the window (stamps and
// open blocks, in full) and, in order, when each of them leaves it.
func (st budgetItem) counted() (int, []int64) {
	counted := len(st.Stamps)
	frees := slices.Clone(st.Stamps)
	for _, ss := range st.Owned {
		counted += len(ss)
		frees = append(frees, ss...)
	}
	for _, b := range st.Blocks {
		counted += b.N
		for range b.N {
			frees = append(frees, b.End)
		}
	}
	slices.Sort(frees)
	return counted, frees
}
