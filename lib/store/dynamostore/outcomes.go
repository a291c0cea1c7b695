package dynamostore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/certain-marketo/certain-marketo/lib/store"
)

// outcomesPerItem is how many per-record outcomes (store.Runs) one item holds.
const outcomesPerItem = 100

type outItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Outs      string `dynamodbav:"outs"` // JSON list
	ExpiresAt int64  `dynamodbav:"expiresAt"`
}

// AddOutcomes reserves slots with an atomic ADD on the run's counter, keeps
// what fits under MaxOutcomesPerRun and writes it in items of up to 100
// outcomes. Concurrent callers get disjoint slots. If the write fails after
// the reservation, those slots stay used (outcomes are a report, never the
// source of truth).
func (s *Store) AddOutcomes(ctx context.Context, runID string, outs []store.RecordOutcome) (int, error) {
	if len(outs) == 0 {
		return 0, nil
	}
	e, err := build(expression.NewBuilder().WithUpdate(expression.Add(expression.Name("n"), expression.Value(len(outs))).
		Set(expression.Name(AttrExpiresAt), expression.Value(s.now().Add(s.runRetention).Unix()))))
	if err != nil {
		return 0, err
	}
	res, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.stateTable), Key: key("run#"+runID, "outcount"),
		UpdateExpression: e.Update(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(), ReturnValues: types.ReturnValueUpdatedNew})
	if err != nil {
		return 0, fmt.Errorf("dynamostore: reserve outcomes of run %q: %w", runID, err)
	}
	var counter struct {
		N int `dynamodbav:"n"`
	}
	if err := attributevalue.UnmarshalMap(res.Attributes, &counter); err != nil {
		return 0, fmt.Errorf("dynamostore: outcome counter of run %q: %w", runID, err)
	}
	before := counter.N - len(outs)
	kept := min(max(0, store.MaxOutcomesPerRun-before), len(outs))
	exp := s.now().Add(s.runRetention).Unix()
	var writes []types.WriteRequest
	for i := 0; i < kept; i += outcomesPerItem {
		chunk := outs[i:min(i+outcomesPerItem, kept)]
		b, err := json.Marshal(chunk)
		if err != nil {
			return 0, fmt.Errorf("dynamostore: encode outcomes: %w", err)
		}
		av, err := attributevalue.MarshalMap(outItem{PK: "run#" + runID, SK: fmt.Sprintf("out#%010d", before+i), Outs: string(b), ExpiresAt: exp})
		if err != nil {
			return 0, fmt.Errorf("dynamostore: encode outcomes: %w", err)
		}
		writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
	}
	if err := s.batchWrite(ctx, writes); err != nil {
		return 0, fmt.Errorf("dynamostore: add outcomes of run %q: %w", runID, err)
	}
	return len(outs) - kept, nil
}

func (s *Store) ListOutcomes(ctx context.Context, runID string, outcome string) ([]store.RecordOutcome, error) {
	kc := expression.Key(AttrPK).Equal(expression.Value("run#" + runID)).And(expression.Key(AttrSK).BeginsWith("out#"))
	e, err := build(expression.NewBuilder().WithKeyCondition(kc))
	if err != nil {
		return nil, err
	}
	var out []store.RecordOutcome
	err = s.query(ctx, &dynamodb.QueryInput{TableName: aws.String(s.stateTable), KeyConditionExpression: e.KeyCondition(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(), ConsistentRead: aws.Bool(true)},
		func(item map[string]types.AttributeValue) error {
			var it outItem
			if err := attributevalue.UnmarshalMap(item, &it); err != nil {
				return fmt.Errorf("dynamostore: decode outcomes: %w", err)
			}
			var chunk []store.RecordOutcome
			if err := json.Unmarshal([]byte(it.Outs), &chunk); err != nil {
				return fmt.Errorf("dynamostore: decode outcomes: %w", err)
			}
			for _, o := range chunk {
				if outcome == "" || o.Outcome == outcome {
					out = append(out, o)
				}
			}
			return nil
		})
	return out, err
}
