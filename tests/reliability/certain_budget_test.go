package reliability

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/dynamostore"
	"github.com/certain-marketo/certain-marketo/lib/testkit/awstest"
)

// processDB is one process's way to DynamoDB: once the process is dead,
// nothing it would still do reaches the table.
type processDB struct {
	limit.DynamoAPI
	dead atomic.Bool
}

var errDead = errors.New("reliability: the process is dead")

func (p *processDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if p.dead.Load() {
		return nil, errDead
	}
	return p.DynamoAPI.GetItem(ctx, in, o...)
}

func (p *processDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if p.dead.Load() {
		return nil, errDead
	}
	return p.DynamoAPI.PutItem(ctx, in, o...)
}

func (p *processDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if p.dead.Load() {
		return nil, errDead
	}
	return p.DynamoAPI.UpdateItem(ctx, in, o...)
}

// leases reads the owners' slot leases of a budget item: slots and lease
// end (ms) per owner.
func leases(t *testing.T, db limit.DynamoAPI, table, pk string) map[string][2]int64 {
	t.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: "budget"}}})
	if err != nil {
		t.Fatal(err)
	}
	var item struct {
		Owners map[string]struct {
			S int   `dynamodbav:"s"`
			U int64 `dynamodbav:"u"`
		} `dynamodbav:"owners"`
	}
	if err := attributevalue.UnmarshalMap(out.Item, &item); err != nil {
		t.Fatal(err)
	}
	got := map[string][2]int64{}
	for id, o := range item.Owners {
		got[id] = [2]int64{int64(o.S), o.U}
	}
	return got
}

// TestSharedCertainBudgetWhenAProcessDies: two processes share the Certain
// account's budget in DynamoDB (moto_server): 4 calls in flight, which is
// all the tenant tolerates (a fifth gets 429). Process A dies in the
// middle of sync-leads, holding slots whose lease is still live, and
// gives nothing back. Process B starts at once and runs import-leads: it
// gets the slots A does not hold, and A's only once A's lease lapsed (A
// dies holding all four, so B's first call waits for the lapse), and the
// tenant never sees more than 4 (no 429). A's entry grants nothing once
// it lapsed, and leaves the item at the first write after its end. A new
// process finishes sync-leads after the job's lease; every invariant
// holds against a fault-free world.
func TestSharedCertainBudgetWhenAProcessDies(t *testing.T) {
	const ceiling = 4
	moto := awstest.StartMoto(t)
	awsCfg := moto.Config(t)
	db := awstest.NewSerial(dynamodb.NewFromConfig(awsCfg))
	names := dynamostore.TableNames{Config: "config-certain-budget", State: "state-certain-budget"}
	if err := awstest.CreateTables(context.Background(), awsCfg, names); err != nil {
		t.Fatal(err)
	}
	steps := []string{JobSync, JobImport}
	ref := Reference(t, steps)
	w := NewWorld(t, Config{CertainBudget: config.CertainBudget{Concurrent: ceiling, CallsPerSecond: 50},
		CertainOptions: []certaintest.Option{certaintest.WithConcurrencyLimit(ceiling)}})
	w.Certain.SetLatency(2 * time.Millisecond) // wall time: the calls overlap at the tenant
	base := w.Observe()
	key := "certain.test/" + w.Data.Account
	process := func() (*processDB, *limit.Shared) {
		pdb := &processDB{DynamoAPI: db}
		// A lease of 10 s (90 s in production) keeps the test short: B
		// polls for A's slots until it lapses.
		b, err := limit.NewSharedCertain(pdb, names.State, key, limit.CertainConfig{Concurrent: ceiling, CallsPerSecond: 50,
			MaxCall: 5 * time.Second, LeaseTTL: 10 * time.Second, Now: w.Clock.Now, Sleep: w.Clock.Sleep})
		if err != nil {
			t.Fatal(err)
		}
		return pdb, b
	}

	// Process A dies once 3 of its Certain writes were answered.
	aDB, aBudget := process()
	a, _ := w.NewProcess(aBudget)
	ctx, kill := context.WithCancel(context.Background())
	defer kill()
	var writes atomic.Int64
	w.Net.OnCall(func(c CallInfo) {
		if c.API == APICertain && c.Method == http.MethodPost && c.Reached && c.Status < 300 && writes.Add(1) == 3 {
			aDB.dead.Store(true)
			w.Store.Crash()
			kill()
		}
	})
	if out, err := w.RunOn(ctx, a, JobSync); err != nil || out != "crashed" {
		t.Fatalf("process A: %q, %v; want it to die mid-run", out, err)
	}
	time.Sleep(50 * time.Millisecond) // let A's calls on the wire land
	w.Net.ClearHooks()
	w.Store.Recover()
	pk := "certain-budget#" + key
	dead := leases(t, db, names.State, pk)
	if len(dead) != 1 {
		t.Fatalf("owners %v, want the dead process's entry only", dead)
	}
	var deadUntil int64
	for _, l := range dead {
		if l[0] < 1 || l[1] <= w.Clock.Now().UnixMilli() {
			t.Fatalf("the dead process holds %d slots until %d (now %d): want live slots", l[0], l[1], w.Clock.Now().UnixMilli())
		}
		deadUntil = l[1]
	}

	// Process B starts at once, while A's lease lives. (A held all four
	// slots: B's first Certain call must wait for the lease to lapse.)
	_, bBudget := process()
	b, bClient := w.NewProcess(bBudget)
	var firstCall atomic.Int64
	w.Net.OnCall(func(c CallInfo) {
		if c.API == APICertain {
			firstCall.CompareAndSwap(0, w.Clock.Now().UnixMilli())
		}
	})
	out, err := w.RunOn(context.Background(), b, JobImport)
	if err != nil || !Terminal(out) || out == store.RunFailed {
		t.Fatalf("process B's import-leads: %q, %v", out, err)
	}
	ls := w.Certain.LimitStats()
	t.Logf("A died holding %d slot(s); B: %d Certain calls, peak in flight %d, clock now %s past A's lease end; tenant: %d refused, peak %d",
		dead[firstKey(dead)][0], bClient.Stats().Calls, bClient.Stats().PeakInFlight,
		time.Duration(w.Clock.Now().UnixMilli()-deadUntil)*time.Millisecond, ls.Throttled, ls.PeakInFlight[w.Data.Account])
	if held := dead[firstKey(dead)][0]; held == ceiling && firstCall.Load() < deadUntil {
		t.Errorf("B's first Certain call at %d, before the dead process's lease on every slot ended (%d)", firstCall.Load(), deadUntil)
	}
	if ls.Throttled != 0 || ls.PeakInFlight[w.Data.Account] > ceiling {
		t.Errorf("the tenant refused %d calls and saw %d in flight: the budget let the processes exceed %d", ls.Throttled, ls.PeakInFlight[w.Data.Account], ceiling)
	}
	if err := bBudget.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Once B closed, nothing in the item grants a slot any more: A's entry
	// may stay until a write after its lease end drops it (B's last write
	// can precede that end when A held fewer than every slot), but it must
	// have lapsed.
	for id, l := range leases(t, db, names.State, pk) {
		if l[0] > 0 && l[1] > w.Clock.Now().UnixMilli() {
			t.Errorf("owner %s still holds %d slot(s) until %d (now %d) after B closed", id, l[0], l[1], w.Clock.Now().UnixMilli())
		}
	}

	// A new process finishes sync-leads after the job's lease expired; then
	// the next runs, as the schedule would make them.
	w.Clock.Advance(17 * time.Minute)
	_, cBudget := process()
	c, _ := w.NewProcess(cBudget)
	if out, err := w.RunOn(context.Background(), c, JobSync); err != nil || !Terminal(out) || out == store.RunFailed {
		t.Fatalf("process C's sync-leads: %q, %v", out, err)
	}
	if err := cBudget.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// C wrote the item long after A's lease ended: the dead entry is gone.
	if got := leases(t, db, names.State, pk); len(got) != 0 {
		t.Errorf("owners %v after C's run and close, want none", got)
	}
	for _, s := range steps {
		w.drive(t, s, nil)
	}
	got := w.Observe()
	vs := append(w.Violations(), CheckUnique(base, got)...)
	vs = append(vs, CheckSame(ref, got)...)
	for _, v := range vs {
		t.Errorf("%s", v)
	}
}

// firstKey is any key of m.
func firstKey[V any](m map[string]V) string {
	for k := range m {
		return k
	}
	return ""
}
