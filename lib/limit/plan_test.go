package limit

import (
	"slices"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// The planner's decisions, row by row, without DynamoDB. The budget of
// every row: 10 calls per 20 s with a 1 s margin, so a call counts 21 s in
// the window and the pace (delta) is one call per 2.1 s; blocks of up to 4
// calls, 4 of them ahead of the pace (tau 8.4 s); 4 slots; UseBy 2 s,
// MaxCall 20 s, LeaseTTL 30 s, so an open block counts for 43 s.
var (
	chicago = marketo.ChicagoLocation()
	planNow = time.Date(2026, 3, 2, 15, 0, 0, 0, chicago) // a Monday afternoon in Chicago
)

const (
	planToday = "2026-03-02"
	delta     = 2100 // ms per call at the pace
)

func planConfig() Config {
	return Config{CallsPer20s: 10, Margin: time.Second, Block: 4, Burst: 4, Concurrent: 4,
		UseBy: 2 * time.Second, MaxCall: 20 * time.Second, LeaseTTL: 30 * time.Second}.withDefaults()
}

// at is planNow+d in ms, as the item stores times.
func at(d time.Duration) int64 { return planNow.Add(d).UnixMilli() }

// ms is n milliseconds.
func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

// holding is this process's entry when it holds n slots, its lease and
// its schedule live.
func holding(n int) owner { return owner{Slots: n, Until: at(30 * time.Second), Tat: at(0)} }

// item returns a current item of today with the given owners.
func item(owners map[string]owner) budgetItem {
	return budgetItem{PK: "budget#i", SK: "budget", Ver: 7, Day: planToday, Owners: owners,
		Blocks: map[string]block{}, Owned: map[string][]int64{}, Tat: at(0)}
}

// stamps returns n stamps leaving the window at from, from+step, ...
func stamps(n int, from, step time.Duration) []int64 {
	var s []int64
	for i := range n {
		s = append(s, at(from+time.Duration(i)*step))
	}
	return s
}

type planRow struct {
	name     string
	cfg      func(*Config) // adjusts planConfig
	now      time.Time     // default planNow
	st       budgetItem
	nd       need
	inflight int
	decide   bool // through planner.decide, which may leave finished blocks open
	check    func(t *testing.T, p plan)
}

func TestPlanner(t *testing.T) {
	rows := []planRow{
		// ---- grants paced over the window
		{name: "first grant on a new item: a block of two calls per slot, the lease and both schedules",
			st: budgetItem{}, nd: need{slots: 1, calls: 1},
			check: func(t *testing.T, p plan) {
				wantGrant(t, p, 2)
				n := p.next
				if n.PK != "budget#i" || n.SK != "budget" || n.Ver != 1 || n.Day != planToday || n.DayCount != 2 {
					t.Errorf("item %s/%s ver %d day %s count %d, want budget#i/budget ver 1 %s count 2", n.PK, n.SK, n.Ver, n.Day, n.DayCount, planToday)
				}
				if b := n.Blocks[p.newBlock.id]; b.N != 2 || b.End != at(43*time.Second) || b.Owner != "me" || b.Day != planToday {
					t.Errorf("block %+v, want 2 calls of me counting until grant+UseBy+MaxCall+Window+Margin (43 s)", b)
				}
				if n.Tat != at(2*delta*time.Millisecond) || n.Owners["me"].Tat != at(2*delta*time.Millisecond) {
					t.Errorf("schedules at %d (own %d), want now+2 deltas", n.Tat-at(0), n.Owners["me"].Tat-at(0))
				}
				if p.slots != 1 || p.until != at(30*time.Second) || n.Owners["me"].Until != p.until {
					t.Errorf("slots %d until %d, want 1 slot leased for LeaseTTL", p.slots, p.until-at(0))
				}
				if n.ExpiresAt != planNow.Add(48*time.Hour).Unix() {
					t.Errorf("expiresAt %d, want now+48 h", n.ExpiresAt)
				}
			}},
		{name: "burst: up to Burst calls at once while the schedule is not ahead",
			st: item(map[string]owner{"me": holding(4)}), nd: need{slots: 4, calls: 6},
			check: func(t *testing.T, p plan) { wantGrant(t, p, 4) }},
		{name: "schedule ahead by 3 of 4: one call allowed, fewer than half a block: wait for the pace",
			st: func() budgetItem {
				it := item(map[string]owner{"me": holding(1)})
				it.Tat = at(3 * delta * time.Millisecond)
				return it
			}(), nd: need{slots: 1, calls: 2},
			check: func(t *testing.T, p plan) {
				wantNoGrant(t, p)
				// The schedule allows 2 calls at tat+2 delta-tau = now+2.1 s;
				// then 1 ms and no stagger (nobody else holds slots).
				wantWait(t, p, ms(delta+1), 125*time.Millisecond)
				if p.changed {
					t.Error("a plan that only waits writes nothing")
				}
			}},
		{name: "schedule ahead by 2 of 4: exactly half a block is granted",
			st: func() budgetItem {
				it := item(map[string]owner{"me": holding(1)})
				it.Tat = at(2 * delta * time.Millisecond)
				return it
			}(), nd: need{slots: 1, calls: 2},
			check: func(t *testing.T, p plan) {
				wantGrant(t, p, 2)
				if p.next.Tat != at(4*delta*time.Millisecond) {
					t.Errorf("tat at %d ms, want 4 deltas ahead", p.next.Tat-at(0))
				}
			}},
		{name: "a longer measured occupancy slows the pace",
			st: func() budgetItem {
				it := item(map[string]owner{"me": holding(1)})
				it.Occ = 42000 // delta 4.2 s
				it.Tat = at(3 * 4200 * time.Millisecond)
				return it
			}(), nd: need{slots: 1, calls: 2},
			check: func(t *testing.T, p plan) {
				wantNoGrant(t, p)
				wantWait(t, p, ms(4200+1), 125*time.Millisecond)
			}},
		// ---- the window's count
		{name: "window full of stamps: wait until the second stamp leaves (two calls are wanted)",
			st: func() budgetItem {
				it := item(map[string]owner{"me": holding(1)})
				it.Owned["a"] = stamps(10, 3*time.Second, time.Second)
				return it
			}(), nd: need{slots: 1, calls: 2},
			check: func(t *testing.T, p plan) {
				wantNoGrant(t, p)
				wantWait(t, p, ms(4000+1), 125*time.Millisecond)
			}},
		{name: "window full of open blocks: look again within a second (a block may close early)",
			st: func() budgetItem {
				it := item(map[string]owner{"me": holding(1)})
				it.Blocks["a-1"] = block{Owner: "a", N: 10, End: at(40 * time.Second), Day: planToday}
				return it
			}(), nd: need{slots: 1, calls: 2},
			check: func(t *testing.T, p plan) {
				wantNoGrant(t, p)
				wantWait(t, p, ms(1000+1), 125*time.Millisecond)
			}},
		{name: "room for 3 in the window: the block is cut to 3",
			st: func() budgetItem {
				it := item(map[string]owner{"me": holding(4)})
				it.Stamps = stamps(3, 5*time.Second, 0) // an older version's stamps still count
				it.Owned["a"] = stamps(4, 5*time.Second, 0)
				return it
			}(), nd: need{slots: 4, calls: 8},
			check: func(t *testing.T, p plan) { wantGrant(t, p, 3) }},
		{name: "expired stamps, blocks and owners are dropped; live ones are kept",
			st: func() budgetItem {
				it := item(map[string]owner{"me": holding(1),
					"gone": {Slots: 2, Until: at(-time.Millisecond), Tat: at(-time.Second)}})
				it.Stamps = []int64{at(-1), at(time.Second)}
				it.Owned["a"] = []int64{at(0)} // leaves the window now
				it.Owned["b"] = []int64{at(-time.Second), at(2 * time.Second)}
				it.Blocks["a-1"] = block{Owner: "a", N: 3, End: at(0)}
				it.Blocks["b-1"] = block{Owner: "b", N: 3, End: at(time.Millisecond)}
				return it
			}(), nd: need{slots: 1},
			check: func(t *testing.T, p plan) {
				n := p.next
				if !slices.Equal(n.Stamps, []int64{at(time.Second)}) || len(n.Owned) != 1 || !slices.Equal(n.Owned["b"], []int64{at(2 * time.Second)}) {
					t.Errorf("stamps %v owned %v, want the live ones only", n.Stamps, n.Owned)
				}
				if _, ok := n.Blocks["a-1"]; ok || len(n.Blocks) != 1 {
					t.Errorf("blocks %v, want b-1 only", n.Blocks)
				}
				if _, ok := n.Owners["gone"]; ok {
					t.Errorf("owners %v: an owner with a lapsed lease and a past schedule stays", n.Owners)
				}
				if n.Ver != 8 {
					t.Errorf("ver %d, want 8", n.Ver)
				}
			}},
		// ---- concurrency slots and leases
		{name: "slots taken by another holder: take what is left and record the want",
			st: item(map[string]owner{"a": holding(3)}), nd: need{slots: 3, calls: 3},
			check: func(t *testing.T, p plan) {
				me := p.next.Owners["me"]
				if p.slots != 1 || me.Want != 3 || me.WantUntil != at(10*time.Second) || !p.progress {
					t.Errorf("slots %d, want %d until %d, progress %v; want 1 slot, a want of 3 for 5 UseBy, progress", p.slots, me.Want, me.WantUntil-at(0), p.progress)
				}
			}},
		{name: "no slot free: write the want, wait for the first lease to lapse",
			st: item(map[string]owner{"a": {Slots: 4, Until: at(20 * time.Millisecond)}}), nd: need{slots: 1, calls: 1},
			check: func(t *testing.T, p plan) {
				wantNoGrant(t, p)
				if me := p.next.Owners["me"]; !p.changed || p.slots != 0 || me.Want != 1 {
					t.Errorf("changed %v slots %d want %d; want the want written and no slot", p.changed, p.slots, me.Want)
				}
				wantWait(t, p, 21*time.Millisecond, 0)
			}},
		{name: "no slot free, leases long: poll every 50 ms (slots come back unannounced)",
			st: item(map[string]owner{"a": holding(4)}), nd: need{slots: 1, calls: 1},
			check: func(t *testing.T, p plan) { wantWait(t, p, 50*time.Millisecond, 0) }},
		{name: "a dead holder's lapsed lease frees its slots",
			st: item(map[string]owner{"dead": {Slots: 4, Until: at(0), Tat: at(-time.Second)}}), nd: need{slots: 2, calls: 2},
			check: func(t *testing.T, p plan) {
				wantGrant(t, p, 4)
				if _, ok := p.next.Owners["dead"]; ok || p.slots != 2 {
					t.Errorf("owners %v slots %d, want the dead entry gone and 2 slots", p.next.Owners, p.slots)
				}
			}},
		{name: "fair share: a holder trims itself to Concurrent/active when another wants slots",
			st: item(map[string]owner{"me": holding(3),
				"a": {Slots: 1, Until: at(30 * time.Second), Want: 2, WantUntil: at(5 * time.Second)}}),
			nd: need{slots: 3},
			check: func(t *testing.T, p plan) {
				if me := p.next.Owners["me"]; p.slots != 2 || !p.changed || me.Slots != 2 {
					t.Errorf("slots %d (entry %d) changed %v; want 2 of 4 with 2 processes active", p.slots, me.Slots, p.changed)
				}
			}},
		{name: "fair share rounds up: 4 slots over 3 active processes is 2 each",
			st: item(map[string]owner{"me": holding(3),
				"a": {Slots: 1, Until: at(30 * time.Second), Want: 2, WantUntil: at(5 * time.Second)},
				"b": {Want: 1, WantUntil: at(5 * time.Second)}}),
			nd: need{slots: 3},
			check: func(t *testing.T, p plan) {
				if p.slots != 2 {
					t.Errorf("slots %d, want ceil(4/3) = 2", p.slots)
				}
			}},
		{name: "fair share: calls in flight keep their slots",
			st: item(map[string]owner{"me": holding(3),
				"a": {Slots: 1, Until: at(30 * time.Second), Want: 2, WantUntil: at(5 * time.Second)}}),
			nd: need{slots: 3}, inflight: 3,
			check: func(t *testing.T, p plan) {
				if p.slots != 3 {
					t.Errorf("slots %d, want the 3 in flight kept", p.slots)
				}
			}},
		{name: "fair share: a lapsed want no longer trims the holder",
			st: item(map[string]owner{"me": holding(3),
				"a": {Slots: 1, Until: at(30 * time.Second), Want: 2, WantUntil: at(0)}}),
			nd: need{slots: 3},
			check: func(t *testing.T, p plan) {
				if p.slots != 3 || p.changed {
					t.Errorf("slots %d changed %v, want 3 kept and nothing to write", p.slots, p.changed)
				}
			}},
		{name: "a standing want is written again when it nears its end (within 2 UseBy)",
			st: item(map[string]owner{"me": {Slots: 1, Until: at(30 * time.Second), Want: 3, WantUntil: at(3 * time.Second)},
				"a": holding(3)}),
			nd: need{slots: 3},
			check: func(t *testing.T, p plan) {
				if me := p.next.Owners["me"]; !p.changed || me.WantUntil != at(10*time.Second) || me.Until != at(30*time.Second) {
					t.Errorf("changed %v want until %d lease %d, want the want extended to 5 UseBy and the lease renewed", p.changed, me.WantUntil-at(0), me.Until-at(0))
				}
			}},
		{name: "a standing want with time left is not written again",
			st: item(map[string]owner{"me": {Slots: 1, Until: at(30 * time.Second), Want: 3, WantUntil: at(5 * time.Second)},
				"a": holding(3)}),
			nd: need{slots: 3},
			check: func(t *testing.T, p plan) {
				if p.changed {
					t.Error("changed, want nothing to write")
				}
			}},
		{name: "unneeded slots are given back and the entry dropped",
			st: item(map[string]owner{"me": holding(3)}), nd: need{},
			check: func(t *testing.T, p plan) {
				if _, ok := p.next.Owners["me"]; ok || p.slots != 0 || !p.changed || p.progress {
					t.Errorf("entry %v slots %d changed %v progress %v, want the entry gone", p.next.Owners["me"], p.slots, p.changed, p.progress)
				}
			}},
		{name: "an entry without slots stays while its own schedule is ahead (its share stays used)",
			st: item(map[string]owner{"me": {Slots: 1, Until: at(30 * time.Second), Tat: at(3 * time.Second)}}), nd: need{},
			check: func(t *testing.T, p plan) {
				if me, ok := p.next.Owners["me"]; !ok || me.Slots != 0 || me.Tat != at(3*time.Second) {
					t.Errorf("entry %+v (kept %v), want it kept with no slots and its schedule", me, ok)
				}
			}},
		{name: "a slot regained for a call already in flight is written but is no progress",
			st: item(map[string]owner{"me": {Slots: 1, Until: at(0)}}), nd: need{slots: 1}, inflight: 1,
			check: func(t *testing.T, p plan) {
				if p.slots != 1 || !p.changed || p.progress {
					t.Errorf("slots %d changed %v progress %v, want 1 slot written, no progress", p.slots, p.changed, p.progress)
				}
			}},
		{name: "renewal: the lease is extended to now+LeaseTTL",
			st: item(map[string]owner{"me": {Slots: 2, Until: at(5 * time.Second)}}), nd: need{slots: 2, renew: true},
			check: func(t *testing.T, p plan) {
				if !p.changed || p.until != at(30*time.Second) || p.next.Owners["me"].Until != p.until {
					t.Errorf("changed %v until %d, want the lease renewed to LeaseTTL", p.changed, p.until-at(0))
				}
			}},
		// ---- fairness between the processes' own schedules
		{name: "own schedule: ahead of its share while another holder is behind its own, a process waits for its own pace, staggered behind it",
			st: item(map[string]owner{"me": {Slots: 1, Until: at(30 * time.Second), Tat: at(6 * delta * time.Millisecond)},
				"a": {Slots: 1, Until: at(30 * time.Second), Tat: at(-time.Second)}}),
			nd: need{slots: 1, calls: 2},
			check: func(t *testing.T, p plan) {
				wantNoGrant(t, p)
				// Two active: own delta 4.2 s, tau 16.8 s; its tat at 12.6 s
				// allows one call, two at 12.6+8.4-16.8 = 4.2 s; a, behind,
				// goes first: one stagger step (250 ms) later.
				wantWait(t, p, ms(4200+1+250), 125*time.Millisecond)
			}},
		{name: "own schedule: with the other holder idle (far behind), a process borrows the shared pace",
			st: item(map[string]owner{"me": {Slots: 1, Until: at(30 * time.Second), Tat: at(6 * delta * time.Millisecond)},
				"a": {Slots: 1, Until: at(30 * time.Second), Tat: at(-20 * time.Second)}}),
			nd: need{slots: 1, calls: 2},
			check: func(t *testing.T, p plan) {
				wantGrant(t, p, 2)
				if me := p.next.Owners["me"]; me.Tat != at(21*time.Second) {
					t.Errorf("own tat at %d ms, want 12.6 s + 2 own deltas (8.4 s)", me.Tat-at(0))
				}
			}},
		{name: "own schedule: with the other holder ahead of its own schedule, a process borrows too",
			st: item(map[string]owner{"me": {Slots: 1, Until: at(30 * time.Second), Tat: at(6 * delta * time.Millisecond)},
				"a": {Slots: 1, Until: at(30 * time.Second), Tat: at(5 * time.Second)}}),
			nd:    need{slots: 1, calls: 2},
			check: func(t *testing.T, p plan) { wantGrant(t, p, 2) }},
		{name: "a long pacing wait is cut to Window/4 (refunds and holders leaving may shorten it)",
			st: item(map[string]owner{"me": {Slots: 1, Until: at(30 * time.Second), Tat: at(30 * time.Second)},
				"a": {Slots: 1, Until: at(30 * time.Second), Tat: at(-time.Second)}}),
			nd: need{slots: 1, calls: 2},
			check: func(t *testing.T, p plan) {
				wantNoGrant(t, p)
				wantWait(t, p, 5*time.Second, 125*time.Millisecond)
			}},
		{name: "Block and Burst 1: one call per delta",
			cfg: func(c *Config) { c.Block, c.Burst = 1, 1 },
			st: func() budgetItem {
				it := item(map[string]owner{"me": holding(1)})
				it.Tat = at(delta * time.Millisecond)
				return it
			}(), nd: need{slots: 1, calls: 3},
			check: func(t *testing.T, p plan) {
				wantNoGrant(t, p)
				wantWait(t, p, ms(delta+1), 125*time.Millisecond)
			}},
		// ---- the daily count (America/Chicago)
		{name: "daily: the day's count used up: quota, no grant",
			cfg: func(c *Config) { c.Daily = 10 },
			st: func() budgetItem {
				it := item(map[string]owner{"me": holding(1)})
				it.DayCount = 10
				return it
			}(), nd: need{slots: 1, calls: 1},
			check: func(t *testing.T, p plan) {
				wantNoGrant(t, p)
				if !p.quota || p.next.DayCount != 10 {
					t.Errorf("quota %v count %d, want the quota and the count kept", p.quota, p.next.DayCount)
				}
				wantWait(t, p, 5*time.Millisecond, 0) // the least wait; sync returns the quota error
			}},
		{name: "daily: the block is cut to what is left of the day",
			cfg: func(c *Config) { c.Daily = 10 },
			st: func() budgetItem {
				it := item(map[string]owner{"me": holding(1)})
				it.DayCount = 9
				return it
			}(), nd: need{slots: 1, calls: 2},
			check: func(t *testing.T, p plan) {
				wantGrant(t, p, 1)
				if p.quota || p.next.DayCount != 10 {
					t.Errorf("quota %v count %d, want no quota and 10", p.quota, p.next.DayCount)
				}
			}},
		{name: "daily: 23:30 in Chicago is still the same day (05:30 UTC the next day)",
			cfg: func(c *Config) { c.Daily = 10 },
			now: time.Date(2026, 3, 3, 5, 30, 0, 0, time.UTC),
			st:  budgetItem{PK: "budget#i", SK: "budget", Ver: 3, Day: "2026-03-02", DayCount: 10},
			nd:  need{slots: 1, calls: 1},
			check: func(t *testing.T, p plan) {
				if !p.quota || p.next.Day != "2026-03-02" {
					t.Errorf("quota %v day %s, want the quota of 2026-03-02", p.quota, p.next.Day)
				}
			}},
		{name: "daily: the count restarts at midnight in Chicago",
			cfg: func(c *Config) { c.Daily = 10 },
			now: time.Date(2026, 3, 3, 6, 0, 1, 0, time.UTC),
			st:  budgetItem{PK: "budget#i", SK: "budget", Ver: 3, Day: "2026-03-02", DayCount: 10},
			nd:  need{slots: 1, calls: 1},
			check: func(t *testing.T, p plan) {
				wantGrant(t, p, 2)
				if p.quota || p.next.Day != "2026-03-03" || p.next.DayCount != 2 {
					t.Errorf("quota %v day %s count %d, want 2 calls counted on 2026-03-03", p.quota, p.next.Day, p.next.DayCount)
				}
			}},
		{name: "daily: a new day alone is written even when nothing else changes",
			st: func() budgetItem {
				it := item(map[string]owner{"me": holding(1)})
				it.Day, it.DayCount = "2026-03-01", 7
				return it
			}(), nd: need{slots: 1},
			check: func(t *testing.T, p plan) {
				if !p.changed || p.next.Day != planToday || p.next.DayCount != 0 {
					t.Errorf("changed %v day %s count %d, want today at 0 written", p.changed, p.next.Day, p.next.DayCount)
				}
			}},
		// ---- closing finished blocks
		{name: "close: unused calls go back to the day and both schedules, used ones become stamps, occupancy measured",
			st: func() budgetItem {
				it := item(map[string]owner{"me": {Slots: 1, Until: at(30 * time.Second), Tat: at(4 * delta * time.Millisecond)},
					"a": holding(1)})
				it.Tat, it.DayCount = at(4*delta*time.Millisecond), 4
				it.Blocks["me-1"] = block{Owner: "me", N: 4, End: at(37 * time.Second), Day: planToday}
				return it
			}(),
			// Close lowered the block's n to the one call started; the item
			// still has the 4 granted.
			nd: need{slots: 1, closing: []*heldBlock{closedBlock("me-1", 1, 1, at(15*time.Second))}},
			check: func(t *testing.T, p plan) {
				n := p.next
				if _, ok := n.Blocks["me-1"]; ok || len(p.closed) != 1 || !p.changed {
					t.Fatalf("blocks %v closed %d changed %v, want me-1 closed and written", n.Blocks, len(p.closed), p.changed)
				}
				// Two active processes: the own schedule's step is 2 deltas.
				if n.DayCount != 1 || n.Tat != at(delta*time.Millisecond) || n.Owners["me"].Tat != at(-2*delta*time.Millisecond) {
					t.Errorf("count %d tat %d own %d, want 3 calls refunded: count 1, tat 4-3 deltas, own tat 4-3x2 deltas", n.DayCount, n.Tat-at(0), n.Owners["me"].Tat-at(0))
				}
				if !slices.Equal(n.Owned["me"], []int64{at(15 * time.Second)}) || n.Occ != 21000 {
					t.Errorf("stamps %v occ %d, want the answer's stamp and 21 s from grant to stamp", n.Owned["me"], n.Occ)
				}
			}},
		{name: "close: the occupancy moves a quarter of the way to the block's",
			st: func() budgetItem {
				it := item(map[string]owner{"me": holding(1)})
				it.Occ = 25000
				it.Blocks["me-1"] = block{Owner: "me", N: 1, End: at(37 * time.Second), Day: planToday}
				return it
			}(), nd: need{slots: 1, closing: []*heldBlock{closedBlock("me-1", 1, 1, at(15*time.Second))}},
			check: func(t *testing.T, p plan) {
				if p.next.Occ != 24000 {
					t.Errorf("occ %d, want 25000 + (21000-25000)/4", p.next.Occ)
				}
			}},
		{name: "close: a block granted yesterday refunds nothing to today's count",
			st: func() budgetItem {
				it := item(map[string]owner{"me": holding(1)})
				it.DayCount = 5
				it.Blocks["me-1"] = block{Owner: "me", N: 4, End: at(37 * time.Second), Day: "2026-03-01"}
				return it
			}(), nd: need{slots: 1, closing: []*heldBlock{closedBlock("me-1", 0, 4)}},
			check: func(t *testing.T, p plan) {
				if p.next.DayCount != 5 || len(p.closed) != 1 {
					t.Errorf("count %d closed %d, want 5 and the block closed", p.next.DayCount, len(p.closed))
				}
			}},
		// ---- decide: when finished blocks are closed
		{name: "decide: nothing grantable: a used-up block stays open, to be closed by the next grant's write",
			decide: true, st: fullWindowWith(2), nd: need{slots: 1, calls: 2,
				closing: []*heldBlock{closedBlock("me-1", 2, 2, at(15*time.Second), at(16*time.Second))}},
			check: func(t *testing.T, p plan) {
				wantNoGrant(t, p)
				if _, ok := p.next.Blocks["me-1"]; !ok || len(p.closed) != 0 || p.changed {
					t.Errorf("closed %d changed %v, want the block left open and nothing written", len(p.closed), p.changed)
				}
			}},
		{name: "decide: nothing grantable: a block with calls to give back is closed now",
			decide: true, st: fullWindowWith(2), nd: need{slots: 1, calls: 2,
				closing: []*heldBlock{closedBlock("me-1", 1, 2, at(15*time.Second))}},
			check: func(t *testing.T, p plan) {
				if _, ok := p.next.Blocks["me-1"]; ok || len(p.closed) != 1 || !p.changed {
					t.Errorf("closed %d changed %v, want the block closed and written", len(p.closed), p.changed)
				}
			}},
		{name: "decide: nothing grantable: a block whose first stamp ends within a second is closed now",
			decide: true, st: fullWindowWith(2), nd: need{slots: 1, calls: 2,
				closing: []*heldBlock{closedBlock("me-1", 2, 2, at(500*time.Millisecond), at(16*time.Second))}},
			check: func(t *testing.T, p plan) {
				if len(p.closed) != 1 || !p.changed {
					t.Errorf("closed %d changed %v, want the block closed and written", len(p.closed), p.changed)
				}
			}},
		{name: "decide: a grant's write closes the finished blocks too",
			decide: true,
			st: func() budgetItem {
				it := item(map[string]owner{"me": holding(1)})
				it.Blocks["me-1"] = block{Owner: "me", N: 2, End: at(37 * time.Second), Day: planToday}
				return it
			}(), nd: need{slots: 1, calls: 2, closing: []*heldBlock{closedBlock("me-1", 2, 2, at(15*time.Second), at(16*time.Second))}},
			check: func(t *testing.T, p plan) {
				wantGrant(t, p, 2)
				if _, ok := p.next.Blocks["me-1"]; ok || len(p.closed) != 1 {
					t.Errorf("closed %d, want me-1 closed in the grant's write", len(p.closed))
				}
			}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			cfg := planConfig()
			if r.cfg != nil {
				r.cfg(&cfg)
			}
			if err := cfg.validate(); err != nil {
				t.Fatal(err)
			}
			now := r.now
			if now.IsZero() {
				now = planNow
			}
			pl := planner{cfg: cfg, owner: "me", pk: "budget#i", loc: chicago}
			var p plan
			if r.decide {
				p = pl.decide(r.st, now, r.nd, r.inflight, "me-9")
			} else {
				p = pl.plan(r.st, now, r.nd, r.inflight, "me-9")
			}
			if p.newBlock != nil && (p.newBlock.id != "me-9" || p.next.Blocks["me-9"].N != p.newBlock.n) {
				t.Errorf("new block %q of %d, item's %+v: want the given id in both", p.newBlock.id, p.newBlock.n, p.next.Blocks["me-9"])
			}
			r.check(t, p)
		})
	}
}

// closedBlock is a block of this process that granted n calls, started
// `started` and has them all answered, stamps ends; granted 6 s ago.
func closedBlock(id string, started, n int, ends ...int64) *heldBlock {
	return &heldBlock{id: id, granted: planNow.Add(-6 * time.Second), day: planToday, n: n, started: started, answered: started, ends: ends}
}

// fullWindowWith returns an item whose window is full: another process's
// 10 stamps, leaving from 3 s on, and this process's open block me-1 of n
// calls.
func fullWindowWith(n int) budgetItem {
	it := item(map[string]owner{"me": holding(1)})
	it.Owned["a"] = stamps(10, 3*time.Second, time.Second)
	it.Blocks["me-1"] = block{Owner: "me", N: n, End: at(37 * time.Second), Day: planToday}
	return it
}

func wantGrant(t *testing.T, p plan, n int) {
	t.Helper()
	if p.newBlock == nil {
		t.Fatalf("no grant (wait %s, quota %v), want a block of %d", p.wait, p.quota, n)
	}
	if p.newBlock.n != n || !p.changed || !p.progress {
		t.Fatalf("block of %d (changed %v, progress %v), want %d written", p.newBlock.n, p.changed, p.progress, n)
	}
}

func wantNoGrant(t *testing.T, p plan) {
	t.Helper()
	if p.newBlock != nil {
		t.Fatalf("granted a block of %d, want none", p.newBlock.n)
	}
}

func wantWait(t *testing.T, p plan, wait, jitter time.Duration) {
	t.Helper()
	if p.wait != wait || p.jitter != jitter {
		t.Errorf("wait %s jitter %s, want %s and %s", p.wait, p.jitter, wait, jitter)
	}
}
