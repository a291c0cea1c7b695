package limit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
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

func (d *Shared) key() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: d.pk}, "sk": &types.AttributeValueMemberS{Value: "budget"}}
}

// sync brings the item in line with what the process needs: it closes
// finished blocks, adjusts the slots, renews the lease and takes a block.
// It returns once something a waiting goroutine needs was obtained (or
// nothing is needed), sleeping while the item has no room. did is false
// when the item could not help at all.
func (d *Shared) sync(ctx context.Context) (did bool, err error) {
	for first := true; ; first = false {
		if err := ctx.Err(); err != nil {
			return true, fmt.Errorf("%s: %w", d.cfg.label(), err)
		}
		step, err := d.syncOnce(ctx)
		switch {
		case err != nil:
			return true, err
		case step == stepNothing:
			return !first, nil
		case step == stepDone:
			return true, nil
		}
	}
}

// syncStep is the outcome of one look at the item.
type syncStep int

const (
	stepAgain   syncStep = iota // look at the item again
	stepDone                    // a waiting goroutine gained a slot or calls (or sync failed)
	stepNothing                 // the process needs nothing from the item
)

// snapshot is the process's state one look at the item starts from.
type snapshot struct {
	now      time.Time
	nd       need
	st       budgetItem // the item as last read or written
	have     bool       // st was read or written at all
	fresh    bool       // st was read or written since the last sleep
	slots    int        // slots held
	inflight int
	blockID  string // the id of the next block this process takes
}

func (d *Shared) snapshot(now time.Time) snapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	return snapshot{now: now, nd: d.needs(now), st: d.cur, have: d.haveCur, fresh: d.fresh,
		slots: d.slots, inflight: d.inflight, blockID: d.owner + "-" + strconv.FormatInt(d.seq+1, 10)}
}

// satisfied: no calls, slots, renewal or closing are needed, and no
// unused slot is to be given back.
func (s snapshot) satisfied() bool {
	shrink := s.nd.slots < s.slots && s.slots > s.inflight
	return s.nd.calls == 0 && s.nd.slots <= s.slots && !s.nd.renew && len(s.nd.closing) == 0 && !shrink
}

// renewOnly: only the lease needs renewing, which the atomic renewal does
// without reading the item while the lease is alive.
func (s snapshot) renewOnly() bool {
	return s.nd.renew && s.nd.calls == 0 && s.nd.slots <= s.slots && len(s.nd.closing) == 0
}

// syncOnce looks at the item once: it renews the lease, reads the item,
// writes the plan or sleeps as the plan says.
func (d *Shared) syncOnce(ctx context.Context) (syncStep, error) {
	s := d.snapshot(d.cfg.Now())
	if s.satisfied() {
		return stepNothing, nil
	}
	if s.renewOnly() {
		if ok, err := d.renew(ctx, s.now); err != nil || ok {
			return stepDone, err
		}
	}
	if !s.have {
		return stepAgain, d.refresh(ctx)
	}
	p := d.planner().decide(s.st, s.now, s.nd, s.inflight, s.blockID)
	if p.newBlock != nil {
		d.mu.Lock()
		d.seq++ // s.blockID is taken
		d.mu.Unlock()
	}
	switch {
	case p.quota && len(s.nd.closing) == 0:
		return stepDone, d.quotaError(s.now)
	case p.changed:
		return d.apply(ctx, s.st, p, s.now)
	case !s.fresh:
		return stepAgain, d.refresh(ctx)
	}
	return stepAgain, d.sleep(ctx, p)
}

// apply writes the plan p, made from st, and says whether a waiting
// goroutine gained from it.
func (d *Shared) apply(ctx context.Context, st budgetItem, p plan, now time.Time) (syncStep, error) {
	ok, err := d.write(ctx, st, p)
	d.sawWrite(d.cfg.Now().Sub(now))
	switch {
	case err != nil:
		return stepDone, err
	case !ok:
		return stepAgain, nil // lost a race; cur is the winner's item
	case p.quota:
		return stepDone, d.quotaError(now)
	case p.progress:
		return stepDone, nil
	}
	return stepAgain, nil // replan from the item just written
}

// sleep waits as the plan p says, plus a random part of its jitter that
// spreads the racers, after dropping the slots held here that the
// item no longer grants (the lease lapsed there).
func (d *Shared) sleep(ctx context.Context, p plan) error {
	d.mu.Lock()
	if d.slots > p.slots { // our lease lapsed in the item
		d.slots = p.slots
	}
	d.mu.Unlock()
	jitter := p.jitter
	if jitter == 0 {
		jitter = p.wait / 10
	}
	if err := d.cfg.Sleep(ctx, p.wait+time.Duration(rand.Int64N(int64(jitter)+1))); err != nil {
		return fmt.Errorf("%s: %w", d.cfg.label(), err)
	}
	d.mu.Lock()
	d.fresh = false
	d.mu.Unlock()
	return nil
}

// quotaError says that the day's calls are used up until the quota zone's
// midnight.
func (d *Shared) quotaError(now time.Time) error {
	return &marketo.QuotaError{ResetAt: marketo.NextDailyReset(now, d.loc), Local: true}
}

// write stores p.next if the item is still at st's version, and applies
// the plan to the process's state. On a lost race the item that won comes
// back with the failure and becomes the current state.
func (d *Shared) write(ctx context.Context, st budgetItem, p plan) (bool, error) {
	av, err := attributevalue.MarshalMap(p.next)
	if err != nil {
		return false, fmt.Errorf("%s: encode: %w", d.cfg.label(), err)
	}
	cond := expression.Name("ver").Equal(expression.Value(st.Ver))
	if st.Ver == 0 {
		cond = expression.Name("pk").AttributeNotExists()
	}
	e, err := expression.NewBuilder().WithCondition(cond).Build()
	if err != nil {
		return false, fmt.Errorf("%s: %w", d.cfg.label(), err)
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
			return false, fmt.Errorf("%s: decode: %w", d.cfg.label(), err)
		}
		d.setState(cur)
		return false, nil
	default:
		return false, fmt.Errorf("%s: write %s: %w", d.cfg.label(), d.pk, err)
	}
	d.adopt(p)
	return true, nil
}

// adopt applies the written plan p to the process's state: the item, the
// slots and their lease, and the blocks closed and granted.
func (d *Shared) adopt(p plan) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	d.cur, d.haveCur, d.fresh = p.next, true, true
	d.slots, d.until = p.slots, p.until
	if len(p.closed) > 0 {
		d.blocks = slices.DeleteFunc(d.blocks, func(b *heldBlock) bool { return slices.Contains(p.closed, b) })
	}
	if p.newBlock != nil {
		d.blocks = append(d.blocks, p.newBlock)
		d.stats.BlocksTook++
	}
	d.broadcast()
	d.startIdle()
}

// renew extends the slot lease with one atomic UpdateItem, valid only while
// the lease is still alive (otherwise others may have the slots, and a full
// sync is needed). It reports whether it renewed.
func (d *Shared) renew(ctx context.Context, now time.Time) (bool, error) {
	nowMS := now.UnixMilli()
	until := now.Add(d.cfg.LeaseTTL).UnixMilli()
	upd := expression.Set(expression.Name("owners."+d.owner+".u"), expression.Value(until)).
		Add(expression.Name("ver"), expression.Value(1))
	cond := expression.Name("owners." + d.owner + ".u").GreaterThan(expression.Value(nowMS))
	e, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
	if err != nil {
		return false, fmt.Errorf("%s: %w", d.cfg.label(), err)
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
		return false, fmt.Errorf("%s: renew lease %s: %w", d.cfg.label(), d.pk, err)
	}
	var cur budgetItem
	if err := attributevalue.UnmarshalMap(out.Attributes, &cur); err != nil {
		return false, fmt.Errorf("%s: decode: %w", d.cfg.label(), err)
	}
	d.setState(cur)
	d.mu.Lock()
	d.until = until
	d.gen++
	d.broadcast()
	d.mu.Unlock()
	return true, nil
}

func (d *Shared) setState(st budgetItem) {
	d.mu.Lock()
	d.cur, d.haveCur, d.fresh = st, true, true
	d.mu.Unlock()
}

func (d *Shared) refresh(ctx context.Context) error {
	d.mu.Lock()
	d.stats.Reads++
	d.mu.Unlock()
	out, err := d.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(d.table), Key: d.key(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("%s: read %s: %w", d.cfg.label(), d.pk, err)
	}
	var st budgetItem
	if out.Item != nil {
		if err := attributevalue.UnmarshalMap(out.Item, &st); err != nil {
			return fmt.Errorf("%s: decode: %w", d.cfg.label(), err)
		}
	}
	d.setState(st)
	return nil
}
