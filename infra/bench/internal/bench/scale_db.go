package bench

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/certain-marketo/certain-marketo/lib/limit"
)

// memDynamo is the scale scenario's DynamoDB for the shared budgets: the
// three calls lib/limit makes (GetItem, a conditional PutItem, a
// conditional UpdateItem), each atomic per item as DynamoDB's are, after
// a fixed delay per call standing in for DynamoDB's latency. It evaluates
// exactly the expressions lib/limit builds and refuses any other with an
// error, so a change there fails the scenario instead of being evaluated
// wrongly. moto_server, which the bench's other rows and the tests use,
// answers one call at a time on one core: the scale run's 75 processes
// over 40 budget items make it the bottleneck (with it, the Marketo
// budgets were used at a fifth of their rate), so on moto the scenario
// measured moto (-scale-moto still runs it there).
type memDynamo struct {
	delay time.Duration
	mu    sync.Mutex
	items map[string]map[string]types.AttributeValue
}

var _ limit.DynamoAPI = (*memDynamo)(nil)

func newMemDynamo(delay time.Duration) *memDynamo {
	return &memDynamo{delay: delay, items: map[string]map[string]types.AttributeValue{}}
}

func (m *memDynamo) wait(ctx context.Context) error {
	sleep(ctx, m.delay)
	return ctx.Err()
}

func itemKey(key map[string]types.AttributeValue) (string, error) {
	pk, ok1 := key["pk"].(*types.AttributeValueMemberS)
	sk, ok2 := key["sk"].(*types.AttributeValueMemberS)
	if !ok1 || !ok2 {
		return "", fmt.Errorf("memDynamo: key %v: want string pk and sk", key)
	}
	return pk.Value + "\x00" + sk.Value, nil
}

// GetItem returns a copy of the item (reads are always consistent here).
func (m *memDynamo) GetItem(ctx context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if err := m.wait(ctx); err != nil {
		return nil, err
	}
	k, err := itemKey(in.Key)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return &dynamodb.GetItemOutput{Item: copyItem(m.items[k])}, nil
}

// PutItem writes the item if its condition holds.
func (m *memDynamo) PutItem(ctx context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if err := m.wait(ctx); err != nil {
		return nil, err
	}
	k, err := itemKey(in.Item)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.items[k]
	ok, err := holds(aws.ToString(in.ConditionExpression), old, in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	if err != nil {
		return nil, err
	}
	if !ok {
		f := &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
		if in.ReturnValuesOnConditionCheckFailure == types.ReturnValuesOnConditionCheckFailureAllOld {
			f.Item = copyItem(old)
		}
		return nil, f
	}
	m.items[k] = copyItem(in.Item)
	return &dynamodb.PutItemOutput{}, nil
}

// UpdateItem applies "SET path = :v" and "ADD #n :v" clauses if the
// condition holds, and returns the new item.
func (m *memDynamo) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if err := m.wait(ctx); err != nil {
		return nil, err
	}
	k, err := itemKey(in.Key)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.items[k]
	ok, err := holds(aws.ToString(in.ConditionExpression), old, in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
	}
	next := copyItem(old)
	if next == nil {
		next = copyItem(in.Key)
	}
	if err := update(next, aws.ToString(in.UpdateExpression), in.ExpressionAttributeNames, in.ExpressionAttributeValues); err != nil {
		return nil, err
	}
	m.items[k] = next
	out := &dynamodb.UpdateItemOutput{}
	if in.ReturnValues == types.ReturnValueAllNew {
		out.Attributes = copyItem(next)
	}
	return out, nil
}

// holds evaluates a condition of the forms lib/limit builds:
// "attribute_not_exists (#n)", "#n = :v" and "#a.#b.#c > :v".
func holds(cond string, item map[string]types.AttributeValue, names map[string]string, vals map[string]types.AttributeValue) (bool, error) {
	cond = strings.TrimSpace(cond)
	if cond == "" {
		return true, nil
	}
	if n, ok := strings.CutPrefix(cond, "attribute_not_exists ("); ok {
		n = strings.TrimSuffix(n, ")")
		path, err := resolve(n, names)
		if err != nil {
			return false, err
		}
		_, found := lookup(item, path)
		return !found, nil
	}
	f := strings.Fields(cond)
	if len(f) != 3 || (f[1] != "=" && f[1] != ">") {
		return false, fmt.Errorf("memDynamo: unsupported condition %q", cond)
	}
	path, err := resolve(f[0], names)
	if err != nil {
		return false, err
	}
	want, ok := vals[f[2]]
	if !ok {
		return false, fmt.Errorf("memDynamo: condition %q: no value %s", cond, f[2])
	}
	got, found := lookup(item, path)
	if !found {
		return false, nil
	}
	c, err := compareN(got, want)
	if err != nil {
		return false, fmt.Errorf("memDynamo: condition %q: %w", cond, err)
	}
	if f[1] == "=" {
		return c == 0, nil
	}
	return c > 0, nil
}

// update applies an update expression of SET and ADD clauses, one per line.
func update(item map[string]types.AttributeValue, expr string, names map[string]string, vals map[string]types.AttributeValue) error {
	for line := range strings.SplitSeq(strings.TrimSpace(expr), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 4 && f[0] == "SET" && f[2] == "=":
			path, err := resolve(f[1], names)
			if err != nil {
				return err
			}
			v, ok := vals[f[3]]
			if !ok {
				return fmt.Errorf("memDynamo: %q: no value %s", line, f[3])
			}
			parent := item
			for _, p := range path[:len(path)-1] {
				mv, ok := parent[p].(*types.AttributeValueMemberM)
				if !ok {
					return fmt.Errorf("memDynamo: %q: %s is not a map (DynamoDB refuses the update)", line, p)
				}
				parent = mv.Value
			}
			parent[path[len(path)-1]] = copyAV(v)
		case len(f) == 3 && f[0] == "ADD":
			path, err := resolve(f[1], names)
			if err != nil || len(path) != 1 {
				return fmt.Errorf("memDynamo: %q: ADD to one top-level attribute only (%v)", line, err)
			}
			v, ok := vals[f[2]].(*types.AttributeValueMemberN)
			if !ok {
				return fmt.Errorf("memDynamo: %q: ADD of a number only", line)
			}
			sum, _ := new(big.Float).SetString(v.Value)
			if cur, found := item[path[0]]; found {
				cn, ok := cur.(*types.AttributeValueMemberN)
				if !ok {
					return fmt.Errorf("memDynamo: %q: %s is not a number", line, path[0])
				}
				c, _ := new(big.Float).SetString(cn.Value)
				sum.Add(sum, c)
			}
			item[path[0]] = &types.AttributeValueMemberN{Value: sum.Text('f', -1)}
		default:
			return fmt.Errorf("memDynamo: unsupported update clause %q", line)
		}
	}
	return nil
}

// resolve turns "#0.#1" into attribute names.
func resolve(expr string, names map[string]string) ([]string, error) {
	var path []string
	for p := range strings.SplitSeq(expr, ".") {
		n, ok := names[p]
		if !ok {
			return nil, fmt.Errorf("memDynamo: unsupported path element %q in %q", p, expr)
		}
		path = append(path, n)
	}
	return path, nil
}

func lookup(item map[string]types.AttributeValue, path []string) (types.AttributeValue, bool) {
	var cur types.AttributeValue = &types.AttributeValueMemberM{Value: item}
	for _, p := range path {
		m, ok := cur.(*types.AttributeValueMemberM)
		if !ok || m.Value == nil {
			return nil, false
		}
		if cur, ok = m.Value[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func compareN(a, b types.AttributeValue) (int, error) {
	an, ok1 := a.(*types.AttributeValueMemberN)
	bn, ok2 := b.(*types.AttributeValueMemberN)
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("comparison of %T and %T: numbers only", a, b)
	}
	x, ok1 := new(big.Float).SetString(an.Value)
	y, ok2 := new(big.Float).SetString(bn.Value)
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("numbers %q, %q", an.Value, bn.Value)
	}
	return x.Cmp(y), nil
}

func copyItem(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	if item == nil {
		return nil
	}
	out := make(map[string]types.AttributeValue, len(item))
	for k, v := range item {
		out[k] = copyAV(v)
	}
	return out
}

func copyAV(v types.AttributeValue) types.AttributeValue {
	switch t := v.(type) {
	case *types.AttributeValueMemberM:
		return &types.AttributeValueMemberM{Value: copyItem(t.Value)}
	case *types.AttributeValueMemberL:
		l := make([]types.AttributeValue, len(t.Value))
		for i, e := range t.Value {
			l[i] = copyAV(e)
		}
		return &types.AttributeValueMemberL{Value: l}
	case *types.AttributeValueMemberNS:
		return &types.AttributeValueMemberNS{Value: append([]string(nil), t.Value...)}
	case *types.AttributeValueMemberSS:
		return &types.AttributeValueMemberSS{Value: append([]string(nil), t.Value...)}
	default:
		return v // S, N, B, BOOL, NULL: never changed in place
	}
}

// countingDB counts the budgets' DynamoDB calls and their failures
// (conditional checks lost to another process included).
type countingDB struct {
	limit.DynamoAPI
	calls, failed atomic.Int64
}

func (c *countingDB) count(err error) {
	c.calls.Add(1)
	if err != nil {
		c.failed.Add(1)
	}
}

func (c *countingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := c.DynamoAPI.GetItem(ctx, in, o...)
	c.count(err)
	return out, err
}

func (c *countingDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	out, err := c.DynamoAPI.PutItem(ctx, in, o...)
	c.count(err)
	return out, err
}

func (c *countingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := c.DynamoAPI.UpdateItem(ctx, in, o...)
	c.count(err)
	return out, err
}
