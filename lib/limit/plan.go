package limit

import (
	"slices"
	"strconv"
	"time"
)

// staggerStep is the most one waiting process lets the one before it go
// first: several DynamoDB round trips.
const staggerStep = 250 * time.Millisecond

type plan struct {
	next     budgetItem
	changed  bool // next differs from the item and must be written
	progress bool // a waiting goroutine gains a slot or calls
	quota    bool // the daily budget is used up
	slots    int
	until    int64
	newBlock *localBlock
	closed   []*localBlock
	wait     time.Duration // when nothing could be had: how long to wait
	jitter   time.Duration // at most this much is added to wait at random
}

// plan computes the item after this process's changes, from st.
func (d *Dynamo) plan(st budgetItem, now time.Time, nd need, inflight int) plan {
	nowMS := now.UnixMilli()
	next := budgetItem{PK: d.pk, SK: "budget", Ver: st.Ver + 1, Day: st.Day, DayCount: st.DayCount,
		Owned: map[string][]int64{}, Tat: st.Tat, Occ: st.Occ,
		Blocks: map[string]block{}, Owners: map[string]owner{}, ExpiresAt: now.Add(48 * time.Hour).Unix()}
	var p plan
	if today := now.In(d.loc).Format(time.DateOnly); next.Day != today {
		next.Day, next.DayCount = today, 0
		p.changed = true
	}
	for _, s := range st.Stamps {
		if s > nowMS {
			next.Stamps = append(next.Stamps, s)
		}
	}
	for id, ss := range st.Owned {
		for _, s := range ss {
			if s > nowMS {
				next.Owned[id] = append(next.Owned[id], s)
			}
		}
	}
	for id, b := range st.Blocks {
		if b.End > nowMS {
			next.Blocks[id] = b
		}
	}
	for id, o := range st.Owners {
		if o.Until <= nowMS {
			o.Slots = 0
		}
		if o.WantUntil <= nowMS {
			o.Want = 0
		}
		if o.Slots > 0 || o.Want > 0 || o.Tat > nowMS {
			next.Owners[id] = o
		}
	}
	// The pacing step: one call per Delta, where Delta is the time a call
	// counts in the window (Occ, at least Window+Margin) over CallsPer20s,
	// so that the window refills as fast as it empties and never fills in
	// a burst.
	delta := float64(max(st.Occ, (d.cfg.Window+d.cfg.Margin).Milliseconds())) / float64(d.cfg.CallsPer20s)
	// Slots; active: the processes holding or wanting slots, this one
	// included when it needs any.
	me := next.Owners[d.owner]
	others, active, othersWant := 0, 0, false
	for id, o := range next.Owners {
		if id == d.owner || (o.Slots == 0 && o.Want == 0) {
			continue
		}
		others += o.Slots
		active++
		if o.Want > 0 {
			othersWant = true
		}
	}
	if nd.slots > 0 {
		active++
	}
	deltaOwn := delta * float64(max(active, 1))
	// Close finished blocks: their calls become exact stamps, unused calls
	// are refunded to the day and to the schedules.
	for _, b := range nd.closing {
		if sb, ok := next.Blocks[b.id]; ok {
			delete(next.Blocks, b.id)
			// sb.N, not b.n: Close lowers b.n to the calls started.
			if sb.Day == next.Day {
				next.DayCount -= sb.N - b.started
			}
			next.Tat -= int64(float64(sb.N-b.started) * delta)
			me.Tat -= int64(float64(sb.N-b.started) * deltaOwn)
		}
		var sum int64
		for _, e := range b.ends {
			sum += e - b.granted.UnixMilli()
			if e > nowMS {
				next.Owned[d.owner] = append(next.Owned[d.owner], e)
			}
		}
		if len(b.ends) > 0 {
			occ := sum / int64(len(b.ends))
			if next.Occ == 0 {
				next.Occ = occ
			} else {
				next.Occ += (occ - next.Occ) / 4
			}
		}
		p.closed = append(p.closed, b)
		p.changed = true
	}

	target := nd.slots
	if othersWant {
		share := (d.cfg.Concurrent + active - 1) / max(active, 1)
		target = min(target, share)
	}
	target = max(target, inflight) // calls in flight keep their slots
	newSlots := min(target, max(d.cfg.Concurrent-others, inflight))
	want, wantUntil := 0, int64(0)
	if newSlots < nd.slots {
		want, wantUntil = nd.slots, now.Add(5*d.cfg.UseBy).UnixMilli()
	}
	if newSlots != me.Slots || want != me.Want || (want > 0 && me.WantUntil < now.Add(2*d.cfg.UseBy).UnixMilli()) {
		p.changed = true
	}
	if newSlots > me.Slots && newSlots > inflight {
		p.progress = true
	}
	me.Slots, me.Want, me.WantUntil = newSlots, want, wantUntil
	if newSlots > 0 && (p.changed || nd.renew) {
		me.Until = now.Add(d.cfg.LeaseTTL).UnixMilli()
		p.changed = true
	}
	p.slots, p.until = newSlots, me.Until

	// Calls.
	if nd.calls > 0 && newSlots > 0 {
		counted := len(next.Stamps)
		frees := slices.Clone(next.Stamps) // when counted calls leave the window
		for _, ss := range next.Owned {
			counted += len(ss)
			frees = append(frees, ss...)
		}
		for _, b := range next.Blocks {
			counted += b.N
			for range b.N {
				frees = append(frees, b.End)
			}
		}
		slices.Sort(frees)
		free := d.cfg.CallsPer20s - counted
		// The shared schedule allows Burst calls ahead of its pace; each
		// process's own schedule allows it 1/active of the pace (so that
		// processes that all want more get equal shares), unless every
		// other holder has used its share or is idle: then it may borrow.
		tau := float64(d.cfg.Burst) * delta
		tat := float64(max(next.Tat, nowMS))
		paced := int((float64(nowMS) + tau - tat) / delta)
		tauOwn := float64(d.cfg.Burst) * deltaOwn
		tatOwn := float64(max(me.Tat, nowMS))
		pacedOwn := int((float64(nowMS) + tauOwn - tatOwn) / deltaOwn)
		borrow := true
		for id, o := range next.Owners {
			if id != d.owner && o.Slots > 0 && o.Tat <= nowMS && float64(o.Tat) > float64(nowMS)-tauOwn {
				borrow = false // it has part of its share left: it is behind
			}
		}
		if borrow {
			pacedOwn = paced
		}
		k := min(d.cfg.Block, max(nd.calls, 2*newSlots))
		if d.cfg.Daily > 0 {
			if left := d.cfg.Daily - next.DayCount; left <= 0 {
				p.quota = true
				k = 0
			} else {
				k = min(k, left)
			}
		}
		// Take at least min(k, Block/2) at once, so that one write serves
		// several calls; the capacity waits a little for it.
		least := max(1, min(k, d.cfg.Block/2))
		avail := min(free, paced, pacedOwn)
		switch {
		case k == 0:
		case avail >= least:
			k = min(k, avail)
			d.mu.Lock()
			d.seq++
			id := d.owner + "-" + strconv.FormatInt(d.seq, 10)
			d.mu.Unlock()
			end := now.Add(d.cfg.UseBy + d.cfg.MaxCall + d.cfg.Window + d.cfg.Margin).UnixMilli()
			next.Blocks[id] = block{Owner: d.owner, N: k, End: end, Day: next.Day}
			next.DayCount += k
			next.Tat = int64(tat + float64(k)*delta)
			me.Tat = int64(tatOwn + float64(k)*deltaOwn)
			p.newBlock = &localBlock{id: id, granted: now, day: next.Day, n: k}
			p.changed, p.progress = true, true
		default:
			if free < least {
				if i := least - free - 1; i < len(frees) { // frees[i] leaves: then least are free
					// A stamp leaves at a known time; an open block may be
					// closed early, unannounced: look again within a second.
					p.wait = time.Duration(frees[i]-nowMS) * time.Millisecond
					if p.wait > d.cfg.Window+d.cfg.Margin {
						p.wait = time.Second
					}
				} else {
					p.wait = time.Second
				}
			}
			if paced < least {
				p.wait = max(p.wait, time.Duration((tat+float64(least)*delta-tau-float64(nowMS))*float64(time.Millisecond)))
			}
			if pacedOwn < least {
				p.wait = max(p.wait, time.Duration((tatOwn+float64(least)*deltaOwn-tauOwn-float64(nowMS))*float64(time.Millisecond)))
			}
			// Stagger the processes that wait for the same moment: the one
			// whose own schedule is furthest behind goes first, the others
			// one step later each, so that they rarely race for it (a lost
			// race costs a write).
			rank := 0
			for id, o := range next.Owners {
				if id != d.owner && o.Slots > 0 && max(o.Tat, nowMS) < max(me.Tat, nowMS) {
					rank++
				}
			}
			step := min(time.Duration(delta*float64(time.Millisecond)), staggerStep)
			p.wait += time.Millisecond + time.Duration(rank)*step
			p.jitter = step / 2
		}
	} else if nd.slots > newSlots {
		p.wait = 50 * time.Millisecond // slots are given back unannounced: poll
		for _, o := range next.Owners {
			if o.Slots > 0 && o.Until > nowMS {
				p.wait = min(p.wait, time.Duration(o.Until-nowMS)*time.Millisecond+time.Millisecond)
			}
		}
	}
	if newSlots > 0 || want > 0 || me.Tat > nowMS {
		next.Owners[d.owner] = me
	} else {
		delete(next.Owners, d.owner)
	}
	if p.wait <= 0 {
		p.wait = 5 * time.Millisecond
	}
	// A pacing wait is exact (only refunds and holders leaving shorten
	// it); bound it anyway.
	p.wait = min(p.wait, d.cfg.Window/4)
	p.next = next
	return p
}
