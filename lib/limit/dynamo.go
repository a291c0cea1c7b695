// Package limit holds the Marketo budget shared by every Lambda of one
// Marketo instance. Marketo enforces 100 calls per sliding 20 s, 10 calls
// in flight and a daily quota per instance, for all integrations together;
// Lambdas scale out, so an in-process limiter cannot keep them under it.
//
// # Why leases of blocks and slots
//
// A write to DynamoDB per Marketo call (or three: grant, lease, release)
// makes every process fight over one item, and the round trips cost more
// than the calls they guard. Dynamo instead leases capacity to a process in
// bulk and hands it to the process's goroutines locally:
//
//   - Calls: one conditional write takes a block of k calls from the window
//     (k up to Config.Block, default CallsPer20s/10). The process hands them
//     out locally. A block counts in full, from its grant, until its holder
//     closes it; closing replaces it by one stamp per call actually made,
//     answer time + Window + Margin, and gives the unused calls back. Calls
//     not started within UseBy of the grant are not handed out any more.
//   - Concurrency: a process holds s of the instance's Concurrent slots
//     under a lease (its owner entry). It asks for as many as it has
//     goroutines wanting them, keeps them while busy, renews the lease when
//     a call starts with less than MaxCall of it left, and gives back
//     slots it has not needed for IdleGrace (or all of them on Close). A
//     process that gets fewer slots than it wants records its want; the
//     holders then trim themselves to a fair share (Concurrent divided by
//     the processes holding or wanting) at their next write.
//   - Pace: grants follow a schedule held in the item (tat, GCRA style):
//     one call per Delta = Occ/CallsPer20s, where Occ is the measured time
//     a call counts in the window (block grant to stamp end, at least
//     Window+Margin, averaged over closed blocks), with Burst calls allowed
//     ahead of it. The window thus refills as fast as it empties instead of
//     filling in one burst and then waiting, all together, for its first
//     stamps to leave (waves about Window+Margin+latency apart).
//   - Fairness: each process also has its own schedule (its owner entry's
//     t) at Delta times the number of active processes (holding or wanting
//     slots), so processes that all want more get equal shares; it may
//     borrow beyond it when no other holder is behind its own schedule.
//     Waiting processes are staggered (the one furthest behind first) so
//     that they rarely race for the same moment.
//   - A finished block is closed by the write of the next grant (it counts
//     the same as its stamps would until its first stamp nears its end),
//     unless it has unused calls to give back or nobody waits.
//   - Daily: dayCount counts calls granted on the current America/Chicago
//     day (unused calls are refunded on close); it restarts at 00:00 there,
//     when Marketo's quota resets. Acquire returns *marketo.QuotaError when
//     it is used up.
//
// # Why the limits hold
//
// The item (state table, pk "budget#<instance>", sk "budget") holds the
// open blocks, the stamps of closed calls, the owner entries and the day
// count. Marketo counts a call when it arrives, at some moment between our
// grant and the answer, and the call stays in Marketo's window for Window
// after that. An open block covers [grant, grant+UseBy+MaxCall+Window+
// Margin); a stamp covers a call until its answer+Window+Margin (Margin
// absorbs clock skew). The pace and the shares only delay grants; the
// limit rests on the count alone. A grant is written only if the calls counted now
// (open blocks plus live stamps) plus k fit in CallsPer20s. At any moment
// T, every call Marketo may count for T belongs to a block granted at or
// before T that still counts at T; the last of them was checked against all
// the others, so no sliding window at Marketo sees more than CallsPer20s.
// Slots: the sum of live leases never exceeds Concurrent, a process never
// has more calls in flight than it holds slots, and a lease always outlives
// the calls started under it by MaxCall, so a call in flight at Marketo
// always sits under a live lease, even if its Lambda died.
//
// A sum over a list cannot be a DynamoDB condition, so grants, closes and
// slot changes are a read-modify-write of the item, conditional on its
// version (ver), with the current item returned on a lost race (ALL_OLD),
// so a lost race costs no extra read. Lease renewal, the frequent write
// of a busy process, is an atomic UpdateItem (SET u, ADD ver) that needs no
// read. A process writes about once per block; a write that lost a race
// costs what a read would have, and returns the item.
//
// # Worst case when a Lambda dies
//
// Its open blocks keep counting until they expire: at most Block calls per
// block (the process holds one or two) are counted but never used, for
// UseBy+MaxCall+Window+Margin (about 148 s by default), which lowers
// everyone's rate by that much for that long. Its slots stay held until its
// lease expires: at most LeaseTTL (150 s), since a lease renewed when a call
// starts reaches at most LeaseTTL ahead. Nothing above the limits is ever
// granted; only capacity is lost for a while.
//
// Assumptions: the clocks of all Lambdas agree within Margin; a Marketo call
// is over at Marketo within MaxCall of its start (Marketo's longest server
// timeout is 120 s; the client's HTTP timeout must not be longer); the
// DynamoDB table applies a conditional write to one item atomically (moto
// does not under concurrent requests; see the tests).
package limit

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/certain-marketo/certain-marketo/lib/clock"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// DynamoAPI lists the DynamoDB calls the budget makes.
type DynamoAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Config is the budget of one Marketo instance. Zero values take defaults.
type Config struct {
	CallsPer20s int           // calls per Window; default 50, at most 100
	Window      time.Duration // default 20 s
	Concurrent  int           // calls in flight; default 5, at most 10
	Daily       int           // calls per Chicago day; 0 = no local daily limit
	// Margin is added to every call's time in the window, for clock skew
	// between Lambdas, whose stamps are compared with each other's clocks
	// (default 500 ms; Lambda hosts keep time through the Amazon Time Sync
	// Service, within milliseconds). Each millisecond of margin costs
	// throughput: a call occupies the window for Window+Margin+latency.
	Margin time.Duration
	// MaxCall is the longest a call may stay in flight at Marketo (default
	// 125 s: Marketo's longest server timeout is 120 s).
	MaxCall time.Duration
	// LeaseTTL is how long a slot lease lives without renewal; a dead
	// Lambda's slots come back after it (default MaxCall+25 s; more than
	// MaxCall).
	LeaseTTL time.Duration
	// Block is the most calls taken from the window in one write (default
	// CallsPer20s/10, at least 1).
	Block int
	// Burst is how many calls the pacing schedule may grant ahead of its
	// steady rate (default Block).
	Burst int
	// UseBy: calls of a block not started within UseBy of its grant are
	// given back (default 2 s).
	UseBy time.Duration
	// IdleGrace: slots and unused calls a process has not needed for this
	// long are given back (default 1 s; negative: only on Close or expiry).
	IdleGrace time.Duration
	Now       func() time.Time
	Sleep     func(ctx context.Context, d time.Duration) error
}

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

type block struct {
	Owner string `dynamodbav:"o"`
	N     int    `dynamodbav:"n"`
	End   int64  `dynamodbav:"e"` // ms; counts until then unless closed
	Day   string `dynamodbav:"d"`
}

type owner struct {
	Slots     int   `dynamodbav:"s"`
	Until     int64 `dynamodbav:"u"`  // slot lease (ms)
	Want      int   `dynamodbav:"w"`  // slots wanted but not granted
	WantUntil int64 `dynamodbav:"wu"` // the want counts until then (ms)
	Tat       int64 `dynamodbav:"t"`  // the owner's own pacing schedule (ms)
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

func (d *Dynamo) key() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: d.pk}, "sk": &types.AttributeValueMemberS{Value: "budget"}}
}

// broadcast wakes the goroutines waiting for local state to change. mu held.
func (d *Dynamo) broadcast() {
	close(d.wake)
	d.wake = make(chan struct{})
}

// Acquire waits for a slot and a call, counts the call and returns its
// release. It returns *marketo.QuotaError when the daily budget is used up,
// and ctx's error when ctx ends while waiting.
func (d *Dynamo) Acquire(ctx context.Context) (func(), error) {
	d.mu.Lock()
	d.waiting++
	defer func() { d.waiting--; d.mu.Unlock() }()
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("marketo budget: %w", err)
		}
		now := d.cfg.Now()
		if b := d.spare(now); b != nil && d.inflight < d.slots && d.until >= now.Add(d.cfg.MaxCall).UnixMilli() {
			b.started++
			d.inflight++
			d.stats.Grants++
			var once sync.Once
			return func() { once.Do(func() { d.release(b) }) }, nil
		}
		if !d.syncing {
			d.syncing = true
			gen := d.gen
			d.mu.Unlock()
			did, err := d.sync(ctx)
			d.mu.Lock()
			d.syncing = false
			d.broadcast()
			if err != nil {
				return nil, err
			}
			if did || d.gen != gen {
				continue
			}
			// Only a local release can help (every slot is in use here).
		}
		ch := d.wake
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		d.mu.Lock()
	}
}

// spare returns a block with a call that may still be handed out. mu held.
func (d *Dynamo) spare(now time.Time) *localBlock {
	for _, b := range d.blocks {
		if b.started < b.n && now.Before(b.granted.Add(d.cfg.UseBy)) {
			return b
		}
	}
	return nil
}

func (d *Dynamo) release(b *localBlock) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inflight--
	d.gen++
	b.answered++
	b.ends = append(b.ends, d.cfg.Now().Add(d.cfg.Window+d.cfg.Margin).UnixMilli())
	d.broadcast()
	d.startIdle()
}

// startIdle starts the idle give-back when the process holds more than it
// needs and nobody waits (they would do it). mu held.
func (d *Dynamo) startIdle() {
	if d.idleOn || d.cfg.IdleGrace < 0 || d.waiting > 0 || !d.surplus() {
		return
	}
	d.idleOn = true
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.UseBy+d.cfg.IdleGrace+30*time.Second)
	d.idleStop = cancel
	d.idleWG.Add(1)
	go d.idle(ctx) // ended and waited for by Close
}

// surplus: slots beyond the calls in flight, or a block with nothing in
// flight that is or will be closable. (A block with calls in flight waits
// for their release, which starts the give-back again.) mu held.
func (d *Dynamo) surplus() bool {
	if d.slots > d.inflight+d.waiting {
		return true
	}
	for _, b := range d.blocks {
		if b.answered == b.started {
			return true
		}
	}
	return false
}

func (d *Dynamo) idle(ctx context.Context) {
	defer d.idleWG.Done()
	for {
		if d.cfg.Sleep(ctx, d.cfg.IdleGrace) != nil {
			break
		}
		d.mu.Lock()
		if d.waiting > 0 || !d.surplus() {
			d.mu.Unlock()
			break
		}
		if d.syncing {
			d.mu.Unlock()
			continue
		}
		d.syncing = true
		d.mu.Unlock()
		_, err := d.sync(ctx)
		d.mu.Lock()
		d.syncing = false
		d.broadcast()
		d.mu.Unlock()
		if err != nil {
			break
		}
	}
	d.mu.Lock()
	d.idleOn = false
	d.idleStop()
	d.mu.Unlock()
}

// stopIdle ends the idle give-back, if running, and waits for it, so that no
// goroutine of the budget outlives an invocation.
func (d *Dynamo) stopIdle() {
	d.mu.Lock()
	stop := d.idleStop
	d.mu.Unlock()
	if stop != nil {
		stop()
	}
	d.idleWG.Wait()
}

// Close gives back every slot and unused call now (at the end of an
// invocation, so that a frozen Lambda holds nothing). Calls still in flight
// keep their slots; the budget stays usable.
func (d *Dynamo) Close(ctx context.Context) error {
	d.stopIdle()
	d.mu.Lock()
	for d.syncing {
		ch := d.wake
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("marketo budget: close: %w", ctx.Err())
		}
		d.mu.Lock()
	}
	d.syncing = true
	for _, b := range d.blocks {
		b.n = b.started // nothing more will be handed out
	}
	d.mu.Unlock()
	_, err := d.sync(ctx)
	d.mu.Lock()
	d.syncing = false
	d.broadcast()
	d.mu.Unlock()
	return err
}

// need is what the process wants from the item. mu held.
type need struct {
	slots   int  // slots wanted (held ones included)
	calls   int  // calls wanted beyond the spare ones
	renew   bool // the slot lease is too short for a new call
	closing []*localBlock
}

func (d *Dynamo) needs(now time.Time) need {
	var n need
	n.slots = min(d.cfg.Concurrent, d.inflight+d.waiting)
	spare := 0
	for _, b := range d.blocks {
		usable := now.Before(b.granted.Add(d.cfg.UseBy))
		if usable {
			spare += b.n - b.started
		}
		if b.answered == b.started && (b.started == b.n || !usable) {
			n.closing = append(n.closing, b)
		}
	}
	n.calls = max(0, d.waiting-spare)
	n.renew = d.waiting > 0 && d.slots > 0 && d.until < now.Add(d.cfg.MaxCall).UnixMilli()
	return n
}

// sync brings the item in line with what the process needs: it closes
// finished blocks, adjusts the slots, renews the lease and takes a block.
// It returns once something a waiting goroutine needs was obtained (or
// nothing is needed), sleeping while the item has no room. did is false
// when the item could not help at all.
func (d *Dynamo) sync(ctx context.Context) (did bool, err error) {
	for first := true; ; first = false {
		if err := ctx.Err(); err != nil {
			return true, fmt.Errorf("marketo budget: %w", err)
		}
		now := d.cfg.Now()
		d.mu.Lock()
		nd := d.needs(now)
		st, have, fresh := d.cur, d.haveCur, d.fresh
		slots, inflight := d.slots, d.inflight
		d.mu.Unlock()
		shrink := nd.slots < slots && slots > inflight
		if nd.calls == 0 && nd.slots <= slots && !nd.renew && len(nd.closing) == 0 && !shrink {
			return !first, nil
		}
		if nd.renew && nd.calls == 0 && nd.slots <= slots && len(nd.closing) == 0 {
			if ok, err := d.renew(ctx, now); err != nil || ok {
				return true, err
			}
		}
		if !have {
			if err := d.refresh(ctx); err != nil {
				return true, err
			}
			continue
		}
		p := d.plan(st, now, nd, inflight)
		if len(nd.closing) > 0 && p.newBlock == nil && nd.calls > 0 && !p.quota {
			// No grant yet: leave closable blocks open (they count the same
			// as their stamps would) so that the next grant's write closes
			// them, unless one gives calls back or its first stamp nears
			// its end.
			defer0 := nd
			defer0.closing = nil
			for _, b := range nd.closing {
				if b.started < b.n || slices.Min(append([]int64{math.MaxInt64}, b.ends...)) <= now.Add(time.Second).UnixMilli() {
					defer0.closing = append(defer0.closing, b)
				}
			}
			if q := d.plan(st, now, defer0, inflight); len(defer0.closing) == 0 || q.newBlock != nil {
				p = q
			}
		}
		if p.quota && len(nd.closing) == 0 {
			return true, &marketo.QuotaError{ResetAt: marketo.NextDailyReset(now, d.loc), Local: true}
		}
		if p.changed {
			ok, err := d.write(ctx, st, p)
			if err != nil {
				return true, err
			}
			if !ok {
				continue // lost a race; cur is the winner's item
			}
			if p.quota {
				return true, &marketo.QuotaError{ResetAt: marketo.NextDailyReset(now, d.loc), Local: true}
			}
			if p.progress {
				return true, nil
			}
			continue // replan from the item just written
		}
		if !fresh {
			if err := d.refresh(ctx); err != nil {
				return true, err
			}
			continue
		}
		d.mu.Lock()
		if d.slots > p.slots { // our lease lapsed in the item
			d.slots = p.slots
		}
		d.mu.Unlock()
		wait := p.wait
		jitter := p.jitter // spread the racers
		if jitter == 0 {
			jitter = wait / 10
		}
		wait += time.Duration(rand.Int64N(int64(jitter) + 1))
		if err := d.cfg.Sleep(ctx, wait); err != nil {
			return true, fmt.Errorf("marketo budget: %w", err)
		}
		d.mu.Lock()
		d.fresh = false
		d.mu.Unlock()
	}
}

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

// write stores p.next if the item is still at st's version, and applies
// the plan locally. On a lost race the item that won comes back with the
// failure and becomes the current state.
func (d *Dynamo) write(ctx context.Context, st budgetItem, p plan) (bool, error) {
	av, err := attributevalue.MarshalMap(p.next)
	if err != nil {
		return false, fmt.Errorf("marketo budget: encode: %w", err)
	}
	cond := expression.Name("ver").Equal(expression.Value(st.Ver))
	if st.Ver == 0 {
		cond = expression.Name("pk").AttributeNotExists()
	}
	e, err := expression.NewBuilder().WithCondition(cond).Build()
	if err != nil {
		return false, fmt.Errorf("marketo budget: %w", err)
	}
	d.mu.Lock()
	d.stats.Writes++
	d.mu.Unlock()
	_, err = d.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(d.table), Item: av,
		ConditionExpression: e.Condition(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
	case errors.As(err, &ccf):
		d.mu.Lock()
		d.stats.Conflicts++
		d.mu.Unlock()
		if ccf.Item == nil {
			return false, d.refresh(ctx)
		}
		var cur budgetItem
		if err := attributevalue.UnmarshalMap(ccf.Item, &cur); err != nil {
			return false, fmt.Errorf("marketo budget: decode: %w", err)
		}
		d.setState(cur)
		return false, nil
	default:
		return false, fmt.Errorf("marketo budget: write %s: %w", d.pk, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	d.cur, d.haveCur, d.fresh = p.next, true, true
	d.slots, d.until = p.slots, p.until
	if len(p.closed) > 0 {
		d.blocks = slices.DeleteFunc(d.blocks, func(b *localBlock) bool { return slices.Contains(p.closed, b) })
	}
	if p.newBlock != nil {
		d.blocks = append(d.blocks, p.newBlock)
		d.stats.BlocksTook++
	}
	d.broadcast()
	d.startIdle()
	return true, nil
}

// renew extends the slot lease with one atomic UpdateItem, valid only while
// the lease is still alive (otherwise others may have the slots, and a full
// sync is needed). It reports whether it renewed.
func (d *Dynamo) renew(ctx context.Context, now time.Time) (bool, error) {
	nowMS := now.UnixMilli()
	until := now.Add(d.cfg.LeaseTTL).UnixMilli()
	upd := expression.Set(expression.Name("owners."+d.owner+".u"), expression.Value(until)).
		Add(expression.Name("ver"), expression.Value(1))
	cond := expression.Name("owners." + d.owner + ".u").GreaterThan(expression.Value(nowMS))
	e, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
	if err != nil {
		return false, fmt.Errorf("marketo budget: %w", err)
	}
	d.mu.Lock()
	d.stats.Writes++
	d.stats.Renewals++
	d.mu.Unlock()
	out, err := d.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(d.table), Key: d.key(),
		UpdateExpression: e.Update(), ConditionExpression: e.Condition(), ExpressionAttributeNames: e.Names(),
		ExpressionAttributeValues: e.Values(), ReturnValues: types.ReturnValueAllNew})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
	case errors.As(err, &ccf):
		d.mu.Lock()
		d.stats.Conflicts++
		d.fresh = false
		d.mu.Unlock()
		return false, d.refresh(ctx)
	default:
		return false, fmt.Errorf("marketo budget: renew lease %s: %w", d.pk, err)
	}
	var cur budgetItem
	if err := attributevalue.UnmarshalMap(out.Attributes, &cur); err != nil {
		return false, fmt.Errorf("marketo budget: decode: %w", err)
	}
	d.setState(cur)
	d.mu.Lock()
	d.until = until
	d.gen++
	d.broadcast()
	d.mu.Unlock()
	return true, nil
}

func (d *Dynamo) setState(st budgetItem) {
	d.mu.Lock()
	d.cur, d.haveCur, d.fresh = st, true, true
	d.mu.Unlock()
}

func (d *Dynamo) refresh(ctx context.Context) error {
	d.mu.Lock()
	d.stats.Reads++
	d.mu.Unlock()
	out, err := d.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(d.table), Key: d.key(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("marketo budget: read %s: %w", d.pk, err)
	}
	var st budgetItem
	if out.Item != nil {
		if err := attributevalue.UnmarshalMap(out.Item, &st); err != nil {
			return fmt.Errorf("marketo budget: decode: %w", err)
		}
	}
	d.setState(st)
	return nil
}
