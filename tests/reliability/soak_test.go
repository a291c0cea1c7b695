package reliability

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"
)

var (
	soakDuration = flag.Duration("soak.duration", 0, "run the randomised soak for this long (0: the short version of make test)")
	soakSeed     = flag.Uint64("soak.seed", 0, "seed of the soak (0: a fixed seed in the short version, the time in the long one)")
)

// TestSoak mixes random faults of the catalogue over the full demo data
// set, scenario after scenario, and checks every invariant after each. It
// prints its seed first: `go test ./tests/reliability -run TestSoak
// -soak.duration=5m -soak.seed=N` replays a run (up to the order in which
// concurrent calls draw from the fault network).
func TestSoak(t *testing.T) {
	seed, long := *soakSeed, *soakDuration > 0
	if seed == 0 {
		seed = 20260601
		if long {
			seed = uint64(time.Now().UnixNano())
		}
	}
	t.Logf("soak seed %d (replay: go test ./tests/reliability -run TestSoak -soak.duration=%s -soak.seed=%d)", seed, *soakDuration, seed)
	rng := rand.New(rand.NewPCG(seed, 0x50a4))
	deadline := time.Now().Add(*soakDuration)
	var rows []Result
	for i := 0; long && time.Now().Before(deadline) || !long && i < 3; i++ {
		queued := rng.IntN(2) == 0
		cat := Catalogue(rng.Uint64(), queued)
		rng.Shuffle(len(cat), func(a, b int) { cat[a], cat[b] = cat[b], cat[a] })
		n := 1 + rng.IntN(3)
		var names []string
		for _, f := range cat[:n] {
			names = append(names, f.Name)
		}
		sc := Scenario{Name: fmt.Sprintf("#%d %s", i+1, strings.Join(names, " + ")), Faults: cat[:n], Seed: rng.Uint64()}
		if queued {
			sc.Name += " (via the work queue)"
			sc.World = func(c *Config) { c.ViaQueue = true }
		}
		r := RunScenario(t, sc)
		rows = append(rows, r)
		for _, v := range r.Violations {
			if AtLeastOnceRequest(r, v) {
				t.Logf("%s: at-least-once campaign request (the documented limit in the README): %s", sc.Name, v)
				continue
			}
			t.Errorf("%s: %s", sc.Name, v)
		}
	}
	t.Log("\n" + Table(rows))
}

// Table renders results as the figures table.
func Table(rows []Result) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tfaults injected\toutcome\tinvariants held")
	for _, r := range rows {
		held := "yes"
		if !r.Held() {
			held = fmt.Sprintf("NO (%d)", len(r.Violations))
		}
		fmt.Fprintf(tw, "%s\t%s (%d)\t%s\t%s\n", r.Scenario, r.Faults, r.Injected, r.Outcome(), held)
	}
	tw.Flush()
	return b.String()
}

// TestOverlappingTicksRunOnce: two functions' processes tick sync-leads at
// the same moment over the demo data; the job runs once and nothing is
// duplicated.
func TestOverlappingTicksRunOnce(t *testing.T) {
	w := NewWorld(t, Config{})
	base := w.Observe()
	ctx := context.Background()
	var wg sync.WaitGroup
	ran := make([]int, 4)
	for i := range ran {
		ex := w.Executor
		if i%2 == 1 {
			ex = w.Executor2
		}
		wg.Go(func() {
			res, err := ex.Tick(ctx, "sync-leads")
			if err != nil {
				t.Errorf("tick %d: %v", i, err)
			}
			ran[i] = len(res.Ran)
		})
	}
	wg.Wait()
	if total := ran[0] + ran[1] + ran[2] + ran[3]; total != 1 {
		t.Fatalf("four overlapping ticks ran the job %d times (%v), want once", total, ran)
	}
	for _, v := range CheckUnique(base, w.Observe()) {
		t.Error(v)
	}
}
