package bench

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func budgetKey() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "budget#x"}, "sk": &types.AttributeValueMemberS{Value: "budget"}}
}

func nAV(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

// memDynamo evaluates the expressions lib/limit builds as DynamoDB does,
// and refuses others.
func TestMemDynamoConditionalWrites(t *testing.T) {
	ctx := context.Background()
	db := newMemDynamo(0)
	put := func(ver string, cond expression.ConditionBuilder) error {
		e, err := expression.NewBuilder().WithCondition(cond).Build()
		if err != nil {
			t.Fatal(err)
		}
		item := budgetKey()
		item["ver"] = nAV(ver)
		item["owners"] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"p1": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"u": nAV("1000")}}}}
		_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: item, ConditionExpression: e.Condition(),
			ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
		return err
	}
	notThere := expression.Name("pk").AttributeNotExists()
	if err := put("1", notThere); err != nil {
		t.Fatalf("first put: %v", err)
	}
	var ccf *types.ConditionalCheckFailedException
	if err := put("1", notThere); !errors.As(err, &ccf) || ccf.Item == nil {
		t.Fatalf("second put if absent = %v, want a conditional check failure with the old item", err)
	}
	if err := put("2", expression.Name("ver").Equal(expression.Value(int64(7)))); !errors.As(err, &ccf) {
		t.Fatalf("put at the wrong version = %v, want a conditional check failure", err)
	}
	if err := put("2", expression.Name("ver").Equal(expression.Value(int64(1)))); err != nil {
		t.Fatalf("put at the right version: %v", err)
	}

	renew := func(now, until int64) (*dynamodb.UpdateItemOutput, error) {
		upd := expression.Set(expression.Name("owners.p1.u"), expression.Value(until)).Add(expression.Name("ver"), expression.Value(1))
		e, err := expression.NewBuilder().WithUpdate(upd).WithCondition(expression.Name("owners.p1.u").GreaterThan(expression.Value(now))).Build()
		if err != nil {
			t.Fatal(err)
		}
		return db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: budgetKey(), UpdateExpression: e.Update(),
			ConditionExpression: e.Condition(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(), ReturnValues: types.ReturnValueAllNew})
	}
	if _, err := renew(1000, 5000); !errors.As(err, &ccf) {
		t.Fatalf("renew of an expired lease = %v, want a conditional check failure", err)
	}
	out, err := renew(999, 5000)
	if err != nil {
		t.Fatalf("renew of a live lease: %v", err)
	}
	owner := out.Attributes["owners"].(*types.AttributeValueMemberM).Value["p1"].(*types.AttributeValueMemberM).Value["u"]
	if v := out.Attributes["ver"].(*types.AttributeValueMemberN).Value; v != "3" || owner.(*types.AttributeValueMemberN).Value != "5000" {
		t.Fatalf("after the renew ver %s, lease %v; want 3 and 5000", v, owner)
	}
	// The stored item is not the one handed back.
	got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: budgetKey()})
	if err != nil || got.Item["ver"].(*types.AttributeValueMemberN).Value != "3" {
		t.Fatalf("get = %v, %v; want ver 3", got, err)
	}
	got.Item["ver"] = nAV("99")
	if again, _ := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: budgetKey()}); again.Item["ver"].(*types.AttributeValueMemberN).Value != "3" {
		t.Fatal("a caller's change to a returned item reached the store")
	}

	e, _ := expression.NewBuilder().WithCondition(expression.Name("ver").LessThan(expression.Value(3))).Build()
	_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: budgetKey(), ConditionExpression: e.Condition(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values()})
	if err == nil || !strings.Contains(err.Error(), "unsupported condition") {
		t.Fatalf("a condition it does not evaluate = %v, want an error saying so", err)
	}
}

// A small scale run through the real handlers: every job runs, every
// change triggers its campaign once, every registration becomes one lead,
// and Marketo never answers 606 or 615. No timing is asserted.
func TestRunScaleTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("runs on the wall clock for some seconds")
	}
	o := DefaultScale(true)
	o.Accounts, o.Events, o.Registrations, o.Consumers = 2, 3, 2, 3
	o.TriggerWindow, o.Deadline = time.Second, 3*time.Minute
	sc, err := RunScale(context.Background(), o, "", 0, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Errors) > 0 {
		t.Fatalf("errors: %v", sc.Errors)
	}
	if sc.Events != 6 || sc.Jobs != 12 || sc.Consumers != 3 {
		t.Errorf("events %d, jobs %d, consumers %d; want 6, 12, 3", sc.Events, sc.Jobs, sc.Consumers)
	}
	if sc.CampaignLeads != 6 || sc.LeadsCreated != 12 {
		t.Errorf("campaign leads %d, leads %d; want 6 and 12", sc.CampaignLeads, sc.LeadsCreated)
	}
	if sc.Answers606 != 0 || sc.Answers615 != 0 || !sc.Goals.No606Or615 {
		t.Errorf("606 %d, 615 %d", sc.Answers606, sc.Answers615)
	}
	if sc.MakespanSeconds <= 0 || sc.IdealSeconds <= 0 || sc.StartDelayP50Seconds < 0 || sc.StartDelayP99Seconds < sc.StartDelayP50Seconds ||
		sc.DetectorScopesPerMinute <= 0 || sc.BudgetStoreCalls == 0 || sc.Invocations["sync-leads"] != 6 {
		t.Errorf("figures %+v", sc)
	}
	rep := &Report{Scale: sc}
	if md := rep.scaleMarkdown(); !strings.Contains(md, "| events | 6 |") || !strings.Contains(md, "What bounds it:") {
		t.Errorf("scale section:\n%s", md)
	}
}
