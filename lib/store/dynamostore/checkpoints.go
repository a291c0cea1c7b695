package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/certain-marketo/certain-marketo/lib/store"
)

// cpItem is a job's checkpoint (store.Checkpoints) with its optimistic version.
type cpItem struct {
	PK      string `dynamodbav:"pk"`
	SK      string `dynamodbav:"sk"`
	Version int64  `dynamodbav:"version"`
	RunID   string `dynamodbav:"runId"`
	Data    []byte `dynamodbav:"data"`
	Updated int64  `dynamodbav:"updated"`
}

func versionCond(expect int64) expression.ConditionBuilder {
	if expect == 0 {
		return expression.Name(AttrPK).AttributeNotExists()
	}
	return expression.Name("version").Equal(expression.Value(expect))
}

func (s *Store) GetCheckpoint(ctx context.Context, jobID string) (store.Checkpoint, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.stateTable), Key: key("job#"+jobID, "checkpoint"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return store.Checkpoint{}, fmt.Errorf("dynamostore: get checkpoint of job %q: %w", jobID, err)
	}
	if out.Item == nil {
		return store.Checkpoint{}, fmt.Errorf("checkpoint of job %q: %w", jobID, store.ErrNotFound)
	}
	var it cpItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return store.Checkpoint{}, fmt.Errorf("dynamostore: decode checkpoint of job %q: %w", jobID, err)
	}
	return store.Checkpoint{Version: it.Version, RunID: it.RunID, Data: it.Data, Updated: fromMS(it.Updated)}, nil
}

// PutCheckpoint is a conditional PutItem on the version (docs/architecture.md §7).
func (s *Store) PutCheckpoint(ctx context.Context, jobID string, cp store.Checkpoint, expectVersion int64) (int64, error) {
	it := cpItem{PK: "job#" + jobID, SK: "checkpoint", Version: expectVersion + 1, RunID: cp.RunID, Data: cp.Data, Updated: ms(s.now())}
	av, err := attributevalue.MarshalMap(it)
	if err != nil {
		return 0, fmt.Errorf("dynamostore: encode checkpoint: %w", err)
	}
	e, err := build(expression.NewBuilder().WithCondition(versionCond(expectVersion)))
	if err != nil {
		return 0, err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.stateTable), Item: av,
		ConditionExpression: e.Condition(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values()})
	if isCondFailed(err) {
		return 0, fmt.Errorf("checkpoint of job %q: not at version %d: %w", jobID, expectVersion, store.ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("dynamostore: put checkpoint of job %q: %w", jobID, err)
	}
	return it.Version, nil
}

func (s *Store) DeleteCheckpoint(ctx context.Context, jobID string, expectVersion int64) error {
	e, err := build(expression.NewBuilder().WithCondition(versionCond(expectVersion)))
	if err != nil {
		return err
	}
	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.stateTable), Key: key("job#"+jobID, "checkpoint"),
		ConditionExpression: e.Condition(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values()})
	if isCondFailed(err) {
		return fmt.Errorf("delete checkpoint of job %q: not at version %d: %w", jobID, expectVersion, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("dynamostore: delete checkpoint of job %q: %w", jobID, err)
	}
	return nil
}
