package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/dryrun"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
	"github.com/certain-marketo/certain-marketo/lib/testkit/inprocess"
)

// printer writes the table as the steps finish, and a progress line on a
// terminal while a step takes more than a moment.
type printer struct {
	out      io.Writer
	progress io.Writer // nil: no progress line
	calls    func() (marketo, certain int)

	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
	n    int
}

const rowFormat = "%-2s %-30s %-21s %-9s %7s %7s %6s  %s\n"

func (p *printer) intro(env *inprocess.Env, took time.Duration, logPath string) {
	d := env.Data
	p.calls = func() (int, int) { return env.Marketo.CountedCalls(), len(env.Certain.Calls()) }
	var evs []string
	for _, e := range d.Events {
		evs = append(evs, fmt.Sprintf("%s (%s)", e.Code, e.Name))
	}
	fmt.Fprintf(p.out, "certain-marketo demo: the six functions on in-process simulators (Go only, no AWS)\n\n")
	fmt.Fprintf(p.out, "  Certain  account %s, events %s: %d profiles, %d registrations  %s\n",
		d.Account, strings.Join(evs, ", "), len(d.Profiles), len(d.Registrations), env.Certain.URL)
	fmt.Fprintf(p.out, "  Marketo  %d leads, static lists %d (%d leads) and %d (%d leads), %d campaigns  %s\n",
		len(d.Marketo.Leads), d.Marketo.List.ID, len(d.Marketo.List.LeadIDs), demodata.ProfilesListID, len(demodata.ProfilesListLeads(d)),
		len(d.Marketo.Campaigns), env.Marketo.URL)
	fmt.Fprintf(p.out, "  Store    embedded; %d jobs; credentials from an in-memory secret source\n", len(env.Jobs))
	if logPath != "" {
		fmt.Fprintf(p.out, "  Logs     %s (run with -v to see them here)\n", logPath)
	}
	fmt.Fprintf(p.out, "  Ready in %s\n\n", round(took))
	fmt.Fprintf(p.out, rowFormat, "#", "STEP", "FUNCTION", "OUTCOME", "MARKETO", "CERTAIN", "TIME", "WHAT HAPPENED")
	fmt.Fprintf(p.out, rowFormat, "--", strings.Repeat("-", 30), strings.Repeat("-", 21), strings.Repeat("-", 9), "-------", "-------", "------", strings.Repeat("-", 13))
}

// Begin starts the progress line of a step (on a terminal only); it shows
// after a second.
func (p *printer) Begin(name string) {
	if p.progress == nil || p.calls == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	stop, done := p.stop, p.done
	m0, c0 := p.calls()
	start := time.Now()
	go func() {
		defer close(done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		shown := false
		for {
			select {
			case <-stop:
				if shown {
					fmt.Fprint(p.progress, "\r\033[K")
				}
				return
			case <-t.C:
				if el := time.Since(start); el >= time.Second {
					m, c := p.calls()
					fmt.Fprintf(p.progress, "\r\033[K   ... %s: %s, %d Marketo and %d Certain calls so far", name, round(el), m-m0, c-c0)
					shown = true
				}
			}
		}
	}()
}

// End prints a step's row.
func (p *printer) End(s Step) {
	p.mu.Lock()
	if p.stop != nil {
		close(p.stop)
		<-p.done
		p.stop, p.done = nil, nil
	}
	p.n++
	n := p.n
	p.mu.Unlock()
	fn := s.Function
	if fn == "" {
		fn = "(Certain UI)"
	}
	what := describe(s.Counts)
	if s.Detail != "" {
		if what != "" {
			what += "; "
		}
		what += s.Detail
	}
	fmt.Fprintf(p.out, rowFormat, fmt.Sprint(n), s.Name, fn, s.Outcome, fmt.Sprint(s.MarketoCalls), fmt.Sprint(s.CertainCalls), round(s.Took), what)
}

// countOrder puts the per-record outcomes first, in the order a reader
// expects; other counts follow by name.
var countOrder = []string{store.OutcomeCreated, store.OutcomeUpdated, store.OutcomeRequested, store.OutcomeUnchanged,
	store.OutcomeSkipped, store.OutcomeFailed, "read", "changes", "sent", "changed"}

func describe(counts map[string]int) string {
	var parts []string
	for _, k := range countOrder {
		if v := counts[k]; v != 0 {
			parts = append(parts, fmt.Sprintf("%d %s", v, k))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		if v := counts[k]; v != 0 && !slices.Contains(countOrder, k) {
			parts = append(parts, fmt.Sprintf("%d %s", v, k))
		}
	}
	if len(parts) == 0 {
		return "nothing to do"
	}
	return strings.Join(parts, ", ")
}

func round(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return "<1ms"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}

func (p *printer) outro(env *inprocess.Env, res Result, took time.Duration, logPath string) {
	mTotal, cTotal := p.calls()
	fmt.Fprintf(p.out, "\nWhat that shows\n")
	for _, r := range res.Requests {
		fmt.Fprintf(p.out, "  - Marketo received Request Campaign %d for leads %v with tokens", r.CampaignID, r.LeadIDs)
		for _, t := range r.Tokens {
			fmt.Fprintf(p.out, " %s=%q", t.Name, t.Value)
		}
		fmt.Fprintln(p.out)
	}
	if pl := res.Plan; pl != nil {
		fmt.Fprintf(p.out, "  - the dry run of %s wrote nothing and said what its run then did: %s\n", pl.JobID, describe(outcomesOnly(res.Import.Counts)))
		for _, r := range pl.Records {
			fmt.Fprintf(p.out, "      planned: lead %s %s: %s\n", r.Key, r.Outcome, dryrun.Readable(r.Reason))
		}
		fmt.Fprintf(p.out, "      (cmctl plan JOB_ID --in-process, or {\"jobId\":…,\"dryRun\":true} on the function, plans any job)\n")
	}
	fmt.Fprintf(p.out, "  - the second create-or-update run sent no lead: %d unchanged, %d Marketo calls (first run: %d)\n",
		res.Resync.Counts[store.OutcomeUnchanged], res.Resync.MarketoCalls, res.FirstSync.MarketoCalls)
	fmt.Fprintf(p.out, "  - %d Marketo calls in all (budget: %d per 20 s, %d at once, %d a day), %d Certain calls, %s\n",
		mTotal, env.Conn.MarketoBudget.CallsPer20s, env.Conn.MarketoBudget.Concurrent, env.Conn.MarketoBudget.Daily, cTotal, round(took))
	fmt.Fprintf(p.out, "  - %d engagement and %d interest records are in Marketo's custom objects\n",
		len(env.Marketo.CustomObjectRecords(demodata.EngagementObject)), len(env.Marketo.CustomObjectRecords(demodata.InterestObject)))

	fmt.Fprintf(p.out, "\nWhere to look next\n")
	fmt.Fprintf(p.out, "  make test                      unit and integration tests (moto_server, simulators, Lambda emulator, cfn-lint)\n")
	fmt.Fprintf(p.out, "  make local-up; make local-invoke FN=sync-leads EVENT=events/direct-run.json\n")
	fmt.Fprintf(p.out, "                                 one built function under the Lambda emulator, as sam local invoke runs it\n")
	fmt.Fprintf(p.out, "  go run ./infra/cmctl help      the operator command: put configs, list jobs, run now, runs, failures, DLQ\n")
	fmt.Fprintf(p.out, "                                 (1007 failures above are leads sharing an e-mail in Marketo, \"type\" ones a\n")
	fmt.Fprintf(p.out, "                                 yes/no answer no Marketo boolean fits: the data set has both on purpose;\n")
	fmt.Fprintf(p.out, "                                 'cmctl failures <run-id>' lists such records, with their reasons, of a deployed run)\n")
	fmt.Fprintf(p.out, "  README.md                      configuration reference, deploying with SAM, operating it, Marketo limits\n")
	fmt.Fprintf(p.out, "  lib/testkit/demodata/config.go the connection and the six job configurations this demo used\n")
	fmt.Fprintf(p.out, "  docs/                          architecture, the jobs rule by rule, the Marketo and Certain contracts, operations\n")
	fmt.Fprintf(p.out, "  go run ./infra/demo -v -registrations 2000   a bigger data set (paced by the Marketo budget), with logs\n")
	if logPath != "" {
		fmt.Fprintf(p.out, "  %s   this run's logs\n", logPath)
	}
}

// outcomesOnly keeps the per-record outcome counts.
func outcomesOnly(c map[string]int) map[string]int {
	out := map[string]int{}
	for _, k := range []string{store.OutcomeCreated, store.OutcomeUpdated, store.OutcomeSkipped, store.OutcomeFailed, store.OutcomeUnchanged} {
		if c[k] > 0 {
			out[k] = c[k]
		}
	}
	return out
}
