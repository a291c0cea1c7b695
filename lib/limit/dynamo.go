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

func (d *Dynamo) key() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: d.pk}, "sk": &types.AttributeValueMemberS{Value: "budget"}}
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
		blockID := d.owner + "-" + strconv.FormatInt(d.seq+1, 10)
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
		p := d.planner().decide(st, now, nd, inflight, blockID)
		if p.newBlock != nil {
			d.mu.Lock()
			d.seq++
			d.mu.Unlock()
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
