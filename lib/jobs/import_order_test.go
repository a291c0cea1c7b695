package jobs

import (
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// TestTurnsRunOneKeyInTakenOrder: turns on one key run in the order they
// were taken even when the later one starts first; other keys and "" do
// not wait; the map empties when the last turn ends.
func TestTurnsRunOneKeyInTakenOrder(t *testing.T) {
	var q turns
	var mu sync.Mutex
	var order []string
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }

	ts := []turn{q.take("a"), q.take("a"), q.take("a")}
	other, none := q.take("b"), q.take("")
	var wg sync.WaitGroup
	for i := len(ts) - 1; i >= 0; i-- { // the latest starts first
		wg.Go(func() {
			ts[i].wait()
			note(string(rune('1' + i)))
			ts[i].done()
		})
		time.Sleep(5 * time.Millisecond) // let it reach wait before the next starts
	}
	// Key "b" and no key proceed while key "a" is in line.
	other.wait()
	none.wait()
	other.done()
	none.done()
	wg.Wait()
	if got := order; len(got) != 3 || got[0] != "1" || got[1] != "2" || got[2] != "3" {
		t.Fatalf("turns on one key ran in order %v, want [1 2 3]", got)
	}
	if len(q.last) != 0 {
		t.Fatalf("turns map not emptied: %v", q.last)
	}
}

func TestEmailKeyOf(t *testing.T) {
	for email, want := range map[string]string{
		" Twin@Example.com ": "twin@example.com",
		"":                   "",
		"not an address":     "",
		"no-at.example.com":  "",
	} {
		if got := emailKeyOf(marketo.Lead{"email": email}); got != want {
			t.Errorf("emailKeyOf(%q) = %q, want %q", email, got, want)
		}
	}
}
