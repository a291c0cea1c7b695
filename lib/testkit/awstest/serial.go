package awstest

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/certain-marketo/certain-marketo/lib/store/dynamostore"
)

// Serial hands DynamoDB requests to moto_server one at a time.
//
// moto_server (5.2.1) serves each request on its own thread, and evaluates a
// ConditionExpression and applies the write as two steps with no lock
// between them, so two concurrent conditional writes to one item can both
// pass their condition (lib/store/dynamostore's
// TestMotoConditionalWritesRace reproduces it). Real DynamoDB serialises
// writes to an item and checks a condition atomically with its write. Serial
// restores that guarantee for tests on moto: racing goroutines still run
// concurrently through the code under test, build their conditions from
// what they read, and may lose; only the server's evaluation of each request
// is made atomic, as DynamoDB's is. (It serialises across items too, which
// DynamoDB does not need to; that only costs speed.)
//
// It implements dynamostore.DynamoAPI and every smaller DynamoDB interface
// of the product (lib/limit's).
type Serial struct {
	mu sync.Mutex
	db dynamostore.DynamoAPI
}

// NewSerial wraps a DynamoDB client (normally *dynamodb.Client on moto).
func NewSerial(db dynamostore.DynamoAPI) *Serial { return &Serial{db: db} }

var _ dynamostore.DynamoAPI = (*Serial)(nil)

func (s *Serial) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.GetItem(ctx, in, o...)
}

func (s *Serial) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.PutItem(ctx, in, o...)
}

func (s *Serial) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.UpdateItem(ctx, in, o...)
}

func (s *Serial) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.DeleteItem(ctx, in, o...)
}

func (s *Serial) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Query(ctx, in, o...)
}

func (s *Serial) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.BatchGetItem(ctx, in, o...)
}

func (s *Serial) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.BatchWriteItem(ctx, in, o...)
}

func (s *Serial) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.TransactWriteItems(ctx, in, o...)
}
