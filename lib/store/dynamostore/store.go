package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/certain-marketo/certain-marketo/lib/clock"
	"github.com/certain-marketo/certain-marketo/lib/config"
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

// ---- configuration ----

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

// ---- job state ----

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

// ---- runs ----

type runItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	JobID     string `dynamodbav:"jobId"`
	Doc       string `dynamodbav:"doc"`
	ExpiresAt int64  `dynamodbav:"expiresAt"`
}

// runSortKey orders runs by start time: fixed-width UTC, then the id.
func runSortKey(r store.Run) string {
	return r.Started.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + r.ID
}

// PutRun writes the run and its copy under the job's run list in one
// transaction. Started must not change once the run is written.
func (s *Store) PutRun(ctx context.Context, r store.Run) error {
	if r.ID == "" {
		return errors.New("put run: empty id")
	}
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("dynamostore: encode run %q: %w", r.ID, err)
	}
	exp := r.Started.Add(s.runRetention).Unix()
	if r.Started.IsZero() {
		exp = s.now().Add(s.runRetention).Unix()
	}
	var puts []types.TransactWriteItem
	for _, it := range []runItem{
		{PK: "run#" + r.ID, SK: "run", JobID: r.JobID, Doc: string(doc), ExpiresAt: exp},
		{PK: "jobruns#" + r.JobID, SK: runSortKey(r), JobID: r.JobID, Doc: string(doc), ExpiresAt: exp},
	} {
		av, err := attributevalue.MarshalMap(it)
		if err != nil {
			return fmt.Errorf("dynamostore: encode run %q: %w", r.ID, err)
		}
		puts = append(puts, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.stateTable), Item: av}})
	}
	if _, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: puts}); err != nil {
		return fmt.Errorf("dynamostore: put run %q: %w", r.ID, err)
	}
	return nil
}

func decodeRun(item map[string]types.AttributeValue) (store.Run, error) {
	var it runItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return store.Run{}, fmt.Errorf("dynamostore: decode run: %w", err)
	}
	var r store.Run
	if err := json.Unmarshal([]byte(it.Doc), &r); err != nil {
		return store.Run{}, fmt.Errorf("dynamostore: decode run: %w", err)
	}
	return r, nil
}

func (s *Store) GetRun(ctx context.Context, runID string) (store.Run, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.stateTable), Key: key("run#"+runID, "run"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return store.Run{}, fmt.Errorf("dynamostore: get run %q: %w", runID, err)
	}
	if out.Item == nil {
		return store.Run{}, fmt.Errorf("run %q: %w", runID, store.ErrNotFound)
	}
	return decodeRun(out.Item)
}

func (s *Store) ListRuns(ctx context.Context, jobID string, limit int) ([]store.Run, error) {
	e, err := build(expression.NewBuilder().WithKeyCondition(expression.Key(AttrPK).Equal(expression.Value("jobruns#" + jobID))))
	if err != nil {
		return nil, err
	}
	in := &dynamodb.QueryInput{TableName: aws.String(s.stateTable), KeyConditionExpression: e.KeyCondition(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(), ScanIndexForward: aws.Bool(false), ConsistentRead: aws.Bool(true)}
	if limit > 0 {
		in.Limit = aws.Int32(int32(min(limit, 1000)))
	}
	var out []store.Run
	errStop := errors.New("stop")
	err = s.query(ctx, in, func(item map[string]types.AttributeValue) error {
		r, err := decodeRun(item)
		if err != nil {
			return err
		}
		out = append(out, r)
		if limit > 0 && len(out) >= limit {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	return out, nil
}

// ---- per-record outcomes ----

const outcomesPerItem = 100

type outItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Outs      string `dynamodbav:"outs"` // JSON list
	ExpiresAt int64  `dynamodbav:"expiresAt"`
}

// AddOutcomes reserves slots with an atomic ADD on the run's counter, keeps
// what fits under MaxOutcomesPerRun and writes it in items of up to 100
// outcomes. Concurrent callers get disjoint slots. If the write fails after
// the reservation, those slots stay used (outcomes are a report, never the
// source of truth).
func (s *Store) AddOutcomes(ctx context.Context, runID string, outs []store.RecordOutcome) (int, error) {
	if len(outs) == 0 {
		return 0, nil
	}
	e, err := build(expression.NewBuilder().WithUpdate(expression.Add(expression.Name("n"), expression.Value(len(outs))).
		Set(expression.Name(AttrExpiresAt), expression.Value(s.now().Add(s.runRetention).Unix()))))
	if err != nil {
		return 0, err
	}
	res, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.stateTable), Key: key("run#"+runID, "outcount"),
		UpdateExpression: e.Update(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(), ReturnValues: types.ReturnValueUpdatedNew})
	if err != nil {
		return 0, fmt.Errorf("dynamostore: reserve outcomes of run %q: %w", runID, err)
	}
	var counter struct {
		N int `dynamodbav:"n"`
	}
	if err := attributevalue.UnmarshalMap(res.Attributes, &counter); err != nil {
		return 0, fmt.Errorf("dynamostore: outcome counter of run %q: %w", runID, err)
	}
	before := counter.N - len(outs)
	kept := min(max(0, store.MaxOutcomesPerRun-before), len(outs))
	exp := s.now().Add(s.runRetention).Unix()
	var writes []types.WriteRequest
	for i := 0; i < kept; i += outcomesPerItem {
		chunk := outs[i:min(i+outcomesPerItem, kept)]
		b, err := json.Marshal(chunk)
		if err != nil {
			return 0, fmt.Errorf("dynamostore: encode outcomes: %w", err)
		}
		av, err := attributevalue.MarshalMap(outItem{PK: "run#" + runID, SK: fmt.Sprintf("out#%010d", before+i), Outs: string(b), ExpiresAt: exp})
		if err != nil {
			return 0, fmt.Errorf("dynamostore: encode outcomes: %w", err)
		}
		writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
	}
	if err := s.batchWrite(ctx, writes); err != nil {
		return 0, fmt.Errorf("dynamostore: add outcomes of run %q: %w", runID, err)
	}
	return len(outs) - kept, nil
}

func (s *Store) ListOutcomes(ctx context.Context, runID string, outcome string) ([]store.RecordOutcome, error) {
	kc := expression.Key(AttrPK).Equal(expression.Value("run#" + runID)).And(expression.Key(AttrSK).BeginsWith("out#"))
	e, err := build(expression.NewBuilder().WithKeyCondition(kc))
	if err != nil {
		return nil, err
	}
	var out []store.RecordOutcome
	err = s.query(ctx, &dynamodb.QueryInput{TableName: aws.String(s.stateTable), KeyConditionExpression: e.KeyCondition(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(), ConsistentRead: aws.Bool(true)},
		func(item map[string]types.AttributeValue) error {
			var it outItem
			if err := attributevalue.UnmarshalMap(item, &it); err != nil {
				return fmt.Errorf("dynamostore: decode outcomes: %w", err)
			}
			var chunk []store.RecordOutcome
			if err := json.Unmarshal([]byte(it.Outs), &chunk); err != nil {
				return fmt.Errorf("dynamostore: decode outcomes: %w", err)
			}
			for _, o := range chunk {
				if outcome == "" || o.Outcome == outcome {
					out = append(out, o)
				}
			}
			return nil
		})
	return out, err
}

// ---- checkpoints ----

type cpItem struct {
	PK      string `dynamodbav:"pk"`
	SK      string `dynamodbav:"sk"`
	Version int64  `dynamodbav:"version"`
	RunID   string `dynamodbav:"runId"`
	Data    []byte `dynamodbav:"data"`
	Updated int64  `dynamodbav:"updated"`
}

func versionCond(expect int64) expression.ConditionBuilder {
	if expect == 0 {
		return expression.Name(AttrPK).AttributeNotExists()
	}
	return expression.Name("version").Equal(expression.Value(expect))
}

func (s *Store) GetCheckpoint(ctx context.Context, jobID string) (store.Checkpoint, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.stateTable), Key: key("job#"+jobID, "checkpoint"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return store.Checkpoint{}, fmt.Errorf("dynamostore: get checkpoint of job %q: %w", jobID, err)
	}
	if out.Item == nil {
		return store.Checkpoint{}, fmt.Errorf("checkpoint of job %q: %w", jobID, store.ErrNotFound)
	}
	var it cpItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return store.Checkpoint{}, fmt.Errorf("dynamostore: decode checkpoint of job %q: %w", jobID, err)
	}
	return store.Checkpoint{Version: it.Version, RunID: it.RunID, Data: it.Data, Updated: fromMS(it.Updated)}, nil
}

// PutCheckpoint is a conditional PutItem on the version (AWS.md section 10).
func (s *Store) PutCheckpoint(ctx context.Context, jobID string, cp store.Checkpoint, expectVersion int64) (int64, error) {
	it := cpItem{PK: "job#" + jobID, SK: "checkpoint", Version: expectVersion + 1, RunID: cp.RunID, Data: cp.Data, Updated: ms(s.now())}
	av, err := attributevalue.MarshalMap(it)
	if err != nil {
		return 0, fmt.Errorf("dynamostore: encode checkpoint: %w", err)
	}
	e, err := build(expression.NewBuilder().WithCondition(versionCond(expectVersion)))
	if err != nil {
		return 0, err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.stateTable), Item: av,
		ConditionExpression: e.Condition(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values()})
	if isCondFailed(err) {
		return 0, fmt.Errorf("checkpoint of job %q: not at version %d: %w", jobID, expectVersion, store.ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("dynamostore: put checkpoint of job %q: %w", jobID, err)
	}
	return it.Version, nil
}

func (s *Store) DeleteCheckpoint(ctx context.Context, jobID string, expectVersion int64) error {
	e, err := build(expression.NewBuilder().WithCondition(versionCond(expectVersion)))
	if err != nil {
		return err
	}
	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.stateTable), Key: key("job#"+jobID, "checkpoint"),
		ConditionExpression: e.Condition(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values()})
	if isCondFailed(err) {
		return fmt.Errorf("delete checkpoint of job %q: not at version %d: %w", jobID, expectVersion, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("dynamostore: delete checkpoint of job %q: %w", jobID, err)
	}
	return nil
}

// ---- idempotency (AWS.md section 11) ----

const (
	idemInProgress = "INPROGRESS"
	idemCompleted  = "COMPLETED"
)

type idemItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Status    string `dynamodbav:"status"`
	Result    []byte `dynamodbav:"result,omitempty"`
	ExpiresAt int64  `dynamodbav:"expiresAt"`
	LockUntil int64  `dynamodbav:"lockUntil,omitempty"`
}

func (s *Store) BeginIdem(ctx context.Context, k string, lockUntil time.Time, retention time.Duration, now time.Time) (store.IdemResult, error) {
	av, err := attributevalue.MarshalMap(idemItem{PK: "idem#" + k, SK: "idem", Status: idemInProgress, ExpiresAt: now.Add(retention).Unix(), LockUntil: ms(lockUntil)})
	if err != nil {
		return store.IdemResult{}, fmt.Errorf("dynamostore: encode idempotency record: %w", err)
	}
	cond := expression.Name(AttrPK).AttributeNotExists().
		Or(expression.Name(AttrExpiresAt).LessThan(expression.Value(now.Unix()))).
		Or(expression.Name("status").Equal(expression.Value(idemInProgress)).And(expression.Name("lockUntil").LessThan(expression.Value(ms(now)))))
	e, err := build(expression.NewBuilder().WithCondition(cond))
	if err != nil {
		return store.IdemResult{}, err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.stateTable), Item: av,
		ConditionExpression: e.Condition(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
	if err == nil {
		return store.IdemResult{Status: store.IdemProceed}, nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return store.IdemResult{}, fmt.Errorf("dynamostore: begin idempotency key: %w", err)
	}
	var old idemItem
	if err := attributevalue.UnmarshalMap(ccf.Item, &old); err != nil {
		return store.IdemResult{}, fmt.Errorf("dynamostore: decode idempotency record: %w", err)
	}
	if old.Status == idemCompleted {
		return store.IdemResult{Status: store.IdemDuplicate, Result: old.Result}, nil
	}
	return store.IdemResult{Status: store.IdemInProgress}, nil
}

func (s *Store) CompleteIdem(ctx context.Context, k string, result []byte, retention time.Duration, now time.Time) error {
	upd := expression.Set(expression.Name("status"), expression.Value(idemCompleted)).
		Set(expression.Name(AttrExpiresAt), expression.Value(now.Add(retention).Unix())).
		Remove(expression.Name("lockUntil"))
	if len(result) > 0 {
		upd = upd.Set(expression.Name("result"), expression.Value(result))
	} else {
		upd = upd.Remove(expression.Name("result"))
	}
	e, err := build(expression.NewBuilder().WithCondition(expression.Name(AttrPK).AttributeExists()).WithUpdate(upd))
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.stateTable), Key: key("idem#"+k, "idem"),
		ConditionExpression: e.Condition(), UpdateExpression: e.Update(), ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values()})
	if isCondFailed(err) {
		return fmt.Errorf("complete idempotency key: no record: %w", store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("dynamostore: complete idempotency key: %w", err)
	}
	return nil
}

// AbortIdem deletes the record only while it is in progress: a late abort,
// after the lock expired and another invocation completed the work, must
// not erase that completion.
func (s *Store) AbortIdem(ctx context.Context, k string) error {
	cond, err := expression.NewBuilder().WithCondition(expression.Name("status").Equal(expression.Value(idemInProgress))).Build()
	if err != nil {
		return fmt.Errorf("dynamostore: abort idempotency key: %w", err)
	}
	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.stateTable), Key: key("idem#"+k, "idem"),
		ConditionExpression: cond.Condition(), ExpressionAttributeNames: cond.Names(), ExpressionAttributeValues: cond.Values()})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) { // absent or completed: nothing to abort
		return fmt.Errorf("dynamostore: abort idempotency key: %w", err)
	}
	return nil
}

// ---- change detector and hashes ----

type kvItem struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
	V  string `dynamodbav:"v"`
}

func (s *Store) GetWatermark(ctx context.Context, scope string) (time.Time, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.stateTable), Key: key("det#"+scope, "watermark"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("dynamostore: get watermark %q: %w", scope, err)
	}
	if out.Item == nil {
		return time.Time{}, false, nil
	}
	var it kvItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return time.Time{}, false, fmt.Errorf("dynamostore: decode watermark %q: %w", scope, err)
	}
	t, err := time.Parse(time.RFC3339Nano, it.V)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("dynamostore: decode watermark %q: %w", scope, err)
	}
	return t, true, nil
}

func (s *Store) PutWatermark(ctx context.Context, scope string, t time.Time) error {
	av, err := attributevalue.MarshalMap(kvItem{PK: "det#" + scope, SK: "watermark", V: t.Format(time.RFC3339Nano)})
	if err != nil {
		return fmt.Errorf("dynamostore: encode watermark: %w", err)
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.stateTable), Item: av}); err != nil {
		return fmt.Errorf("dynamostore: put watermark %q: %w", scope, err)
	}
	return nil
}

func (s *Store) GetLastStatuses(ctx context.Context, scope string, regCodes []string) (map[string]string, error) {
	return s.getKV(ctx, "det#"+scope, "st#", regCodes)
}

func (s *Store) PutLastStatuses(ctx context.Context, scope string, statuses map[string]string) error {
	return s.putKV(ctx, "det#"+scope, "st#", statuses)
}

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

func (s *Store) getKV(ctx context.Context, pk, prefix string, keys []string) (map[string]string, error) {
	out := map[string]string{}
	seen := map[string]bool{}
	var pending []map[string]types.AttributeValue
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			pending = append(pending, key(pk, prefix+k))
		}
	}
	for len(pending) > 0 {
		n := min(100, len(pending)) // BatchGetItem takes at most 100 keys
		req := map[string]types.KeysAndAttributes{s.stateTable: {Keys: pending[:n], ConsistentRead: aws.Bool(true)}}
		pending = pending[n:]
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt > 0 {
				if attempt > 8 {
					return nil, errors.New("dynamostore: batch get: keys still unprocessed after 8 retries")
				}
				if err := s.sleep(ctx, backoff(attempt)); err != nil {
					return nil, err
				}
			}
			res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("dynamostore: batch get: %w", err)
			}
			for _, item := range res.Responses[s.stateTable] {
				var it kvItem
				if err := attributevalue.UnmarshalMap(item, &it); err != nil {
					return nil, fmt.Errorf("dynamostore: decode %s: %w", pk, err)
				}
				out[strings.TrimPrefix(it.SK, prefix)] = it.V
			}
			req = res.UnprocessedKeys
		}
	}
	return out, nil
}

func (s *Store) putKV(ctx context.Context, pk, prefix string, kv map[string]string) error {
	writes := make([]types.WriteRequest, 0, len(kv))
	for k, v := range kv {
		av, err := attributevalue.MarshalMap(kvItem{PK: pk, SK: prefix + k, V: v})
		if err != nil {
			return fmt.Errorf("dynamostore: encode %s: %w", pk, err)
		}
		writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
	}
	if err := s.batchWrite(ctx, writes); err != nil {
		return fmt.Errorf("dynamostore: write %s: %w", pk, err)
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
