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

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// docItem is a config-table item (store.Configs): the object's JSON in "doc".
type docItem struct {
	PK      string `dynamodbav:"pk"`
	SK      string `dynamodbav:"sk"`
	JobType string `dynamodbav:"jobType,omitempty"`
	Doc     string `dynamodbav:"doc"`
}

func (s *Store) PutConnection(ctx context.Context, c config.Connection) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("put connection: %w", err)
	}
	return s.putDoc(ctx, docItem{PK: "conns", SK: "conn#" + c.Account}, c)
}

func (s *Store) GetConnection(ctx context.Context, account string) (config.Connection, error) {
	var c config.Connection
	if err := s.getDoc(ctx, "conns", "conn#"+account, &c); err != nil {
		return config.Connection{}, fmt.Errorf("connection %q: %w", account, err)
	}
	if err := c.Validate(); err != nil {
		return config.Connection{}, fmt.Errorf("stored connection: %w", err)
	}
	return c, nil
}

func (s *Store) PutJob(ctx context.Context, j config.Job) error {
	if err := j.Validate(); err != nil {
		return fmt.Errorf("put job: %w", err)
	}
	return s.putDoc(ctx, docItem{PK: "jobs", SK: "job#" + j.ID, JobType: j.Type}, j)
}

func (s *Store) GetJob(ctx context.Context, id string) (config.Job, error) {
	var j config.Job
	if err := s.getDoc(ctx, "jobs", "job#"+id, &j); err != nil {
		return config.Job{}, fmt.Errorf("job %q: %w", id, err)
	}
	if err := j.Validate(); err != nil {
		return config.Job{}, fmt.Errorf("stored job: %w", err)
	}
	return j, nil
}

// ListJobs returns the jobs of a type ("" = all), ordered by id. A stored
// job that no longer validates fails the call, naming it.
func (s *Store) ListJobs(ctx context.Context, jobType string) ([]config.Job, error) {
	kc := expression.Key(AttrPK).Equal(expression.Value("jobs")).And(expression.Key(AttrSK).BeginsWith("job#"))
	b := expression.NewBuilder().WithKeyCondition(kc)
	if jobType != "" {
		b = b.WithFilter(expression.Name("jobType").Equal(expression.Value(jobType)))
	}
	e, err := build(b)
	if err != nil {
		return nil, err
	}
	var out []config.Job
	err = s.query(ctx, &dynamodb.QueryInput{TableName: aws.String(s.cfgTable), KeyConditionExpression: e.KeyCondition(), FilterExpression: e.Filter(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(), ConsistentRead: aws.Bool(true)},
		func(item map[string]types.AttributeValue) error {
			var d docItem
			if err := attributevalue.UnmarshalMap(item, &d); err != nil {
				return fmt.Errorf("list jobs: %w", err)
			}
			var j config.Job
			if err := config.DecodeJSON([]byte(d.Doc), &j); err != nil {
				return fmt.Errorf("list jobs: %s: %w", d.SK, err)
			}
			if err := j.Validate(); err != nil {
				return fmt.Errorf("list jobs: stored job: %w", err)
			}
			out = append(out, j)
			return nil
		})
	return out, err
}

func (s *Store) putDoc(ctx context.Context, d docItem, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("dynamostore: encode %s: %w", d.SK, err)
	}
	d.Doc = string(b)
	item, err := attributevalue.MarshalMap(d)
	if err != nil {
		return fmt.Errorf("dynamostore: encode %s: %w", d.SK, err)
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.cfgTable), Item: item}); err != nil {
		return fmt.Errorf("dynamostore: put %s: %w", d.SK, err)
	}
	return nil
}

func (s *Store) getDoc(ctx context.Context, pk, sk string, v any) error {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.cfgTable), Key: key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("dynamostore: get: %w", err)
	}
	if out.Item == nil {
		return store.ErrNotFound
	}
	var d docItem
	if err := attributevalue.UnmarshalMap(out.Item, &d); err != nil {
		return fmt.Errorf("dynamostore: decode: %w", err)
	}
	return config.DecodeJSON([]byte(d.Doc), v)
}
