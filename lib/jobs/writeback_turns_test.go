package jobs

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/certain-marketo/certain-marketo/lib/certain"
)

// heldCertain is a fakeCertain whose profile writes wait: each says its pin
// on entered and goes on when the test sends on proceed.
type heldCertain struct {
	*fakeCertain
	entered chan string
	proceed chan struct{}
}

func (c *heldCertain) UpdateProfile(ctx context.Context, acct, pin string, changed map[string]any) error {
	c.entered <- pin
	<-c.proceed
	return c.fakeCertain.UpdateProfile(ctx, acct, pin, changed)
}

// TestWriteBackTurns: in a run that takes turns (the metrics jobs), a batch
// that asks for its write-backs while another is handing its own out waits
// until the other handed out its last; without turns, both go at once.
func TestWriteBackTurns(t *testing.T) {
	for _, turns := range []bool{true, false} {
		synctest.Test(t, func(t *testing.T) {
			ct := &heldCertain{fakeCertain: newFakeCertain(), entered: make(chan string), proceed: make(chan struct{})}
			rc := testRC(newFakeMarketo(), ct)
			rc.writeBackTurns = turns
			batch := func(p string) ([]*certain.Registration, []leadResult, []int) {
				var regs []*certain.Registration
				var res []leadResult
				for i := range 3 {
					pin := p + string(rune('1'+i))
					r := reg("R"+pin, pin, pin+"@example.com", "", "", "Registered", nil)
					regs, res = append(regs, &r), append(res, leadResult{ID: 100 + i})
				}
				return regs, res, []int{0, 1, 2}
			}
			run := func(p string) {
				ops := newLeadOps(rc)
				ops.inFlight = 1
				regs, res, idx := batch(p)
				if err := ops.writeBacks(t.Context(), regs, res, idx); err != nil {
					t.Errorf("batch %s: %v", p, err)
				}
			}
			var wg sync.WaitGroup
			wg.Go(func() { run("A") })
			order := []string{<-ct.entered} // A1 is being written
			wg.Go(func() { run("B") })
			synctest.Wait()
			released := 0
			for len(order) < 6 {
				select {
				case pin := <-ct.entered:
					order = append(order, pin)
				default:
					ct.proceed <- struct{}{}
					released++
					synctest.Wait()
				}
			}
			for ; released < 6; released++ {
				ct.proceed <- struct{}{}
			}
			wg.Wait()
			if turns {
				if a3, b1 := slices.Index(order, "A3"), slices.Index(order, "B1"); order[0] != "A1" || order[1] != "A2" || b1 < 2 || a3 > 3 {
					t.Errorf("with turns: order %v, want A1, A2, then A3 and B1 (B waits for A's hand-out)", order)
				}
			} else if slices.Index(order, "B1") != 1 {
				t.Errorf("without turns: order %v, want B1 second (both batches at once)", order)
			}
		})
	}
}
