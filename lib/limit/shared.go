package limit

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/clock"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// Stats counts a budget's DynamoDB requests, for tests and reports.
type Stats struct {
	Grants     int // Marketo calls handed out
	Writes     int // conditional writes sent (PutItem and UpdateItem)
	Conflicts  int // writes that lost a race (ConditionalCheckFailed)
	Reads      int // GetItem requests
	Renewals   int // atomic lease renewals
	BlocksTook int // blocks granted
}

// Dynamo is the shared budget; it implements marketo.Budget.
type Dynamo struct {
	db    DynamoAPI
	table string
	pk    string
	cfg   Config
	loc   *time.Location
	owner string
	seq   int64 // block ids; under mu

	mu       sync.Mutex
	wake     chan struct{} // closed and replaced whenever local state changes
	syncing  bool          // one goroutine talks to DynamoDB at a time
	slots    int           // slots held
	until    int64         // slot lease expiry (ms)
	inflight int
	waiting  int
	gen      int // counts changes to the local state
	blocks   []*localBlock
	cur      budgetItem // last item seen
	haveCur  bool
	fresh    bool               // cur was read or written since the last sleep
	idleOn   bool               // an idle give-back goroutine is running
	idleStop context.CancelFunc // ends the running give-back
	idleWG   sync.WaitGroup
	stats    Stats
}

var _ marketo.Budget = (*Dynamo)(nil)

type localBlock struct {
	id       string
	granted  time.Time
	day      string
	n        int     // calls granted
	started  int     // calls handed out
	answered int     // calls released
	ends     []int64 // answer + Window + Margin of each released call (ms)
}

// NewDynamo returns the budget of the Marketo instance instanceKey (munchkin
// id or REST host) kept in table (the state table).
func NewDynamo(api DynamoAPI, table, instanceKey string, cfg Config) (*Dynamo, error) {
	if api == nil || table == "" || instanceKey == "" {
		return nil, errors.New("limit: DynamoDB client, table and instance key are required")
	}
	if cfg.CallsPer20s == 0 {
		cfg.CallsPer20s = 50
	}
	if cfg.Concurrent == 0 {
		cfg.Concurrent = 5
	}
	if cfg.Window == 0 {
		cfg.Window = 20 * time.Second
	}
	if cfg.Margin == 0 {
		cfg.Margin = 500 * time.Millisecond
	}
	if cfg.MaxCall == 0 {
		cfg.MaxCall = 125 * time.Second
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = cfg.MaxCall + 25*time.Second
	}
	if cfg.Block == 0 {
		cfg.Block = max(1, cfg.CallsPer20s/10)
	}
	if cfg.UseBy == 0 {
		cfg.UseBy = 2 * time.Second
	}
	if cfg.Burst == 0 {
		cfg.Burst = cfg.Block
	}
	if cfg.IdleGrace == 0 {
		cfg.IdleGrace = time.Second
	}
	switch {
	case cfg.CallsPer20s < 0 || cfg.CallsPer20s > 100:
		return nil, fmt.Errorf("limit: CallsPer20s %d out of range 1..100", cfg.CallsPer20s)
	case cfg.Concurrent < 0 || cfg.Concurrent > 10:
		return nil, fmt.Errorf("limit: Concurrent %d out of range 1..10", cfg.Concurrent)
	case cfg.Daily < 0:
		return nil, fmt.Errorf("limit: negative Daily %d", cfg.Daily)
	case cfg.Block < 0 || cfg.Block > cfg.CallsPer20s:
		return nil, fmt.Errorf("limit: Block %d out of range 1..CallsPer20s (%d)", cfg.Block, cfg.CallsPer20s)
	case cfg.Burst < cfg.Block || cfg.Burst > cfg.CallsPer20s:
		return nil, fmt.Errorf("limit: Burst %d out of range Block (%d)..CallsPer20s (%d)", cfg.Burst, cfg.Block, cfg.CallsPer20s)
	case cfg.Window < 0 || cfg.Margin < 0 || cfg.MaxCall < 0 || cfg.UseBy < 0:
		return nil, errors.New("limit: negative Window, Margin, MaxCall or UseBy")
	case cfg.LeaseTTL <= cfg.MaxCall:
		return nil, fmt.Errorf("limit: LeaseTTL %s must be longer than MaxCall %s", cfg.LeaseTTL, cfg.MaxCall)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = clock.Sleep
	}
	var b [6]byte
	if _, err := crand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("limit: owner id: %w", err)
	}
	return &Dynamo{db: api, table: table, pk: "budget#" + instanceKey, cfg: cfg, loc: marketo.ChicagoLocation(),
		owner: hex.EncodeToString(b[:]), wake: make(chan struct{})}, nil
}

// Stats returns the counts of DynamoDB requests made so far.
func (d *Dynamo) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// broadcast wakes the goroutines waiting for local state to change. mu held.
func (d *Dynamo) broadcast() {
	close(d.wake)
	d.wake = make(chan struct{})
}
