package jobs

import (
	"context"
	"iter"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// Progress is a live view of the run an Executor is running, for an
// operator's progress line (cmctl run --in-process, cmctl plan, the bench).
// The executor attaches each run it starts (Executor.Progress) and an
// observer polls Snapshot; nothing job-specific is involved: the counts are
// the run's recorder's, the calls its clients', and the records read are
// counted on the clients' paged reads (Certain registration pages, which
// carry the event's total, and Marketo list pages). Safe for concurrent use.
type Progress struct {
	mu sync.Mutex
	progressState
}

// progressState is what a Progress knows of its run.
type progressState struct {
	jobID   string
	running bool
	started time.Time
	ended   time.Time
	rec     *Recorder
	cl      Clients
	m0, c0  int
	daily   int
	now     func() time.Time
	// Registration pages: where the run started, how far it got, of how
	// many; list leads read (a Marketo list has no total).
	regFirst, regPos, regTotal, regRead int
	listRead                            int
	regSeen                             bool
	// A run without a recorder (a trigger-campaign plan) counts its
	// outcomes here; changes is how many changes it has to settle, known
	// from changesAt.
	own       map[string]int
	changes   int
	changesAt time.Time
}

// ProgressSnapshot is a run's progress so far.
type ProgressSnapshot struct {
	JobID   string
	Running bool
	// Read is the records read so far (registrations, list leads); Total
	// the registrations the run has to read, 0 when unknown.
	Read, Total int
	// Done counts the records with an outcome; Sent those created, updated
	// or requested; Failed those failed.
	Done, Sent, Failed int
	// MarketoCalls and CertainCalls are the run's calls so far;
	// MarketoDaily the connection's daily share of Marketo calls (0: none).
	MarketoCalls, CertainCalls, MarketoDaily int
	Elapsed                                  time.Duration
	// Left estimates the time to the end from the registrations read so
	// far; 0 when it cannot tell.
	Left time.Duration
}

// begin attaches a run and returns its clients, metered.
func (p *Progress) begin(j config.Job, conn config.Connection, rec *Recorder, cl Clients, now func() time.Time) Clients {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.progressState = progressState{jobID: j.ID, running: true, started: now(), rec: rec, cl: cl, now: now,
		m0: cl.Marketo.Stats().Calls, c0: cl.Certain.Stats().Calls, daily: conn.MarketoBudget.Daily}
	return Clients{Marketo: meteredMarketo{Marketo: cl.Marketo, p: p}, Certain: meteredCertain{Certain: cl.Certain, p: p}}
}

// beginChanges attaches a trigger-campaign plan, which has no recorder:
// its changes are counted as they settle (settled), their number once
// known (planned).
func (p *Progress) beginChanges(j config.Job, conn config.Connection, cl Clients, now func() time.Time) Clients {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.progressState = progressState{jobID: j.ID, running: true, started: now(), cl: cl, now: now, own: map[string]int{},
		m0: cl.Marketo.Stats().Calls, c0: cl.Certain.Stats().Calls, daily: conn.MarketoBudget.Daily}
	return Clients{Marketo: meteredMarketo{Marketo: cl.Marketo, p: p}, Certain: meteredCertain{Certain: cl.Certain, p: p}}
}

// planned says how many changes the plan settles from now on.
func (p *Progress) planned(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.changes, p.changesAt = n, p.now()
}

// settled counts one change's outcome.
func (p *Progress) settled(outcome string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.own != nil {
		p.own[outcome]++
	}
}

// end marks the run finished.
func (p *Progress) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running, p.ended = false, p.now()
}

// Snapshot returns the progress of the current (or last) run.
func (p *Progress) Snapshot() ProgressSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := ProgressSnapshot{JobID: p.jobID, Running: p.running, Read: p.regRead + p.listRead, MarketoDaily: p.daily}
	if p.rec == nil && p.own == nil {
		return s
	}
	end := p.ended
	if p.running {
		end = p.now()
	}
	s.Elapsed = end.Sub(p.started)
	c := p.own
	if p.rec != nil {
		c = p.rec.Counts()
	}
	for _, k := range []string{store.OutcomeCreated, store.OutcomeUpdated, store.OutcomeRequested, store.OutcomeSkipped, store.OutcomeFailed, store.OutcomeUnchanged} {
		s.Done += c[k]
	}
	s.Sent = c[store.OutcomeCreated] + c[store.OutcomeUpdated] + c[store.OutcomeRequested]
	s.Failed = c[store.OutcomeFailed]
	s.MarketoCalls, s.CertainCalls = p.cl.Marketo.Stats().Calls-p.m0, p.cl.Certain.Stats().Calls-p.c0
	if p.listRead == 0 && p.regSeen {
		s.Total = p.regTotal
		if done := p.regPos - p.regFirst; p.running && done > 0 && p.regTotal > p.regPos {
			s.Left = time.Duration(float64(s.Elapsed) * float64(p.regTotal-p.regPos) / float64(done))
		}
	}
	if p.changes > 0 {
		s.Left = 0
		if p.running && s.Done > 0 && p.changes > s.Done {
			s.Left = time.Duration(float64(end.Sub(p.changesAt)) * float64(p.changes-s.Done) / float64(s.Done))
		}
	}
	return s
}

func (p *Progress) registrations(page certain.Page[certain.Registration]) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.regSeen {
		p.regSeen, p.regFirst = true, page.StartIndex
	}
	p.regRead += len(page.Items)
	p.regPos = max(p.regPos, page.NextIndex)
	p.regTotal = max(page.Total, p.regPos)
}

func (p *Progress) listLeads(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.listRead += n
}

// meteredCertain counts the registrations a run reads.
type meteredCertain struct {
	Certain
	p *Progress
}

func (m meteredCertain) RegistrationPages(ctx context.Context, acct, event string, q certain.RegistrationQuery) iter.Seq2[certain.Page[certain.Registration], error] {
	return func(yield func(certain.Page[certain.Registration], error) bool) {
		for page, err := range m.Certain.RegistrationPages(ctx, acct, event, q) {
			if err == nil {
				m.p.registrations(page)
			}
			if !yield(page, err) {
				return
			}
		}
	}
}

// meteredMarketo counts the list leads a run reads.
type meteredMarketo struct {
	Marketo
	p *Progress
}

func (m meteredMarketo) ListLeadsPage(ctx context.Context, listID int, fields []string, pageToken string, batchSize int) (marketo.ListPage, error) {
	page, err := m.Marketo.ListLeadsPage(ctx, listID, fields, pageToken, batchSize)
	if err == nil {
		m.p.listLeads(len(page.Leads))
	}
	return page, err
}
