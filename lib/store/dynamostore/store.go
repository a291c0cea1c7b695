package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/certain-marketo/certain-marketo/lib/clock"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// DynamoAPI lists the DynamoDB calls the store makes; *dynamodb.Client
// satisfies it.
type DynamoAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock for timestamps the store writes itself.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithRunRetention sets how long run records and outcomes are kept.
func WithRunRetention(d time.Duration) Option { return func(s *Store) { s.runRetention = d } }

// WithSleep sets the wait between retries of unprocessed batch items.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(s *Store) { s.sleep = sleep }
}

// Store is the DynamoDB store.Store.
type Store struct {
	db           DynamoAPI
	cfgTable     string
	stateTable   string
	now          func() time.Time
	sleep        func(ctx context.Context, d time.Duration) error
	runRetention time.Duration
}

var _ store.Store = (*Store)(nil)

// New returns a store over the two tables.
func New(client DynamoAPI, configTable, stateTable string, opts ...Option) (*Store, error) {
	if client == nil || configTable == "" || stateTable == "" {
		return nil, errors.New("dynamostore: client, config table and state table are required")
	}
	s := &Store{db: client, cfgTable: configTable, stateTable: stateTable, now: time.Now, sleep: clock.Sleep, runRetention: 90 * 24 * time.Hour}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: pk}, AttrSK: &types.AttributeValueMemberS{Value: sk}}
}

func isCondFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func build(b expression.Builder) (expression.Expression, error) {
	e, err := b.Build()
	if err != nil {
		return e, fmt.Errorf("dynamostore: build expression: %w", err)
	}
	return e, nil
}

// query runs a Query over every page.
func (s *Store) query(ctx context.Context, in *dynamodb.QueryInput, each func(map[string]types.AttributeValue) error) error {
	p := dynamodb.NewQueryPaginator(s.db, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("dynamostore: query: %w", err)
		}
		for _, it := range page.Items {
			if err := each(it); err != nil {
				return err
			}
		}
	}
	return nil
}

// batchWrite sends writes 25 at a time (the BatchWriteItem limit) and
// resends unprocessed items with a short backoff.
func (s *Store) batchWrite(ctx context.Context, writes []types.WriteRequest) error {
	for len(writes) > 0 {
		n := min(25, len(writes))
		req := map[string][]types.WriteRequest{s.stateTable: writes[:n]}
		writes = writes[n:]
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt > 0 {
				if attempt > 8 {
					return errors.New("batch write: items still unprocessed after 8 retries")
				}
				if err := s.sleep(ctx, backoff(attempt)); err != nil {
					return err
				}
			}
			res, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: req})
			if err != nil {
				return fmt.Errorf("batch write: %w", err)
			}
			req = res.UnprocessedItems
		}
	}
	return nil
}

func backoff(attempt int) time.Duration {
	return time.Duration(min(1<<attempt, 64)) * 25 * time.Millisecond
}
