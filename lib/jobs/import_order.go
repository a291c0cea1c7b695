package jobs

// Order among the leads of one import that share an address.

import (
	"strings"
	"sync"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// emailKeyOf is the key that orders a lead's handling: its lower-case
// e-mail when usable, else "" (no order with any other lead).
func emailKeyOf(lead marketo.Lead) string {
	email := strings.TrimSpace(lead.Email())
	if email == "" || !plausibleEmail(email) {
		return ""
	}
	return strings.ToLower(email)
}

// turns lets work on one key run one at a time in the order the turns were
// taken, while other keys proceed. The dispatcher takes a turn per lead in
// the list's order before starting its handler, so of two leads sharing an
// address the earlier one is always handled first: which profile a lead
// gets, and which lead keeps a profile, does not depend on scheduling.
// Entries are dropped when the last turn of a key ends.
type turns struct {
	mu   sync.Mutex
	last map[string]chan struct{} // key -> the latest turn's end
}

// turn is one place in a key's line.
type turn struct {
	q         *turns
	key       string
	prev, end chan struct{}
}

// take reserves the next turn on key ("": a turn that waits for nothing).
func (q *turns) take(key string) turn {
	if key == "" {
		return turn{}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.last == nil {
		q.last = map[string]chan struct{}{}
	}
	t := turn{q: q, key: key, prev: q.last[key], end: make(chan struct{})}
	q.last[key] = t.end
	return t
}

// wait blocks until every earlier turn on the key has ended.
func (t turn) wait() {
	if t.prev != nil {
		<-t.prev
	}
}

// done ends the turn; the next one on the key may start.
func (t turn) done() {
	if t.end == nil {
		return
	}
	t.q.mu.Lock()
	if t.q.last[t.key] == t.end {
		delete(t.q.last, t.key)
	}
	t.q.mu.Unlock()
	close(t.end)
}
