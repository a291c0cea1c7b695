package jobs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/memstore"
)

// A run's recorder holds no more outcomes than the store keeps, however
// many records the run handles (its memory is bounded by its batches, not
// by the run's size); the rest are counted, and the store holds the first
// store.MaxOutcomesPerRun in the order they were recorded.
func TestRecorderKeepsOnlyWhatTheStoreKeeps(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	r := NewRecorder(st, store.Run{ID: "run-1", JobID: "j"})
	const extra = 1234
	total := store.MaxOutcomesPerRun + extra
	for i := range total {
		r.Record(store.RecordOutcome{Key: fmt.Sprintf("reg-%06d", i), Outcome: store.OutcomeCreated})
		if i%1000 == 0 {
			r.Record(store.RecordOutcome{Key: "same", Outcome: store.OutcomeUnchanged})
		}
		if i == 3000 {
			if err := r.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := len(r.buf); n > store.MaxOutcomesPerRun-3001 {
		t.Fatalf("recorder buffers %d outcomes after handing 3,001 to the store; want at most %d", n, store.MaxOutcomesPerRun-3001)
	}
	run, err := r.Finish(ctx, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if run.Counts[store.OutcomeCreated] != total || run.Counts[store.OutcomeUnchanged] == 0 {
		t.Errorf("counts %v, want %d created and the unchanged counted", run.Counts, total)
	}
	if run.OutcomesDropped != extra {
		t.Errorf("OutcomesDropped = %d, want %d", run.OutcomesDropped, extra)
	}
	outs, err := st.ListOutcomes(ctx, "run-1", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != store.MaxOutcomesPerRun || outs[len(outs)-1].Key != fmt.Sprintf("reg-%06d", store.MaxOutcomesPerRun-1) {
		t.Fatalf("store holds %d outcomes (last %+v), want the first %d", len(outs), outs[len(outs)-1], store.MaxOutcomesPerRun)
	}
}
