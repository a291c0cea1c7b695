// Package limit holds the Marketo budget shared by every Lambda of one
// Marketo instance. Marketo enforces 100 calls per sliding 20 s, 10 calls
// in flight and a daily quota per instance, for all integrations together;
// Lambdas scale out, so an in-process limiter cannot keep them under it.
// Dynamo keeps the budget in one DynamoDB item per instance and every call
// takes from it with a conditional write.
//
// The item (state table, pk "budget#<instance>", sk "budget") holds:
//
//   - stamps: the grant time (ms) of every call still inside the window.
//     A call leaves the window Window+Margin after its grant. Marketo counts
//     a call when it arrives, a little after the grant; Margin covers that
//     delay, so no 20 s window at Marketo can hold more than CallsPer20s
//     calls. This is an exact sliding window, like Marketo's, not a fixed
//     bucket (two fixed buckets can double the rate across their border).
//   - leases: one entry per call in flight, leaseId -> expiry (ms). Release
//     removes it; a Lambda that dies holding one loses it at expiry
//     (LeaseTTL, longer than Marketo's longest server timeout).
//   - day / dayCount: calls granted on the current America/Chicago day;
//     the count restarts at 00:00 there, when Marketo's quota resets.
//   - ver: optimistic version; every write is conditional on it.
//
// Every change (grant or release) is a write conditional on ver, so no
// writer can overwrite another's change.
//
// Round trips: an uncontended Acquire is one conditional write built from
// the last state seen (a lost race costs one consistent read); Release is
// one conditional UpdateItem. Inside a process, acquires are serialised so
// at most one request per process races for the item, and the writer takes
// grants for the goroutines queued behind it in the same write (a block of
// calls): the extra grants are handed out locally and must be used within
// Margin/2, or their lease is given back and their window slot stays spent,
// so the limits hold for every call.
package limit

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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
	// Margin is how long after Window a call still counts, covering the
	// delay between the grant and Marketo receiving the call (default 1 s).
	Margin time.Duration
	// LeaseTTL is how long an unreleased concurrency lease lives (default
	// 150 s: Marketo's longest server timeout is 120 s).
	LeaseTTL time.Duration
	Now      func() time.Time
	Sleep    func(ctx context.Context, d time.Duration) error
}

// Dynamo is the shared budget; it implements marketo.Budget.
type Dynamo struct {
	db    DynamoAPI
	table string
	pk    string
	cfg   Config
	loc   *time.Location
	owner string
	seq   atomic.Int64
	slots chan struct{} // local cap: never more in flight than the budget

	acquireMu sync.Mutex   // one racer per process
	waiting   atomic.Int64 // goroutines queued for acquireMu
	mu        sync.Mutex
	cur       budgetItem   // last state seen
	fresh     bool         // cur was read (or written) since the last sleep
	spare     []spareGrant // grants won in a block write, not yet handed out
}

var _ marketo.Budget = (*Dynamo)(nil)

type budgetItem struct {
	PK        string           `dynamodbav:"pk"`
	SK        string           `dynamodbav:"sk"`
	Ver       int64            `dynamodbav:"ver"`
	Stamps    []int64          `dynamodbav:"stamps"`
	Leases    map[string]int64 `dynamodbav:"leases"`
	Day       string           `dynamodbav:"day"`
	DayCount  int              `dynamodbav:"dayCount"`
	ExpiresAt int64            `dynamodbav:"expiresAt"`
}

// NewDynamo returns the budget of the Marketo instance instanceKey (munchkin
// id or REST host) kept in table (the state table).
func NewDynamo(api DynamoAPI, table, instanceKey string, cfg Config) (*Dynamo, error) {
	if api == nil || table == "" || instanceKey == "" {
		return nil, errors.New("limit: DynamoDB client, table and instance key are required")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.CallsPer20s, 50)
	def(&cfg.Concurrent, 5)
	if cfg.Window == 0 {
		cfg.Window = 20 * time.Second
	}
	if cfg.Margin == 0 {
		cfg.Margin = time.Second
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 150 * time.Second
	}
	switch {
	case cfg.CallsPer20s < 0 || cfg.CallsPer20s > 100:
		return nil, fmt.Errorf("limit: CallsPer20s %d out of range 1..100", cfg.CallsPer20s)
	case cfg.Concurrent < 0 || cfg.Concurrent > 10:
		return nil, fmt.Errorf("limit: Concurrent %d out of range 1..10", cfg.Concurrent)
	case cfg.Daily < 0:
		return nil, fmt.Errorf("limit: negative Daily %d", cfg.Daily)
	case cfg.Window < 0 || cfg.Margin < 0 || cfg.LeaseTTL < 0:
		return nil, errors.New("limit: negative Window, Margin or LeaseTTL")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = marketo.SleepContext
	}
	var b [6]byte
	_, _ = cryptorand(b[:])
	return &Dynamo{db: api, table: table, pk: "budget#" + instanceKey, cfg: cfg, loc: marketo.ChicagoLocation(),
		owner: hex.EncodeToString(b[:]), slots: make(chan struct{}, cfg.Concurrent)}, nil
}

func cryptorand(b []byte) (int, error) { return crand.Read(b) }

func (d *Dynamo) key() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: d.pk}, "sk": &types.AttributeValueMemberS{Value: "budget"}}
}

// Acquire waits for a concurrency lease and room in the window, counts the
// call and returns its release. It returns *marketo.QuotaError when the
// daily budget is used up, and ctx's error when ctx ends while waiting.
func (d *Dynamo) Acquire(ctx context.Context) (func(), error) {
	select {
	case d.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("marketo budget: waiting for a concurrency slot: %w", ctx.Err())
	}
	leaseID, err := d.take(ctx)
	if err != nil {
		<-d.slots
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { d.release(leaseID); <-d.slots }) }, nil
}

// take returns a lease id for one call. A goroutine first looks for a
// spare grant won by a neighbour's write; otherwise it writes grants for
// itself and for the goroutines of this process queued behind it (a block),
// so one round trip serves several calls while the window and concurrency
// limits still hold for every one of them.
func (d *Dynamo) take(ctx context.Context) (string, error) {
	d.waiting.Add(1)
	d.acquireMu.Lock()
	d.waiting.Add(-1)
	defer d.acquireMu.Unlock()
	if id, ok := d.takeSpare(); ok {
		return id, nil
	}
	poll := 25 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("marketo budget: %w", err)
		}
		d.mu.Lock()
		st, fresh := d.cur, d.fresh
		d.mu.Unlock()
		now := d.cfg.Now()
		nowMS := now.UnixMilli()
		next := prune(st, nowMS, (d.cfg.Window + d.cfg.Margin).Milliseconds())
		today := now.In(d.loc).Format(time.DateOnly)
		if next.Day != today {
			next.Day, next.DayCount = today, 0
		}
		if d.cfg.Daily > 0 && next.DayCount >= d.cfg.Daily {
			if !fresh {
				if err := d.refresh(ctx); err != nil {
					return "", err
				}
				continue
			}
			return "", &marketo.QuotaError{ResetAt: marketo.NextDailyReset(now, d.loc), Local: true}
		}
		var wait time.Duration
		if len(next.Leases) >= d.cfg.Concurrent {
			earliest := slices.Min(mapValues(next.Leases))
			wait = min(time.Duration(earliest-nowMS)*time.Millisecond, poll)
			poll = min(poll*2, 500*time.Millisecond)
		}
		if len(next.Stamps) >= d.cfg.CallsPer20s {
			// The oldest stamps leave first; wait for enough of them.
			over := len(next.Stamps) - d.cfg.CallsPer20s
			leave := next.Stamps[over] + (d.cfg.Window + d.cfg.Margin).Milliseconds()
			wait = max(wait, time.Duration(leave-nowMS)*time.Millisecond)
		}
		if wait > 0 {
			if !fresh {
				if err := d.refresh(ctx); err != nil {
					return "", err
				}
				continue
			}
			wait += time.Duration(rand.Int64N(int64(min(wait/10, 20*time.Millisecond)) + 1)) // spread the racers
			if err := d.cfg.Sleep(ctx, wait); err != nil {
				return "", fmt.Errorf("marketo budget: %w", err)
			}
			d.mu.Lock()
			d.fresh = false
			d.mu.Unlock()
			continue
		}
		k := 1 + int(d.waiting.Load())
		k = min(k, d.cfg.CallsPer20s-len(next.Stamps), d.cfg.Concurrent-len(next.Leases))
		if d.cfg.Daily > 0 {
			k = min(k, d.cfg.Daily-next.DayCount)
		}
		ids := make([]string, k)
		exp := now.Add(d.cfg.LeaseTTL).UnixMilli()
		for i := range ids {
			ids[i] = d.owner + "-" + strconv.FormatInt(d.seq.Add(1), 10)
			next.Stamps = append(next.Stamps, nowMS)
			next.Leases[ids[i]] = exp
		}
		next.DayCount += k
		next.Ver = st.Ver + 1
		next.PK, next.SK = d.pk, "budget"
		next.ExpiresAt = now.Add(48 * time.Hour).Unix()
		ok, err := d.write(ctx, st, next, ids)
		if err != nil {
			return "", err
		}
		if ok {
			d.mu.Lock()
			useBy := now.Add(d.cfg.Margin / 2)
			for _, id := range ids[1:] {
				d.spare = append(d.spare, spareGrant{id: id, useBy: useBy})
			}
			d.mu.Unlock()
			return ids[0], nil
		}
	}
}

type spareGrant struct {
	id    string
	useBy time.Time
}

// takeSpare hands out a grant won by a neighbour's block write. A spare not
// used within Margin/2 of its grant is given back: its window stamp stays
// (it may not be used late, or Marketo could count it after the stamp left
// the window), its lease is released.
func (d *Dynamo) takeSpare() (string, bool) {
	now := d.cfg.Now()
	d.mu.Lock()
	var stale []string
	id, ok := "", false
	for len(d.spare) > 0 {
		g := d.spare[0]
		d.spare = d.spare[1:]
		if g.useBy.After(now) {
			id, ok = g.id, true
			break
		}
		stale = append(stale, g.id)
	}
	d.mu.Unlock()
	for _, s := range stale {
		d.release(s)
	}
	return id, ok
}

// prune drops stamps that left the window and expired leases.
func prune(st budgetItem, nowMS, lifeMS int64) budgetItem {
	out := st
	out.Stamps = nil
	for _, s := range st.Stamps {
		if s+lifeMS > nowMS {
			out.Stamps = append(out.Stamps, s)
		}
	}
	slices.Sort(out.Stamps)
	out.Leases = map[string]int64{}
	for id, exp := range st.Leases {
		if exp > nowMS {
			out.Leases[id] = exp
		}
	}
	return out
}

func mapValues(m map[string]int64) []int64 {
	out := make([]int64, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// write stores next if the stored version is still prev's. The first write
// creates the item; later ones are an UpdateItem that touches only the
// window, the counters, the new leases and the expired ones, so releases
// (which remove one lease and leave the version alone) never conflict with
// it. On a lost race the current item comes back with the failure
// and becomes the new state.
func (d *Dynamo) write(ctx context.Context, prev, next budgetItem, newIDs []string) (bool, error) {
	var err error
	if prev.Ver == 0 {
		var av map[string]types.AttributeValue
		if av, err = attributevalue.MarshalMap(next); err != nil {
			return false, fmt.Errorf("marketo budget: encode: %w", err)
		}
		e, berr := expression.NewBuilder().WithCondition(expression.Name("pk").AttributeNotExists()).Build()
		if berr != nil {
			return false, fmt.Errorf("marketo budget: %w", berr)
		}
		_, err = d.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(d.table), Item: av,
			ConditionExpression: e.Condition(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
		})
	} else {
		upd := expression.Set(expression.Name("stamps"), expression.Value(next.Stamps)).
			Set(expression.Name("ver"), expression.Value(next.Ver)).
			Set(expression.Name("day"), expression.Value(next.Day)).
			Set(expression.Name("dayCount"), expression.Value(next.DayCount)).
			Set(expression.Name("expiresAt"), expression.Value(next.ExpiresAt))
		for _, id := range newIDs {
			upd = upd.Set(expression.Name("leases."+id), expression.Value(next.Leases[id]))
		}
		for id := range prev.Leases {
			if _, kept := next.Leases[id]; !kept {
				upd = upd.Remove(expression.Name("leases." + id))
			}
		}
		e, berr := expression.NewBuilder().WithUpdate(upd).WithCondition(expression.Name("ver").Equal(expression.Value(prev.Ver))).Build()
		if berr != nil {
			return false, fmt.Errorf("marketo budget: %w", berr)
		}
		_, err = d.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(d.table), Key: d.key(),
			UpdateExpression: e.Update(), ConditionExpression: e.Condition(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values()})
	}
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		d.setState(next)
		return true, nil
	case errors.As(err, &ccf):
		// Lost the race: read the current item. (The ALL_OLD item returned
		// with the failure would save this read, but under concurrent
		// writes moto 5.2.1 returned items that let the next write exceed
		// the concurrency cap, so the budget does not rely on it.)
		return false, d.refresh(ctx)
	default:
		return false, fmt.Errorf("marketo budget: write %s: %w", d.pk, err)
	}
}

func (d *Dynamo) setState(st budgetItem) {
	d.mu.Lock()
	d.cur, d.fresh = st, true
	d.mu.Unlock()
}

func (d *Dynamo) refresh(ctx context.Context) error {
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

// release removes the lease with a write conditional on the version, like
// every other change to the item, so no two writers can overwrite each
// other's changes (a read-modify-write server such as moto, or a future
// change to this code, could otherwise lose one). It runs even when the
// call's context is cancelled; if it fails, the lease expires by itself.
func (d *Dynamo) release(leaseID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 20 {
		d.mu.Lock()
		st := d.cur
		d.mu.Unlock()
		if st.Ver == 0 {
			if d.refresh(ctx) != nil {
				return
			}
			continue
		}
		if _, held := st.Leases[leaseID]; !held {
			// Our view may be stale; confirm before giving up.
			if err := d.refresh(ctx); err != nil {
				return
			}
			d.mu.Lock()
			_, held = d.cur.Leases[leaseID]
			d.mu.Unlock()
			if !held {
				return
			}
			continue
		}
		upd := expression.Remove(expression.Name("leases."+leaseID)).Set(expression.Name("ver"), expression.Value(st.Ver+1))
		e, err := expression.NewBuilder().WithUpdate(upd).WithCondition(expression.Name("ver").Equal(expression.Value(st.Ver))).Build()
		if err != nil {
			return
		}
		_, err = d.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(d.table), Key: d.key(),
			UpdateExpression: e.Update(), ConditionExpression: e.Condition(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values()})
		var ccf *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			next := st
			next.Ver++
			next.Leases = make(map[string]int64, len(st.Leases))
			for k, v := range st.Leases {
				if k != leaseID {
					next.Leases[k] = v
				}
			}
			d.setState(next)
			return
		case errors.As(err, &ccf):
			if d.refresh(ctx) != nil {
				return
			}
		default:
			return
		}
	}
}
