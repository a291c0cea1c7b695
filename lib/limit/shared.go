package limit

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// Stats counts a budget's DynamoDB requests, for tests and reports.
type Stats struct {
	Grants     int // calls handed out
	Writes     int // conditional writes sent (PutItem and UpdateItem)
	Conflicts  int // writes that lost a race (ConditionalCheckFailed)
	Reads      int // GetItem requests
	Renewals   int // atomic lease renewals
	BlocksTook int // blocks granted
	// SlotsMissed counts a paced budget's slots passed over because no
	// call was ready within slotGrace of them (paced.go).
	SlotsMissed int
}

// Shared is the budget of one Marketo instance (NewShared) or one Certain
// account (NewSharedCertain) held in DynamoDB and shared by every Lambda
// that calls it (see the package documentation); it implements
// marketo.Budget and certain.Budget.
type Shared struct {
	db    DynamoAPI
	table string
	pk    string
	cfg   Config
	loc   *time.Location
	owner string
	seq   int64 // block ids; under mu

	mu       sync.Mutex
	wake     chan struct{} // closed and replaced whenever the process's state changes
	syncing  bool          // one goroutine talks to DynamoDB at a time
	slots    int           // slots held
	until    int64         // slot lease expiry (ms)
	inflight int
	waiting  int
	gen      int // counts changes to the process's state
	blocks   []*heldBlock
	cur      budgetItem // last item seen
	haveCur  bool
	fresh    bool               // cur was read or written since the last sleep
	idleOn   bool               // an idle give-back goroutine is running
	idleStop context.CancelFunc // ends the running give-back
	idleWG   sync.WaitGroup
	stats    Stats
	rtt      time.Duration // a write's round trip, as lead sees it (paced.go)
}

var _ marketo.Budget = (*Shared)(nil)

// heldBlock is a block of calls this process holds and hands out to its
// goroutines.
type heldBlock struct {
	id       string
	granted  time.Time
	day      string
	first    int64   // a paced block's first slot (ms): call i starts at first+slotOffsetMS(i), not before
	n        int     // calls granted
	started  int     // calls handed out
	answered int     // calls released
	missed   int     // paced: slots passed over since last counted in Stats
	ends     []int64 // answer + Window + Margin of each released call (ms)
}

// NewShared returns the budget of the Marketo instance instanceKey (munchkin
// id or REST host) kept in table (the state table), item "budget#<instanceKey>".
func NewShared(api DynamoAPI, table, instanceKey string, cfg Config) (*Shared, error) {
	return newShared(api, table, "budget#", instanceKey, cfg.withDefaults())
}

// newShared returns the budget kept in table's item prefix+key; cfg has its
// defaults.
func newShared(api DynamoAPI, table, prefix, key string, cfg Config) (*Shared, error) {
	if api == nil || table == "" || key == "" {
		return nil, fmt.Errorf("limit: %s: DynamoDB client, table and key are required", cfg.label())
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	owner, err := newOwnerID()
	if err != nil {
		return nil, err
	}
	return &Shared{db: api, table: table, pk: prefix + key, cfg: cfg, loc: cfg.QuotaZone.Location(),
		owner: owner, wake: make(chan struct{})}, nil
}

// newOwnerID returns a random id for this process's owner entry.
func newOwnerID() (string, error) {
	var b [6]byte
	if _, err := crand.Read(b[:]); err != nil {
		return "", fmt.Errorf("limit: owner id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Stats returns the counts of DynamoDB requests made so far.
func (d *Shared) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// broadcast wakes the goroutines waiting for the process's state to change. mu held.
func (d *Shared) broadcast() {
	close(d.wake)
	d.wake = make(chan struct{})
}
