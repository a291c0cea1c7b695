package reliability

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func requireHeld(t *testing.T, r Result) {
	t.Helper()
	t.Logf("%s | %s | %s | held=%v", r.Scenario, r.Faults, r.Outcome(), r.Held())
	for _, v := range r.Violations {
		if AtLeastOnceRequest(r, v) {
			t.Logf("at-least-once campaign request (the documented limit in the README): %s", v)
			continue
		}
		t.Errorf("%s", v)
	}
}

func TestNoFaults(t *testing.T) {
	r := RunScenario(t, Scenario{Name: "no faults"})
	requireHeld(t, r)
}

func TestMarketoTokenExpiryMidRun(t *testing.T) {
	r := RunScenario(t, Scenario{Name: "token expiry", Faults: []Fault{TokenExpiry()}})
	requireHeld(t, r)
	if r.Codes["602"] == 0 || r.Codes["601"]+r.Codes["602"] < 2 {
		t.Errorf("Marketo answered 602 %d times and 601 %d times; the scenario must produce both", r.Codes["602"], r.Codes["601"])
	}
}

func TestMarketo606Bursts(t *testing.T) {
	r := RunScenario(t, Scenario{Name: "606 bursts", Faults: []Fault{Bursts606()}})
	requireHeld(t, r)
	if r.Codes["606"] == 0 {
		t.Error("no 606 was answered")
	}
}

func TestMarketo615UnderConcurrency(t *testing.T) {
	r := RunScenario(t, Scenario{Name: "615 concurrency", Faults: []Fault{Concurrency615()}, World: ConcurrencyWorld})
	requireHeld(t, r)
	if r.Codes["615"] == 0 {
		t.Error("no 615 was answered: the calls did not overlap")
	}
}

func TestMarketo607ResumesAfterReset(t *testing.T) {
	r := RunScenario(t, Scenario{Name: "607 mid-job", Faults: []Fault{Quota607()}})
	requireHeld(t, r)
	if !strings.Contains(r.Outcome(), "quota→") {
		t.Errorf("no step stopped on the quota and resumed: %s", r.Outcome())
	}
}

func TestMarketoRandomNetworkFaults(t *testing.T) {
	total := 0
	for seed := uint64(10); seed < 13; seed++ {
		r := RunScenario(t, Scenario{Name: fmt.Sprint("10% network, seed ", seed), Faults: []Fault{RandomNetwork()}, Seed: seed})
		requireHeld(t, r)
		total += r.Injected
	}
	if total < 6 {
		t.Errorf("only %d faults injected over three seeds", total)
	}
}

func TestMarketoRecordLevelFailures(t *testing.T) {
	r := RunScenario(t, Scenario{Name: "record failures", Faults: []Fault{RecordFailures()}, Seed: 4})
	requireHeld(t, r)
	if r.Injected == 0 {
		t.Error("no record refused")
	}
}

func TestCertainThrottlingAndOutages(t *testing.T) {
	var waits []time.Duration
	r := RunScenario(t, Scenario{Name: "certain faults", Faults: []Fault{CertainFaults(), {Name: "spy",
		Before: func(w *World, _ string, _ int) { waits = w.CertainWaits() }}}, Seed: 7})
	requireHeld(t, r)
	if !slices.Contains(waits, 7*time.Second) {
		t.Errorf("Retry-After: 7 was not honoured; waits %v", waits)
	}
}

func TestLambdaDeadlineMidPage(t *testing.T) {
	r := RunScenario(t, Scenario{Name: "deadline", Faults: []Fault{Deadline()}})
	requireHeld(t, r)
	for _, o := range r.Outcomes {
		if !strings.HasPrefix(o, StepTrigger) && !strings.Contains(o, "checkpointed") {
			t.Errorf("step did not stop at the deadline and continue: %s", o)
		}
	}
}

// TestCrashBetweenWriteAndCheckpoint kills the process right after Marketo
// or Certain accepted a write, before the store recorded it, in every step.
//
// Known product bug (reported): trigger-campaign marks a change done
// (CompleteIdem) only after Request Campaign returned; a process dying in
// between leaves the key INPROGRESS, the redelivered message takes it once
// the lock expires and requests the campaign a second time. The test
// expects exactly that duplicate, and fails on any other violation, or if
// the duplicate disappears (then make the test strict).
func TestCrashBetweenWriteAndCheckpoint(t *testing.T) {
	for _, nth := range []int{1, 2} {
		t.Run(fmt.Sprint("write", nth), func(t *testing.T) {
			r := RunScenario(t, Scenario{Name: fmt.Sprint("crash after write ", nth), Faults: []Fault{CrashAfterWrite(nth)}})
			t.Logf("%s | %s | %s", r.Scenario, r.Faults, r.Outcome())
			known := 0
			for _, v := range r.Violations {
				if AtLeastOnceRequest(r, v) {
					known++
					t.Logf("at-least-once campaign request (the documented limit in the README): %s", v)
					continue
				}
				t.Errorf("%s", v)
			}
			if known == 0 {
				t.Error("the duplicate campaign request after a crash in trigger-campaign no longer happens: make this test strict")
			}
			if strings.Count(r.Outcome(), "crashed") < 4 {
				t.Errorf("every step must have crashed once: %s", r.Outcome())
			}
		})
	}
}

func TestSQSDuplicateAndOutOfOrder(t *testing.T) {
	r := RunScenario(t, Scenario{Name: "sqs duplicates", Faults: []Fault{SQSDuplicates(3)}, Steps: []string{JobSync, StepTrigger}})
	requireHeld(t, r)
	if r.Injected == 0 {
		t.Error("nothing duplicated")
	}
}

// TestCertainTenantStarts429MidRun: from the 30th Certain call on, the
// tenant refuses every call beyond 2 in flight with 429 and Retry-After: 1.
// The invariants hold, and there is no 429 storm: each client cuts its
// adaptive limit and pauses for the Retry-After, so the tenant refuses a
// few calls while the limits come down (at most the calls beyond 2 that
// each client had in flight), then only the rare probe of the level it
// refused. A client with a fixed 16 in flight would see most of its calls
// refused.
func TestCertainTenantStarts429MidRun(t *testing.T) {
	const onset = 30
	var w *World
	r := RunScenario(t, Scenario{Name: "certain 429 mid-run",
		Faults: []Fault{CertainThrottlesMidRun(onset), {Name: "spy", Setup: func(x *World) { w = x }}}})
	requireHeld(t, r)
	calls := w.Certain.Calls()
	after := calls[min(len(calls), onset-1):]
	refused := 0
	for _, c := range after {
		if c.Status == http.StatusTooManyRequests {
			refused++
		}
	}
	ls := w.Certain.LimitStats()
	t.Logf("%d Certain calls; from the onset on %d, %d refused; tenant's peak in flight %d", len(calls), len(after), refused, ls.PeakInFlight[w.Data.Account])
	if refused == 0 {
		t.Fatal("the tenant answered no 429: the calls did not overlap")
	}
	// The world's two Certain clients reach the tenant with at most 16 in
	// flight each; coming down to 2 by cuts of a quarter refuses at most
	// 14+10+7+4+2+1 calls per client, and then only probes: 1 call after
	// 100, 200, 400, ... clean answers.
	if bound := 2*38 + len(after)/100; refused > bound {
		t.Errorf("%d of the %d calls from the onset on were refused, more than the %d the cuts and probes allow: a 429 storm", refused, len(after), bound)
	}
}

// The deployed fan-out (Config.ViaQueue): every step's jobs are queued by
// their schedule tick and consumed by two processes at once.
func viaQueue(c *Config) { c.ViaQueue = true }

func TestQueueNoFaults(t *testing.T) {
	r := RunScenario(t, Scenario{Name: "queue, no faults", World: viaQueue})
	requireHeld(t, r)
}

// Every run message three times, to two consumers at once: each job still
// runs once per due time, and nothing is written twice.
func TestQueueDuplicateRunMessages(t *testing.T) {
	r := RunScenario(t, Scenario{Name: "queue, duplicate run messages", Faults: []Fault{DuplicateRunMessages()}, World: viaQueue})
	requireHeld(t, r)
	if r.Injected == 0 {
		t.Error("no run message was duplicated")
	}
}

// A run stopped at its deadline whose continuation message is lost: the
// next tick finds the job due and continues from the checkpoint.
func TestQueueLostContinuation(t *testing.T) {
	r := RunScenario(t, Scenario{Name: "queue, lost continuation", Faults: []Fault{LostContinuation()}, World: viaQueue})
	requireHeld(t, r)
	if !strings.Contains(r.Faults, "continuation lost") {
		t.Errorf("no continuation was lost: %s", r.Faults)
	}
	for _, o := range r.Outcomes {
		if !strings.HasPrefix(o, StepTrigger) && !strings.Contains(o, "checkpointed") {
			t.Errorf("step did not stop at the deadline and continue: %s", o)
		}
	}
}

// The consumer dies right after its claim won: the lease expires, the
// message stays hidden, and the next tick runs the job.
func TestQueueConsumerCrashAfterClaim(t *testing.T) {
	r := RunScenario(t, Scenario{Name: "queue, crash after claim", Faults: []Fault{CrashAfterClaim()}, World: viaQueue,
		Steps: []string{JobImport, JobSync, StepMetrics}})
	requireHeld(t, r)
	if strings.Count(r.Outcome(), "crashed") < 3 {
		t.Errorf("every step must have crashed once: %s", r.Outcome())
	}
}
