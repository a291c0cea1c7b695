package dynamostore_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/dynamostore"
	"github.com/certain-marketo/certain-marketo/lib/store/storetest"
	"github.com/certain-marketo/certain-marketo/lib/testkit/awstest"
)

// TestConformanceOnMoto runs the conformance suite over moto_server. The
// store reaches moto through awstest.Serial: moto does
// not apply concurrent conditional writes to one item atomically, which
// DynamoDB does, and the suite's races (ClaimRace, IdempotencyRace,
// CheckpointRace) test the store's conditions, not moto's locking. The
// racing goroutines still run the store's code concurrently. The memstore
// run of the same suite keeps true concurrency end to end.
func TestConformanceOnMoto(t *testing.T) {
	moto := awstest.StartMoto(t)
	cfg := moto.Config(t)
	raw := dynamodb.NewFromConfig(cfg)
	db := awstest.NewSerial(raw)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Store {
		// Fresh tables per subtest isolate them without a server reset.
		i := n.Add(1)
		names := dynamostore.TableNames{Config: fmt.Sprintf("config-%d", i), State: fmt.Sprintf("state-%d", i)}
		if err := awstest.CreateTables(context.Background(), cfg, names); err != nil {
			t.Fatal(err)
		}
		s, err := dynamostore.New(db, names.Config, names.State)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})

	t.Run("StoredConfigValidatedOnRead", func(t *testing.T) {
		ctx := context.Background()
		names := dynamostore.TableNames{Config: "config-raw", State: "state-raw"}
		if err := awstest.CreateTables(ctx, cfg, names); err != nil {
			t.Fatal(err)
		}
		s, _ := dynamostore.New(db, names.Config, names.State)
		put := func(sk, doc string) {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(names.Config), Item: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: "jobs"}, "sk": &types.AttributeValueMemberS{Value: sk},
				"jobType": &types.AttributeValueMemberS{Value: "sync-leads"}, "doc": &types.AttributeValueMemberS{Value: doc}}})
			if err != nil {
				t.Fatal(err)
			}
		}
		// A hand-edited item: valid JSON, invalid job.
		put("job#summit-sync", `{"id":"summit-sync","account":"ACME","event":"HS26","type":"sync-leads","schedule":{"interval":"15m"},"params":{}}`)
		if _, err := s.GetJob(ctx, "summit-sync"); err == nil || !strings.Contains(err.Error(), `job "summit-sync": params.statuses: at least one status required`) {
			t.Fatalf("GetJob(invalid stored job) = %v", err)
		}
		if _, err := s.ListJobs(ctx, "sync-leads"); err == nil || !strings.Contains(err.Error(), `job "summit-sync"`) {
			t.Fatalf("ListJobs with an invalid stored job = %v", err)
		}
		put("job#summit-sync", `{"id":"summit-sync","typo":1}`)
		if _, err := s.GetJob(ctx, "summit-sync"); err == nil || !strings.Contains(err.Error(), `unknown field "typo"`) {
			t.Fatalf("GetJob(unknown field) = %v", err)
		}
	})
}
