package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
)

// SoakResult is what a soak run found.
type SoakResult struct {
	Seed       int64          `json:"seed"`
	Runs       int            `json:"runs"`
	Faults     map[string]int `json:"faults"`
	Violations []string       `json:"violations"`
}

// Soak loops random job runs with random injected Marketo faults for d,
// then runs every job once more without faults and checks the invariants:
// the final runs finish without errors, a further run writes nothing to
// Marketo, no e-mail gained a second lead, every change triggered its
// campaign exactly once, and no 606/615 came back that was not injected.
func Soak(ctx context.Context, o Options, d time.Duration, registrations int) (SoakResult, error) {
	o.defaults()
	res := SoakResult{Seed: o.Seed, Faults: map[string]int{}}
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 99))
	w, err := newWorld(ctx, worldConfig{registrations: registrations, workers: 2, speed: o.Speed,
		latencyMin: o.LatencyMin, latencyMax: o.LatencyMax, seed: o.Seed, newBudget: localShared})
	if err != nil {
		return res, err
	}
	defer w.close()
	leadsBefore := emailCounts(w.mk)
	kinds := []string{"sync", "import", "engagement", "interest", "trigger"}
	faults := []string{"606", "615", "604", "611", "1029", "http-503", "drop", "expire"}
	injected606, injected615 := 0, 0
	sent := map[string]bool{} // change keys sent at least once
	end := time.Now().Add(d)
	for time.Now().Before(end) && ctx.Err() == nil {
		if rng.IntN(2) == 0 {
			f := faults[rng.IntN(len(faults))]
			n := 1 + rng.IntN(3)
			switch {
			case f == "drop":
				w.mk.DropNext("/rest/*", n)
			case f == "expire":
				w.mk.ExpireToken()
			case strings.HasPrefix(f, "http-"):
				w.mk.FailNextHTTP("/rest/*", n, 503)
			default:
				w.mk.FailNext("/rest/*", n, f)
				if f == "606" {
					injected606 += n
				}
				if f == "615" {
					injected615 += n
				}
			}
			res.Faults[f]++
		}
		k := kinds[rng.IntN(len(kinds))]
		var st Step
		if k == "trigger" {
			w.runTriggerSubset(ctx, rng, sent)
		} else {
			w.runScheduled(ctx, k, "soak", &st)
		}
		res.Runs++
		w.clock.Advance(time.Duration(rng.IntN(90)) * time.Minute)
	}
	// Clear faults the loop left pending by spending them on a cheap call.
	w.clock.Advance(24 * time.Hour)
	for _, k := range kinds[:4] {
		var st Step
		w.runScheduled(ctx, k, "final", &st)
		w.clock.Advance(2 * time.Hour)
	}
	// Redeliver every change once more: all must be duplicates by now.
	w.resend(ctx, sent)
	for _, k := range kinds[:4] {
		var st Step
		before := w.snap()
		w.runScheduled(ctx, k, "check", &st)
		w.finishStep(&st, before)
		if len(st.Errors) > 0 {
			res.Violations = append(res.Violations, fmt.Sprintf("%s after the soak: %s", k, strings.Join(st.Errors, "; ")))
		}
		if st.MarketoWrites > 0 {
			res.Violations = append(res.Violations, fmt.Sprintf("%s: %d Marketo writes in a run with nothing changed", k, st.MarketoWrites))
		}
		w.clock.Advance(2 * time.Hour)
	}
	after := emailCounts(w.mk)
	for e, n := range after {
		if n > 1 && n > leadsBefore[e] {
			res.Violations = append(res.Violations, fmt.Sprintf("e-mail %s has %d leads (was %d)", e, n, leadsBefore[e]))
		}
	}
	perLead := map[int]int{}
	for _, r := range w.mk.CampaignRequests() {
		for _, id := range r.LeadIDs {
			perLead[id]++
		}
	}
	for id, n := range perLead {
		if n > 1 {
			res.Violations = append(res.Violations, fmt.Sprintf("lead %d triggered %d times for one change", id, n))
		}
	}
	if got := len(perLead); got != len(sent) {
		res.Violations = append(res.Violations, fmt.Sprintf("%d changes sent, %d leads triggered", len(sent), got))
	}
	if n := w.mk.CountCode("606") - injected606; n > 0 {
		res.Violations = append(res.Violations, fmt.Sprintf("%d 606 answers not injected", n))
	}
	if n := w.mk.CountCode("615") - injected615; n > 0 {
		res.Violations = append(res.Violations, fmt.Sprintf("%d 615 answers not injected", n))
	}
	return res, nil
}

func emailCounts(mk *marketotest.Server) map[string]int {
	m := map[string]int{}
	for _, l := range mk.Leads() {
		m[strings.ToLower(l.Email())]++
	}
	return m
}

// triggerChanges lists every worker's possible changes (one per
// Pre-Registered registration) with a fixed changedAt, so a resend is the
// same change.
func (w *world) triggerChanges() []jobs.ChangeMessage {
	at := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	var out []jobs.ChangeMessage
	for _, wk := range w.workers {
		for _, r := range wk.data.Registrations {
			if r.Status == "Pre-Registered" && r.Active {
				out = append(out, jobs.NewChange(wk.account, Event, r.Code, "Invited", "Pre-Registered", at))
			}
		}
	}
	return out
}

func changeKey(c jobs.ChangeMessage) string { return c.Account + "/" + c.RegistrationCode }

func (w *world) runTriggerSubset(ctx context.Context, rng *rand.Rand, sent map[string]bool) {
	all := w.triggerChanges()
	if len(all) == 0 {
		return
	}
	start := rng.IntN(len(all))
	batch := all[start:min(start+1+rng.IntN(10), len(all))]
	t := w.workers[0].trigger
	for _, c := range batch {
		sent[changeKey(c)] = true
	}
	_ = t.Handle(ctx, batch) // failures are redelivered by resend
}

// resend delivers every sent change until none fails (at most 5 rounds).
func (w *world) resend(ctx context.Context, sent map[string]bool) {
	var pending []jobs.ChangeMessage
	for _, c := range w.triggerChanges() {
		if sent[changeKey(c)] {
			pending = append(pending, c)
		}
	}
	t := w.workers[0].trigger
	for round := 0; round < 5 && len(pending) > 0; round++ {
		var retry []jobs.ChangeMessage
		for i := 0; i < len(pending); i += 10 {
			b := pending[i:min(i+10, len(pending))]
			for j, err := range t.Handle(ctx, b) {
				if err != nil {
					retry = append(retry, b[j])
				}
			}
		}
		pending = retry
		w.clock.Advance(10 * time.Minute)
	}
}
