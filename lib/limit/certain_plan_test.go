package limit

import (
	"strings"
	"testing"
	"time"
)

// The planner of a paced budget (a Certain account's), row by row: 10
// calls per second (one per 100 ms), blocks of up to 4, 4 ahead of the pace
// (tau 400 ms), 4 slots; UseBy 2 s, MaxCall 20 s, LeaseTTL 30 s. There is no
// window: only the pace and the slots limit the grants.
const pacedDelta = 100 // ms per call

func pacedConfig() Config {
	return CertainConfig{Concurrent: 4, CallsPerSecond: 10, Block: 4, Burst: 4,
		UseBy: 2 * time.Second, MaxCall: 20 * time.Second, LeaseTTL: 30 * time.Second}.config()
}

// ahead returns a current item whose shared schedule is n calls ahead of
// now and in which this process holds one slot.
func ahead(n int64) budgetItem {
	it := item(map[string]owner{"me": holding(1)})
	it.Tat = at(ms(n * pacedDelta))
	return it
}

func TestPacedPlanner(t *testing.T) {
	rows := []struct {
		name  string
		st    budgetItem
		nd    need
		check func(t *testing.T, p plan)
	}{
		{name: "first grant: two calls per slot, both schedules a pace step per call, the block lives UseBy+MaxCall",
			st: budgetItem{}, nd: need{slots: 1, calls: 1},
			check: func(t *testing.T, p plan) {
				wantGrant(t, p, 2)
				n := p.next
				// Slots N apart are a second and slotGrace apart: 100.2 ms a step, rounded up per block.
				if n.Tat != at(ms(201)) || n.Owners["me"].Tat != at(ms(2*pacedDelta)) {
					t.Errorf("schedules at %d (own %d) ms, want 201 (200)", n.Tat-at(0), n.Owners["me"].Tat-at(0))
				}
				if b := n.Blocks[p.newBlock.id]; b.N != 2 || b.End != at(22*time.Second) {
					t.Errorf("block %+v, want 2 calls until grant+UseBy+MaxCall (22 s)", b)
				}
				if p.slots != 1 || p.until != at(30*time.Second) {
					t.Errorf("slots %d until %d, want 1 leased for LeaseTTL", p.slots, p.until-at(0))
				}
			}},
		{name: "no window: stamps and open blocks of others do not hold a grant back",
			st: func() budgetItem {
				it := item(map[string]owner{"me": holding(4)})
				it.Owned["a"] = stamps(500, time.Second, time.Millisecond)
				it.Blocks["a-1"] = block{Owner: "a", N: 1000, End: at(time.Minute)}
				return it
			}(), nd: need{slots: 4, calls: 6},
			check: func(t *testing.T, p plan) { wantGrant(t, p, 4) }},
		{name: "schedule ahead by 3 of 4: fewer than half a block allowed, wait one pace step",
			st: ahead(3), nd: need{slots: 1, calls: 2},
			check: func(t *testing.T, p plan) {
				wantNoGrant(t, p)
				// 2 calls fit at tat+2 steps-tau = now+100 ms; then 1 ms, and
				// a jitter of half a step.
				wantWait(t, p, ms(pacedDelta+1), ms(pacedDelta/2))
			}},
		{name: "the measured occupancy of a windowed budget does not slow a paced one",
			st: func() budgetItem {
				it := ahead(3)
				it.Occ = 42000
				return it
			}(), nd: need{slots: 1, calls: 2},
			check: func(t *testing.T, p plan) { wantWait(t, p, ms(pacedDelta+1), ms(pacedDelta/2)) }},
		{name: "schedule ahead by 2 of 4: half a block is granted",
			st: ahead(2), nd: need{slots: 1, calls: 2},
			check: func(t *testing.T, p plan) {
				wantGrant(t, p, 2)
				if p.next.Tat != at(ms(2*pacedDelta+201)) {
					t.Errorf("tat at %d ms, want 2 steps ahead plus 2 slots (401)", p.next.Tat-at(0))
				}
			}},
		{name: "closing a block records no stamp and gives its unused tail slots back to both schedules",
			st: func() budgetItem {
				it := ahead(4)
				it.Tat = at(ms(401)) // me-1's 4 slots from now
				it.Blocks["me-1"] = block{Owner: "me", N: 4, End: at(20 * time.Second)}
				me := it.Owners["me"]
				me.Tat = at(ms(4 * pacedDelta))
				it.Owners["me"] = me
				return it
			}(), nd: need{slots: 1, closing: []*heldBlock{slotted(closedBlock("me-1", 1, 4, at(0)), at(0))}},
			check: func(t *testing.T, p plan) {
				n := p.next
				if len(n.Owned) != 0 || len(n.Stamps) != 0 || n.Occ != 0 {
					t.Errorf("owned %v stamps %v occ %d, want none", n.Owned, n.Stamps, n.Occ)
				}
				if _, open := n.Blocks["me-1"]; open || n.Tat != at(ms(101)) || n.Owners["me"].Tat != at(ms(pacedDelta)) {
					t.Errorf("blocks %v tat %d own %d, want me-1 closed and 3 steps given back", n.Blocks, n.Tat-at(0), n.Owners["me"].Tat-at(0))
				}
			}},
		{name: "a block granted after this one keeps its slots: the closing block gives none back to the shared schedule",
			st: func() budgetItem {
				it := ahead(8) // me-1 holds slots 0-3, a-1 slots 4-7
				it.Blocks["me-1"] = block{Owner: "me", N: 4, End: at(20 * time.Second)}
				it.Blocks["a-1"] = block{Owner: "a", N: 4, End: at(20 * time.Second)}
				return it
			}(), nd: need{slots: 1, closing: []*heldBlock{slotted(closedBlock("me-1", 1, 4, at(0)), at(0))}},
			check: func(t *testing.T, p plan) {
				if p.next.Tat != at(ms(8*pacedDelta)) {
					t.Errorf("tat %d ms, want 800 (slots 1-3 are not the tail: giving them back would hand a-1's out twice)", p.next.Tat-at(0))
				}
			}},
		{name: "after an idle spell the block starts now, not at the old tat: nothing is banked, and its slots are a pace step apart",
			st: func() budgetItem {
				it := item(map[string]owner{"me": holding(4)})
				it.Tat = at(-time.Minute)
				return it
			}(), nd: need{slots: 4, calls: 4},
			check: func(t *testing.T, p plan) {
				wantGrant(t, p, 4)
				if p.newBlock.first != at(0) || p.next.Tat != at(ms(401)) {
					t.Errorf("first slot %d, tat %d ms, want 0 and 401", p.newBlock.first-at(0), p.next.Tat-at(0))
				}
			}},
		{name: "slots held by a live lease elsewhere: take what is left and record the want",
			st: item(map[string]owner{"a": holding(3)}), nd: need{slots: 3, calls: 3},
			check: func(t *testing.T, p plan) {
				if me := p.next.Owners["me"]; p.slots != 1 || me.Want != 3 {
					t.Errorf("slots %d want %d, want 1 and a want of 3", p.slots, me.Want)
				}
			}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			cfg := pacedConfig()
			if err := cfg.validate(); err != nil {
				t.Fatal(err)
			}
			pl := planner{cfg: cfg, owner: "me", pk: "budget#i", loc: chicago}
			p := pl.plan(r.st, planNow, r.nd, 0, "me-9")
			r.check(t, p)
		})
	}
}

func TestCertainConfig(t *testing.T) {
	cfg := CertainConfig{}.config()
	if cfg.Concurrent != 16 || cfg.CallsPer20s != 50 || cfg.pace != 20*time.Millisecond || cfg.Block != 5 || cfg.Burst != 5 ||
		cfg.MaxCall != 65*time.Second || cfg.LeaseTTL != 90*time.Second || cfg.Window != 0 || cfg.Margin != 0 {
		t.Errorf("defaults %+v: want 16 in flight, 50/s (20 ms pace), blocks and burst of 5, MaxCall 65 s, lease 90 s, no window", cfg)
	}
	if err := cfg.validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	for _, tc := range []struct {
		cfg  CertainConfig
		want string
	}{
		{CertainConfig{Concurrent: 65}, "Concurrent 65"},
		{CertainConfig{Concurrent: -1}, "Concurrent -1"},
		{CertainConfig{CallsPerSecond: 1001}, "CallsPerSecond 1001"},
		{CertainConfig{CallsPerSecond: -3}, "CallsPerSecond -3"},
		{CertainConfig{CallsPerSecond: 10, Block: 11}, "Block 11"},
		{CertainConfig{Block: 4, Burst: 3}, "Burst 3"},
		{CertainConfig{MaxCall: time.Minute, LeaseTTL: time.Minute}, "LeaseTTL"},
	} {
		err := tc.cfg.config().validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %q", tc.cfg, err, tc.want)
		}
	}
}

// slotted gives a paced block its first slot.
func slotted(b *heldBlock, first int64) *heldBlock {
	b.first = first
	return b
}

// TestSlotOffsets: whatever CallsPerSecond, slots N apart are at least a
// second and slotGrace apart, within a block and across blocks of any sizes, so N+1
// calls never start within one second.
func TestSlotOffsets(t *testing.T) {
	for _, n := range []int{1, 3, 7, 50, 300, 667, 999, 1000} {
		cfg := CertainConfig{CallsPerSecond: n}.config()
		var slots []int64
		tat := int64(0)
		for b, k := range []int{1, max(1, n/10), 2, max(1, n/3), 1, 5} {
			k = min(k, n)
			first := tat + int64(b%2) // sometimes a little after the schedule
			for i := range k {
				slots = append(slots, first+cfg.slotOffsetMS(i))
			}
			tat = first + cfg.slotOffsetMS(k)
		}
		for i := 0; i+n < len(slots); i++ {
			if d := slots[i+n] - slots[i]; d < (time.Second + slotGrace).Milliseconds() {
				t.Fatalf("%d/s: slots %d and %d are %d ms apart, want at least a second and slotGrace", n, i, i+n, d)
			}
		}
		if p := paceOf(n); p*time.Duration(n) < time.Second || (p-1)*time.Duration(n) >= time.Second {
			t.Errorf("%d/s: in-process step %s, want the least whole ns with N steps >= 1 s", n, p)
		}
	}
}

// TestPacedPlannerLead: a block is in hand a write's round trip after it
// was planned, so its first slot is lead after now (lib/limit/paced.go),
// and the Burst ahead of the schedule counts from then.
func TestPacedPlannerLead(t *testing.T) {
	cfg := pacedConfig()
	pl := planner{cfg: cfg, owner: "me", pk: "budget#i", loc: chicago, lead: 30 * time.Millisecond}
	p := pl.plan(budgetItem{}, planNow, need{slots: 1, calls: 1}, 0, "me-9")
	wantGrant(t, p, 2)
	if p.newBlock.first != at(ms(30)) || p.next.Tat != at(ms(30+201)) {
		t.Errorf("first slot %d, tat %d ms, want 30 and 231", p.newBlock.first-at(0), p.next.Tat-at(0))
	}
	// A schedule already past the block's arrival is followed: its slots
	// start at the tat (200 ms), not at the lead.
	if p = pl.plan(ahead(2), planNow, need{slots: 1, calls: 2}, 0, "me-9"); p.newBlock == nil || p.newBlock.first != at(ms(2*pacedDelta)) {
		t.Errorf("schedule 2 steps ahead, lead 30 ms: block %+v, want 2 slots from the schedule's tat (200 ms)", p.newBlock)
	}
}
