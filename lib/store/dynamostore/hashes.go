package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// GetHashes reads the last sent payload hashes (store.Hashes) of keys under scope.
func (s *Store) GetHashes(ctx context.Context, scope string, keys []string) (map[string]string, error) {
	return s.getKV(ctx, "hash#"+scope, "h#", keys)
}

func (s *Store) PutHashes(ctx context.Context, scope string, hashes map[string]string) error {
	return s.putKV(ctx, "hash#"+scope, "h#", hashes)
}

func (s *Store) DeleteHashes(ctx context.Context, scope string, keys []string) error {
	seen := map[string]bool{}
	var writes []types.WriteRequest
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		writes = append(writes, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key("hash#"+scope, "h#"+k)}})
	}
	if err := s.batchWrite(ctx, writes); err != nil {
		return fmt.Errorf("dynamostore: delete hashes of %q: %w", scope, err)
	}
	return nil
}
