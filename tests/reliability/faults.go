package reliability

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
)

// atMarketoCall runs f once per attempt, when the attempt's nth Marketo
// REST call has been answered.
func atMarketoCall(name string, nth int, f func(w *World)) Fault {
	var mu sync.Mutex
	var armedAt, fired int
	return Fault{Name: name,
		Setup: func(w *World) {
			w.Net.OnCall(func(c CallInfo) {
				if c.API != APIMarketo || strings.HasPrefix(c.Path, "/identity/") {
					return
				}
				mu.Lock()
				armedAt++
				fire := armedAt == nth && fired == 0
				if fire {
					fired = 1
				}
				mu.Unlock()
				if fire {
					f(w)
				}
			})
		},
		Before: func(w *World, _ string, _ int) {
			mu.Lock()
			armedAt, fired = 0, 0
			mu.Unlock()
		}}
}

// TokenExpiry expires the Marketo access token at the 3rd call of every
// invocation: the next call gets 602, later ones with the same token 601.
func TokenExpiry() Fault {
	f := atMarketoCall("token expiry (602 then 601)", 3, func(w *World) { w.Marketo.ExpireToken(); w.Net.Note("marketo token-expiry", 1) })
	return f
}

// Bursts606 answers 606 to the next 4 calls at the 2nd call of every
// invocation.
func Bursts606() Fault {
	return atMarketoCall("606 bursts", 2, func(w *World) { w.Marketo.FailNext("*", 4, "606"); w.Net.Note("marketo 606", 4) })
}

// Concurrency615 runs with ConcurrencyWorld: Marketo admits one call in
// flight (the other slots taken by other integrations) while the product's
// budget allows 8, and every call is held 2 ms of wall time so that the two
// metrics Lambdas' calls overlap: 615 answers.
func Concurrency615() Fault {
	return Fault{Name: "615 under concurrency",
		Setup: func(w *World) {}}
}

// Quota607 exhausts the daily quota at the 5th call of the first
// invocation of every step; the run stops and resumes after 00:00 Chicago.
func Quota607() Fault {
	var mu sync.Mutex
	armed, seen := false, 0
	return Fault{Name: "607 mid-job",
		Setup: func(w *World) {
			w.Net.OnCall(func(c CallInfo) {
				if c.API != APIMarketo || strings.HasPrefix(c.Path, "/identity/") {
					return
				}
				mu.Lock()
				seen++
				fire := armed && seen == 5
				if fire {
					armed = false
				}
				mu.Unlock()
				if fire {
					w.Marketo.ExhaustQuota()
					w.Net.Note("marketo 607", 1)
				}
			})
		},
		Before: func(w *World, _ string, attempt int) {
			mu.Lock()
			armed, seen = attempt == 0, 0
			mu.Unlock()
		}}
}

// RandomNetwork makes 10% of Marketo calls fail with a 5xx, a timeout, a
// connection dropped before or after Marketo did the work.
func RandomNetwork() Fault {
	return Fault{Name: "10% 5xx/timeout/drop",
		Setup: func(w *World) {
			w.Net.SetRandom(APIMarketo, 0.10, Fault5xx, FaultTimeout, FaultDrop, FaultDropAfter)
		}}
}

// RecordFailures refuses 5% of Sync Leads records with 1004, 1006 or 1007.
func RecordFailures() Fault {
	return Fault{Name: "records 1004/1006/1007",
		Setup: func(w *World) { w.Net.SetRecordFaults(0.05, "1004", "1006", "1007") }}
}

// CertainFaults answers 429 with Retry-After 7 s to the first two calls of
// every invocation, and 10% of the others a 5xx, a timeout or a drop
// (before or after Certain did the work).
func CertainFaults() Fault {
	return Fault{Name: "Certain 429+Retry-After, 5xx, timeouts",
		Setup: func(w *World) {
			w.Net.SetRandom(APICertain, 0.10, Fault5xx, FaultTimeout, FaultDrop, FaultDropAfter)
		},
		Before: func(w *World, _ string, _ int) {
			w.Certain.FailNext("", 2, http.StatusTooManyRequests, 7*time.Second)
			w.Net.Note("certain 429", 2)
		}}
}

// CertainThrottlesMidRun: the Certain tenant holds every call 2 ms of wall
// time (so that the jobs' calls overlap there) and, from the world's
// onset-th Certain call on, tolerates 2 calls in flight: beyond them it
// answers 429 with Retry-After: 1, as a tenant whose other integrations
// have just taken most of its capacity would.
func CertainThrottlesMidRun(onset int) Fault {
	var mu sync.Mutex
	seen := 0
	return Fault{Name: "Certain tenant starts answering 429",
		Setup: func(w *World) {
			w.Certain.SetLatency(2 * time.Millisecond)
			w.Net.OnCall(func(c CallInfo) {
				if c.API != APICertain {
					return
				}
				mu.Lock()
				seen++
				fire := seen == onset
				mu.Unlock()
				if fire {
					w.Certain.SetLimits(0, 2)
					w.Net.Note("certain tolerates 2 in flight", 1)
				}
			})
		}}
}

// Deadline stops every long job at a safe point early in each of its
// first invocations (the Lambda's soft deadline), so each continues from
// its checkpoint in the next.
func Deadline() Fault {
	return Fault{Name: "Lambda deadline mid-page",
		Before: func(w *World, step string, attempt int) {
			if step == StepTrigger || attempt >= 3 {
				w.InterruptWhen(nil)
				return
			}
			w.InterruptAfter(1 + attempt)
			w.Net.Note("lambda deadline", 1)
		}}
}

// writePath reports whether a call writes to Marketo or Certain.
func writePath(c CallInfo) bool {
	if c.API == APICertain {
		return c.Method == http.MethodPost
	}
	return c.Method == http.MethodPost && !c.Read && (c.Path == "/rest/v1/leads.json" || strings.HasPrefix(c.Path, "/rest/v1/customobjects/") ||
		strings.HasPrefix(c.Path, "/rest/v1/campaigns/"))
}

// CrashAfterWrite kills the process right after the nth write Marketo or
// Certain accepted in the first invocation of every step: the checkpoint,
// hashes, idempotency record and run record of that write are never
// stored. The next invocation starts after the dead one's lease expired.
func CrashAfterWrite(nth int) Fault {
	var mu sync.Mutex
	armed, seen := false, 0
	return Fault{Name: "crash between write and checkpoint",
		Setup: func(w *World) {
			w.Net.OnCall(func(c CallInfo) {
				if !c.Reached || c.Status != http.StatusOK && c.Status != http.StatusCreated || !writePath(c) {
					return
				}
				if strings.HasSuffix(c.Path, "/describe.json") {
					return
				}
				mu.Lock()
				seen++
				fire := armed && seen == nth
				if fire {
					armed = false
				}
				mu.Unlock()
				if fire {
					if strings.HasPrefix(c.Path, "/rest/v1/campaigns/") {
						w.Net.Note("ambiguous campaign request", 1)
					}
					w.Store.Crash()
					w.CancelRun()
					w.Net.Note("crash after "+string(c.API)+" write", 1)
				}
			})
		},
		Before: func(w *World, _ string, attempt int) {
			mu.Lock()
			armed, seen = attempt == 0, 0
			mu.Unlock()
		}}
}

// SQSDuplicates delivers every change message three times in a random
// order, plus a later change of the same registration ahead of it.
func SQSDuplicates(seed uint64) Fault {
	rng := rand.New(rand.NewPCG(seed, 0x5e5))
	return Fault{Name: "SQS duplicate + out-of-order",
		Setup: func(w *World) {
			done := false
			w.beforeDeliver = func() {
				if done {
					return
				}
				done = true
				for _, m := range w.Queue.Sent() {
					// A later change of the same registration, delivered first.
					later := jobs.NewChange(m.Account, m.Event, m.RegistrationCode, m.NewStatus, "Attended", m.ChangedAt.Add(time.Second))
					if b, err := later.Encode(); err == nil {
						w.Queue.Push(string(b))
						w.Net.Note("sqs out-of-order", 1)
					}
				}
				w.Net.Note("sqs duplicate", 2*w.Queue.DuplicateAndShuffle(rng))
			}
		}}
}

// Catalogue is every fault kind, for the soak mix; viaQueue adds the faults
// of the deployed fan-out (its worlds run with Config.ViaQueue).
func Catalogue(seed uint64, viaQueue bool) []Fault {
	c := []Fault{TokenExpiry(), Bursts606(), Quota607(), RandomNetwork(), RecordFailures(), CertainFaults(), Deadline(), CrashAfterWrite(2), SQSDuplicates(seed)}
	if viaQueue {
		c = append(c, DuplicateRunMessages(), LostContinuation(), CrashAfterClaim())
	}
	return c
}

// ConcurrencyWorld sets the world up for 615: Marketo allows 2 calls in
// flight, the product's budget 8.
func ConcurrencyWorld(c *Config) {
	c.MarketoOptions = append(c.MarketoOptions, marketotest.WithConcurrencyLimit(1))
	c.Budget.CallsPer20s, c.Budget.Concurrent, c.Budget.Daily = 100, 8, 10000
	c.HoldMarketo = 2 * time.Millisecond
}

// AtLeastOnceRequest reports whether a violation is trigger-campaign's
// documented at-least-once limit (README, "Exactly once, and its one
// limit"): Request Campaign, which has no idempotency key, went through but its
// completion was never recorded (the answer was lost, or the process died
// before CompleteIdem), so the redelivered change requests it again. It is
// accepted only when such an ambiguous request was actually injected.
func AtLeastOnceRequest(r Result, v Violation) bool {
	inj := 0
	for _, part := range strings.Split(r.Faults, ", ") {
		if strings.HasPrefix(part, "ambiguous campaign request") {
			inj++
		}
	}
	if inj == 0 {
		return false
	}
	return v.Invariant == InvNothingDuplicated && strings.Contains(v.Detail, "campaign requests") ||
		v.Invariant == InvRunTruth && strings.HasPrefix(v.Detail, "trigger runs recorded")
}
