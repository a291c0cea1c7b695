package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// kvItem is one key/value item of a detector or hashes partition.
type kvItem struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
	V  string `dynamodbav:"v"`
}

func (s *Store) getKV(ctx context.Context, pk, prefix string, keys []string) (map[string]string, error) {
	out := map[string]string{}
	seen := map[string]bool{}
	var pending []map[string]types.AttributeValue
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			pending = append(pending, key(pk, prefix+k))
		}
	}
	for len(pending) > 0 {
		n := min(100, len(pending)) // BatchGetItem takes at most 100 keys
		req := map[string]types.KeysAndAttributes{s.stateTable: {Keys: pending[:n], ConsistentRead: aws.Bool(true)}}
		pending = pending[n:]
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt > 0 {
				if attempt > 8 {
					return nil, errors.New("dynamostore: batch get: keys still unprocessed after 8 retries")
				}
				if err := s.sleep(ctx, backoff(attempt)); err != nil {
					return nil, err
				}
			}
			res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("dynamostore: batch get: %w", err)
			}
			for _, item := range res.Responses[s.stateTable] {
				var it kvItem
				if err := attributevalue.UnmarshalMap(item, &it); err != nil {
					return nil, fmt.Errorf("dynamostore: decode %s: %w", pk, err)
				}
				out[strings.TrimPrefix(it.SK, prefix)] = it.V
			}
			req = res.UnprocessedKeys
		}
	}
	return out, nil
}

func (s *Store) putKV(ctx context.Context, pk, prefix string, kv map[string]string) error {
	writes := make([]types.WriteRequest, 0, len(kv))
	for k, v := range kv {
		av, err := attributevalue.MarshalMap(kvItem{PK: pk, SK: prefix + k, V: v})
		if err != nil {
			return fmt.Errorf("dynamostore: encode %s: %w", pk, err)
		}
		writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
	}
	if err := s.batchWrite(ctx, writes); err != nil {
		return fmt.Errorf("dynamostore: write %s: %w", pk, err)
	}
	return nil
}
