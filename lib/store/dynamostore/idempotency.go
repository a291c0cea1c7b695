package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/certain-marketo/certain-marketo/lib/store"
)

// Idempotency record statuses (docs/architecture.md §8).
const (
	idemInProgress = "INPROGRESS"
	idemCompleted  = "COMPLETED"
)

type idemItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Status    string `dynamodbav:"status"`
	Result    []byte `dynamodbav:"result,omitempty"`
	ExpiresAt int64  `dynamodbav:"expiresAt"`
	LockUntil int64  `dynamodbav:"lockUntil,omitempty"`
}

func (s *Store) BeginIdem(ctx context.Context, k string, lockUntil time.Time, retention time.Duration, now time.Time) (store.IdemResult, error) {
	av, err := attributevalue.MarshalMap(idemItem{PK: "idem#" + k, SK: "idem", Status: idemInProgress, ExpiresAt: now.Add(retention).Unix(), LockUntil: ms(lockUntil)})
	if err != nil {
		return store.IdemResult{}, fmt.Errorf("dynamostore: encode idempotency record: %w", err)
	}
	cond := expression.Name(AttrPK).AttributeNotExists().
		Or(expression.Name(AttrExpiresAt).LessThan(expression.Value(now.Unix()))).
		Or(expression.Name("status").Equal(expression.Value(idemInProgress)).And(expression.Name("lockUntil").LessThan(expression.Value(ms(now)))))
	e, err := build(expression.NewBuilder().WithCondition(cond))
	if err != nil {
		return store.IdemResult{}, err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.stateTable), Item: av,
		ConditionExpression: e.Condition(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
	if err == nil {
		return store.IdemResult{Status: store.IdemProceed}, nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return store.IdemResult{}, fmt.Errorf("dynamostore: begin idempotency key: %w", err)
	}
	var old idemItem
	if err := attributevalue.UnmarshalMap(ccf.Item, &old); err != nil {
		return store.IdemResult{}, fmt.Errorf("dynamostore: decode idempotency record: %w", err)
	}
	if old.Status == idemCompleted {
		return store.IdemResult{Status: store.IdemDuplicate, Result: old.Result}, nil
	}
	return store.IdemResult{Status: store.IdemInProgress}, nil
}

// PeekIdem reads the record (strongly consistent) and answers as BeginIdem
// would, without writing.
func (s *Store) PeekIdem(ctx context.Context, k string, now time.Time) (store.IdemResult, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.stateTable), Key: key("idem#"+k, "idem"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return store.IdemResult{}, fmt.Errorf("dynamostore: read idempotency key: %w", err)
	}
	if len(out.Item) == 0 {
		return store.IdemResult{Status: store.IdemProceed}, nil
	}
	var old idemItem
	if err := attributevalue.UnmarshalMap(out.Item, &old); err != nil {
		return store.IdemResult{}, fmt.Errorf("dynamostore: decode idempotency record: %w", err)
	}
	switch {
	case old.ExpiresAt < now.Unix():
		return store.IdemResult{Status: store.IdemProceed}, nil
	case old.Status == idemCompleted:
		return store.IdemResult{Status: store.IdemDuplicate, Result: old.Result}, nil
	case old.LockUntil >= ms(now):
		return store.IdemResult{Status: store.IdemInProgress}, nil
	}
	return store.IdemResult{Status: store.IdemProceed}, nil
}

func (s *Store) CompleteIdem(ctx context.Context, k string, result []byte, retention time.Duration, now time.Time) error {
	upd := expression.Set(expression.Name("status"), expression.Value(idemCompleted)).
		Set(expression.Name(AttrExpiresAt), expression.Value(now.Add(retention).Unix())).
		Remove(expression.Name("lockUntil"))
	if len(result) > 0 {
		upd = upd.Set(expression.Name("result"), expression.Value(result))
	} else {
		upd = upd.Remove(expression.Name("result"))
	}
	e, err := build(expression.NewBuilder().WithCondition(expression.Name(AttrPK).AttributeExists()).WithUpdate(upd))
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.stateTable), Key: key("idem#"+k, "idem"),
		ConditionExpression: e.Condition(), UpdateExpression: e.Update(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values()})
	if isCondFailed(err) {
		return fmt.Errorf("complete idempotency key: no record: %w", store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("dynamostore: complete idempotency key: %w", err)
	}
	return nil
}

// AbortIdem deletes the record only while it is in progress: a late abort,
// after the lock expired and another invocation completed the work, must
// not erase that completion.
func (s *Store) AbortIdem(ctx context.Context, k string) error {
	cond, err := expression.NewBuilder().WithCondition(expression.Name("status").Equal(expression.Value(idemInProgress))).Build()
	if err != nil {
		return fmt.Errorf("dynamostore: abort idempotency key: %w", err)
	}
	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.stateTable), Key: key("idem#"+k, "idem"),
		ConditionExpression: cond.Condition(), ExpressionAttributeNames: cond.Names(), ExpressionAttributeValues: cond.Values()})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) { // absent or completed: nothing to abort
		return fmt.Errorf("dynamostore: abort idempotency key: %w", err)
	}
	return nil
}
