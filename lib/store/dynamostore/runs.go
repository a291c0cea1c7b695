package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/certain-marketo/certain-marketo/lib/store"
)

// runItem is a run record (store.Runs), written twice: under the run and
// under its job's run list.
type runItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	JobID     string `dynamodbav:"jobId"`
	Doc       string `dynamodbav:"doc"`
	ExpiresAt int64  `dynamodbav:"expiresAt"`
}

// runSortKey orders runs by start time: fixed-width UTC, then the id.
func runSortKey(r store.Run) string {
	return r.Started.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + r.ID
}

// PutRun writes the run and its copy under the job's run list in one
// transaction. Started must not change once the run is written.
func (s *Store) PutRun(ctx context.Context, r store.Run) error {
	if r.ID == "" {
		return errors.New("put run: empty id")
	}
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("dynamostore: encode run %q: %w", r.ID, err)
	}
	exp := r.Started.Add(s.runRetention).Unix()
	if r.Started.IsZero() {
		exp = s.now().Add(s.runRetention).Unix()
	}
	var puts []types.TransactWriteItem
	for _, it := range []runItem{
		{PK: "run#" + r.ID, SK: "run", JobID: r.JobID, Doc: string(doc), ExpiresAt: exp},
		{PK: "jobruns#" + r.JobID, SK: runSortKey(r), JobID: r.JobID, Doc: string(doc), ExpiresAt: exp},
	} {
		av, err := attributevalue.MarshalMap(it)
		if err != nil {
			return fmt.Errorf("dynamostore: encode run %q: %w", r.ID, err)
		}
		puts = append(puts, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.stateTable), Item: av}})
	}
	if _, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: puts}); err != nil {
		return fmt.Errorf("dynamostore: put run %q: %w", r.ID, err)
	}
	return nil
}

func decodeRun(item map[string]types.AttributeValue) (store.Run, error) {
	var it runItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return store.Run{}, fmt.Errorf("dynamostore: decode run: %w", err)
	}
	var r store.Run
	if err := json.Unmarshal([]byte(it.Doc), &r); err != nil {
		return store.Run{}, fmt.Errorf("dynamostore: decode run: %w", err)
	}
	return r, nil
}

func (s *Store) GetRun(ctx context.Context, runID string) (store.Run, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.stateTable), Key: key("run#"+runID, "run"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return store.Run{}, fmt.Errorf("dynamostore: get run %q: %w", runID, err)
	}
	if out.Item == nil {
		return store.Run{}, fmt.Errorf("run %q: %w", runID, store.ErrNotFound)
	}
	return decodeRun(out.Item)
}

func (s *Store) ListRuns(ctx context.Context, jobID string, limit int) ([]store.Run, error) {
	e, err := build(expression.NewBuilder().WithKeyCondition(expression.Key(AttrPK).Equal(expression.Value("jobruns#" + jobID))))
	if err != nil {
		return nil, err
	}
	in := &dynamodb.QueryInput{TableName: aws.String(s.stateTable), KeyConditionExpression: e.KeyCondition(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(), ScanIndexForward: aws.Bool(false), ConsistentRead: aws.Bool(true)}
	if limit > 0 {
		in.Limit = aws.Int32(int32(min(limit, 1000)))
	}
	var out []store.Run
	errStop := errors.New("stop")
	err = s.query(ctx, in, func(item map[string]types.AttributeValue) error {
		r, err := decodeRun(item)
		if err != nil {
			return err
		}
		out = append(out, r)
		if limit > 0 && len(out) >= limit {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	return out, nil
}
