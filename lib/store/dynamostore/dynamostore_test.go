package dynamostore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/certain-marketo/certain-marketo/lib/awstest"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/dynamostore"
	"github.com/certain-marketo/certain-marketo/lib/store/storetest"
)

func TestConformanceOnMoto(t *testing.T) {
	moto := awstest.StartMoto(t)
	cfg := moto.Config(t)
	db := dynamodb.NewFromConfig(cfg)
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
}
