package limit_test

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/certain-marketo/certain-marketo/lib/limit"
)

// serialDynamo hands requests to moto one at a time. moto_server 5.2.1
// checks a ConditionExpression and applies the write as two steps with no
// lock between them, so concurrent conditional writes to one item can both
// succeed (lib/store/dynamostore's TestMotoConditionalWritesRace reproduces
// it); DynamoDB applies them to an item one at a time. The budgets still
// race each other: each plans its write from the item it last saw, and
// loses when another wrote first.
type serialDynamo struct {
	mu sync.Mutex
	db limit.DynamoAPI
}

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
