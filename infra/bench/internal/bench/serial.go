package bench

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/certain-marketo/certain-marketo/lib/limit"
)

// serialDynamo hands the budgets' DynamoDB requests to moto one at a time.
// moto_server 5.2.1 evaluates a ConditionExpression and applies the write
// as two steps with no lock between them, so two concurrent conditional
// writes to the one budget item can both succeed, which DynamoDB never
// allows (lib/store/dynamostore's TestMotoConditionalWritesRace reproduces
// it; lib/limit's tests use the same decorator for the same reason).
// Without it the 4-worker rows could grant more than the limits and show
// 606s that production would not. The workers' budgets still race each
// other: each plans its write from the item it last saw and loses when
// another wrote first; only the server-side check-and-write is made atomic.
type serialDynamo struct {
	mu sync.Mutex
	db limit.DynamoAPI
}

var _ limit.DynamoAPI = (*serialDynamo)(nil)

func (s *serialDynamo) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.GetItem(ctx, in, o...)
}

func (s *serialDynamo) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.PutItem(ctx, in, o...)
}

func (s *serialDynamo) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.UpdateItem(ctx, in, o...)
}
