package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// GetWatermark reads the change detector's watermark (store.Detector) of scope.
func (s *Store) GetWatermark(ctx context.Context, scope string) (time.Time, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.stateTable), Key: key("det#"+scope, "watermark"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("dynamostore: get watermark %q: %w", scope, err)
	}
	if out.Item == nil {
		return time.Time{}, false, nil
	}
	var it kvItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return time.Time{}, false, fmt.Errorf("dynamostore: decode watermark %q: %w", scope, err)
	}
	t, err := time.Parse(time.RFC3339Nano, it.V)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("dynamostore: decode watermark %q: %w", scope, err)
	}
	return t, true, nil
}

func (s *Store) PutWatermark(ctx context.Context, scope string, t time.Time) error {
	av, err := attributevalue.MarshalMap(kvItem{PK: "det#" + scope, SK: "watermark", V: t.Format(time.RFC3339Nano)})
	if err != nil {
		return fmt.Errorf("dynamostore: encode watermark: %w", err)
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.stateTable), Item: av}); err != nil {
		return fmt.Errorf("dynamostore: put watermark %q: %w", scope, err)
	}
	return nil
}

func (s *Store) GetLastStatuses(ctx context.Context, scope string, regCodes []string) (map[string]string, error) {
	return s.getKV(ctx, "det#"+scope, "st#", regCodes)
}

func (s *Store) PutLastStatuses(ctx context.Context, scope string, statuses map[string]string) error {
	return s.putKV(ctx, "det#"+scope, "st#", statuses)
}
