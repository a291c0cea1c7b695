package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/certain-marketo/certain-marketo/lib/store"
)

// stateItem is a job's schedule state (store.JobStates): pk "job#<id>", sk "state".
type stateItem struct {
	PK          string `dynamodbav:"pk"`
	SK          string `dynamodbav:"sk"`
	Version     int64  `dynamodbav:"version"`
	NextDue     int64  `dynamodbav:"nextDue"`
	LeaseOwner  string `dynamodbav:"leaseOwner"`
	LeaseUntil  int64  `dynamodbav:"leaseUntil"`
	LastRunID   string `dynamodbav:"lastRunId"`
	LastOutcome string `dynamodbav:"lastOutcome"`
	LastRun     int64  `dynamodbav:"lastRun"`
}

func (s *Store) GetJobState(ctx context.Context, jobID string) (store.JobState, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.stateTable), Key: key("job#"+jobID, "state"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return store.JobState{}, fmt.Errorf("dynamostore: job state %q: %w", jobID, err)
	}
	st := store.JobState{JobID: jobID}
	if out.Item == nil {
		return st, nil
	}
	var it stateItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return st, fmt.Errorf("dynamostore: job state %q: %w", jobID, err)
	}
	st.Version, st.NextDue, st.LeaseOwner, st.LeaseUntil = it.Version, fromMS(it.NextDue), it.LeaseOwner, fromMS(it.LeaseUntil)
	st.LastRunID, st.LastOutcome, st.LastRun = it.LastRunID, it.LastOutcome, fromMS(it.LastRun)
	return st, nil
}

// ClaimJob is one conditional UpdateItem: the version must still be
// expectVersion and no lease may be live, so concurrent claimants race on
// DynamoDB's item-level serialisation and exactly one wins.
func (s *Store) ClaimJob(ctx context.Context, jobID, runID string, expectVersion int64, leaseUntil, now time.Time) (bool, error) {
	ver := expression.Name("version").Equal(expression.Value(expectVersion))
	if expectVersion == 0 {
		ver = expression.Name(AttrPK).AttributeNotExists().Or(ver)
	}
	free := expression.Name("leaseOwner").AttributeNotExists().
		Or(expression.Name("leaseOwner").Equal(expression.Value(""))).
		Or(expression.Name("leaseUntil").LessThanEqual(expression.Value(ms(now))))
	upd := expression.Set(expression.Name("version"), expression.Value(expectVersion+1)).
		Set(expression.Name("leaseOwner"), expression.Value(runID)).
		Set(expression.Name("leaseUntil"), expression.Value(ms(leaseUntil))).
		Set(expression.Name("lastRunId"), expression.Value(runID)).
		Set(expression.Name("lastRun"), expression.Value(ms(now)))
	e, err := build(expression.NewBuilder().WithCondition(ver.And(free)).WithUpdate(upd))
	if err != nil {
		return false, err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.stateTable), Key: key("job#"+jobID, "state"),
		ConditionExpression: e.Condition(), UpdateExpression: e.Update(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values()})
	if isCondFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("dynamostore: claim job %q: %w", jobID, err)
	}
	return true, nil
}

func (s *Store) ReleaseJob(ctx context.Context, jobID, runID string, nextDue time.Time, outcome string) error {
	upd := expression.Set(expression.Name("version"), expression.Name("version").Plus(expression.Value(1))).
		Set(expression.Name("nextDue"), expression.Value(ms(nextDue))).
		Set(expression.Name("lastOutcome"), expression.Value(outcome)).
		Set(expression.Name("leaseOwner"), expression.Value("")).
		Set(expression.Name("leaseUntil"), expression.Value(0))
	e, err := build(expression.NewBuilder().WithCondition(expression.Name("leaseOwner").Equal(expression.Value(runID))).WithUpdate(upd))
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.stateTable), Key: key("job#"+jobID, "state"),
		ConditionExpression: e.Condition(), UpdateExpression: e.Update(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values()})
	if isCondFailed(err) {
		return fmt.Errorf("release job %q by run %q: lease not held: %w", jobID, runID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("dynamostore: release job %q: %w", jobID, err)
	}
	return nil
}
