package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// What engagement-metrics (engagement.go) and interest-metrics
// (interest.go) share: the checkpointed stream of registrations, uploaded in
// batches to a custom object, and lead resolution with its failure memo.

// metricsBatch is how many registrations (and, for interest, at most how
// many records) one flush handles: one Sync Custom Objects call and one
// lead lookup at most.
const metricsBatch = 300

// metricsCheckpoint is the progress of a metrics run: every registration
// before offset Next has been uploaded (or recorded as failed).
type metricsCheckpoint struct {
	Next int `json:"next"`
}

type metricsRun struct {
	rc      *RunContext
	resolve leadResolver
	cp      metricsCheckpoint
	scope   string
	up      *coUploader
	heals   healPool // records refused for a dead lead, healed together (metrics_heal.go)
}

func newMetricsRun(rc *RunContext, resolve leadResolver) *metricsRun {
	rc.writeBackTurns = true // batches in the background (leads.go writeBacks)
	return &metricsRun{rc: rc, resolve: resolve, scope: "job:" + rc.Job.ID}
}

func (m *metricsRun) loadCheckpoint() error {
	if len(m.rc.Checkpoint) == 0 {
		return nil
	}
	if err := json.Unmarshal(m.rc.Checkpoint, &m.cp); err != nil {
		return fmt.Errorf("job %q: unreadable checkpoint: %w", m.rc.Job.ID, err)
	}
	if m.cp.Next < 0 {
		return fmt.Errorf("job %q: checkpoint offset %d is negative", m.rc.Job.ID, m.cp.Next)
	}
	return nil
}

// save stores a checkpoint at registration offset next and returns cause
// (joined with the save failure, if any).
func (m *metricsRun) save(ctx context.Context, next int, cause error) error {
	b, _ := json.Marshal(metricsCheckpoint{Next: next}) // a struct of ints always marshals
	if err := m.rc.SaveCheckpoint(ctx, b); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// stopIfDue saves the unchanged checkpoint and returns ErrCheckpointed when
// the soft deadline passed while the inputs were being read.
func (m *metricsRun) stopIfDue(ctx context.Context) error {
	if m.rc.ShouldStop(ctx) {
		return m.save(ctx, m.cp.Next, ErrCheckpointed)
	}
	return nil
}

// pendingReg is one buffered registration with what its records need.
type pendingReg struct {
	Reg       certain.Registration
	start     int // offset of the page it came from
	weight    int // records it may produce
	NeedsLead bool
	Eng       engagementAgg
	Tags      []string           // interest: tags with points > 0, sorted
	Points    map[string]float64 // interest: points per tag
	Old       interestManifest   // interest: what was sent before
}

// stream reads the event's registrations from the checkpoint on, buffers
// what accept keeps, and hands full batches to flush, which run in the
// background (up to the Marketo budget's concurrency, flights.go) while the
// next pages are read. It checkpoints at the soft deadline (after the
// batches it started ended) and on any failure (at the first registration
// not done, so nothing is lost; the delta hashes keep a resent batch from
// reaching Marketo twice).
func (m *metricsRun) stream(ctx context.Context, q certain.RegistrationQuery,
	accept func(ctx context.Context, page []certain.Registration) ([]pendingReg, error),
	flush func(ctx context.Context, batch []pendingReg, turn *claimTurn) error) error {
	rc := m.rc
	q.StartIndex = m.cp.Next
	st := &metricsStream{m: m, flush: flush, fl: newFlights(batchFlights(rc.Conn))}
	for page, err := range rc.Clients.Certain.RegistrationPages(ctx, rc.Job.Account, rc.Job.Event, q) {
		if err != nil {
			return st.finish(ctx, page.StartIndex, fmt.Errorf("read registrations at offset %d: %w", page.StartIndex, err))
		}
		if st.fl.failed() != nil {
			return st.finish(ctx, page.StartIndex, nil)
		}
		entries, err := accept(ctx, page.Items)
		if err != nil {
			return st.finish(ctx, page.StartIndex, err)
		}
		for i := range entries {
			entries[i].start = page.StartIndex
			entries[i].weight = max(entries[i].weight, 1)
		}
		st.buf = append(st.buf, entries...)
		if err := st.dispatch(ctx, false); err != nil {
			return st.finish(ctx, page.NextIndex, err)
		}
		if page.Last {
			break
		}
		if rc.ShouldStop(ctx) {
			if err := st.dispatch(ctx, true); err != nil {
				return st.finish(ctx, page.NextIndex, err)
			}
			return st.finish(ctx, page.NextIndex, ErrCheckpointed)
		}
	}
	return st.finish(ctx, -1, st.dispatch(ctx, true))
}

// metricsStream is a stream's buffer and its batches in the background.
type metricsStream struct {
	m     *metricsRun
	flush func(ctx context.Context, batch []pendingReg, turn *claimTurn) error
	fl    *flights
	buf   []pendingReg
	turn  *claimTurn // the last batch's turn to claim its records' keys
}

// dispatch starts the buffer's full batches (all: the partly filled one
// too) in the background.
func (st *metricsStream) dispatch(ctx context.Context, all bool) error {
	for len(st.buf) > 0 {
		n, w := 0, 0
		for n < len(st.buf) && n < metricsBatch && (n == 0 || w+st.buf[n].weight <= metricsBatch) {
			w += st.buf[n].weight
			n++
		}
		if !all && n == len(st.buf) && w < metricsBatch && n < metricsBatch {
			return nil // not full yet
		}
		batch := st.buf[:n:n]
		turn := st.turn.next()
		err := st.fl.start(ctx, flightUpload, batch[0].start, nil, 0, func() error {
			defer turn.release()
			return st.flush(ctx, batch, turn)
		})
		if err != nil {
			return err
		}
		st.turn = turn
		st.buf = st.buf[n:]
	}
	return nil
}

// flightUpload is the kind of a metrics batch in the background.
const flightUpload = "upload"

// finish waits for the batches in the background, heals the records they
// pooled (unless a batch failed or the run must stop: quota, credentials,
// configuration, the context) and, unless the stream is done (every
// page read: next < 0, and no error), saves the checkpoint at the first
// registration not done: in the buffer, in a batch that failed or whose
// records still wait for healing, or next.
func (st *metricsStream) finish(ctx context.Context, next int, cause error) error {
	werr := st.fl.wait()
	if werr == nil && !isStopping(cause) {
		// Also after a read error: the checkpoint then stays where it
		// happened, not at the first pooled batch, many batches back.
		werr = st.m.healAll(ctx)
	}
	switch {
	case werr == nil && cause == nil && next < 0:
		return nil
	case werr != nil && (cause == nil || errors.Is(cause, ErrCheckpointed)):
		cause = werr
	case werr != nil:
		cause = errors.Join(cause, werr)
	}
	at := next
	if at < 0 {
		at = math.MaxInt
	}
	if len(st.buf) > 0 {
		at = min(at, st.buf[0].start)
	}
	if at = st.m.heals.lowest(st.fl.lowest(at)); at == math.MaxInt {
		at = st.m.cp.Next // nothing says where: where this invocation began
	}
	return st.m.save(ctx, at, cause)
}

// leadIDs resolves the lead ids of regs and records an outcome for every
// registration left without one.
//
// A registration whose lead could not be resolved for a permanent reason
// (1007: several leads share the email; 1004: update-only and no lead has
// it) is remembered under "l:<registrationCode>" with a hash of what the
// resolution depends on (email, External Profile ID, Source of Profile). A
// later run with Params.RetryFailuresAfter set does not look it up again
// while that hash is the same and less than that has passed, but records
// the same outcome again; by default it is looked up again every run.
//
// notes says, by registration code, what resolving the lead did that the
// record's outcome should tell (a stale id healed).
func (m *metricsRun) leadIDs(ctx context.Context, regs []certain.Registration) (ids map[string]int, notes map[string]string, err error) {
	if len(regs) == 0 {
		return map[string]int{}, nil, nil
	}
	now := m.rc.Now()
	memos, err := m.readLookupMemos(ctx, regs)
	if err != nil {
		return nil, nil, err
	}
	ask := m.notHeld(regs, memos, now)
	if len(ask) == 0 {
		return map[string]int{}, nil, nil
	}
	res, err := m.resolve(ctx, m.rc, ask)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve lead ids: %w", err)
	}
	put, del := m.recordResolution(ask, res.IDs, res.Outs, memos, now)
	m.storeLookupMemos(ctx, put, del)
	return res.IDs, res.Notes, nil
}

// lookupMemos is what leadIDs knows of earlier look-ups of a batch.
type lookupMemos struct {
	idHash map[string]string // registration code -> leadIdentityHash, for those looked up by email
	stored map[string]string // lookupPrefix + registration code -> remembered failure
}

// readLookupMemos reads the remembered look-up failures of the
// registrations whose lead is looked up by email (none on a forced run).
func (m *metricsRun) readLookupMemos(ctx context.Context, regs []certain.Registration) (lookupMemos, error) {
	rc := m.rc
	fields := rc.Clients.Certain.Fields().WithDefaults()
	mapping := rc.Conn.WithDefaults().FieldMapping
	memos := lookupMemos{idHash: map[string]string{}, stored: map[string]string{}}
	var keys []string
	for _, r := range regs {
		if _, ok := knownLeadID(fields, r.Profile); !ok {
			memos.idHash[r.Code] = leadIdentityHash(mapping, r)
			keys = append(keys, lookupPrefix+r.Code)
		}
	}
	if len(keys) > 0 && !rc.Job.Params.ForceFull {
		var err error
		if memos.stored, err = rc.Store.GetHashes(ctx, m.scope, keys); err != nil {
			return lookupMemos{}, fmt.Errorf("read lead look-up failures: %w", err)
		}
	}
	return memos, nil
}

// notHeld returns the registrations to resolve, recording the others: those
// whose remembered failure still stands (see leads_retry.go).
func (m *metricsRun) notHeld(regs []certain.Registration, memos lookupMemos, now time.Time) []certain.Registration {
	rc := m.rc
	ask := make([]certain.Registration, 0, len(regs))
	for _, r := range regs {
		if h, ok := memos.idHash[r.Code]; ok {
			if after := time.Duration(rc.Job.Params.RetryFailuresAfter); parseDelta(memos.stored[lookupPrefix+r.Code]).held(h, now, after) {
				rc.Run.Record(parseDelta(memos.stored[lookupPrefix+r.Code]).heldOutcome(r.Code, r.Profile.Email, after))
				rc.Run.Add("failuresNotRetried", 1)
				continue
			}
		}
		ask = append(ask, r)
	}
	return ask
}

// recordResolution records the outcome of every registration of ask left
// without a lead, and returns the failure memos to store (put) and those
// of registrations now resolved to forget (del).
func (m *metricsRun) recordResolution(ask []certain.Registration, ids map[string]int, outs []store.RecordOutcome, memos lookupMemos, now time.Time) (put map[string]string, del []string) {
	rc := m.rc
	told := map[string]bool{}
	put = map[string]string{}
	for _, o := range outs {
		if _, ok := ids[o.Key]; ok {
			// The lead was found or created on the way: a side count, the
			// registration's own outcome is its custom object record.
			rc.Run.Add("lead"+titleCase(o.Outcome), 1)
			continue
		}
		told[o.Key] = true
		rc.Run.Record(o)
		if h, ok := memos.idHash[o.Key]; ok {
			if e, ok := failureMemo(o, h, now); ok {
				put[lookupPrefix+o.Key] = e.encode()
			}
		}
	}
	for _, r := range ask {
		_, resolved := ids[r.Code]
		if !resolved && !told[r.Code] {
			rc.Run.Record(store.RecordOutcome{Key: r.Code, Email: r.Profile.Email, Outcome: store.OutcomeFailed,
				Reason: "no Marketo lead id could be resolved"})
		}
		if resolved && memos.stored[lookupPrefix+r.Code] != "" {
			del = append(del, lookupPrefix+r.Code)
		}
	}
	return put, del
}

// storeLookupMemos writes and deletes failure memos, best effort: a lost
// memo costs one look-up next run, nothing more.
func (m *metricsRun) storeLookupMemos(ctx context.Context, put map[string]string, del []string) {
	rc := m.rc
	if len(put) > 0 {
		if err := rc.Store.PutHashes(ctx, m.scope, put); err != nil {
			rc.Logger.WarnContext(ctx, "cannot remember lead look-up failures; they are looked up again next run", "registrations", len(put), "error", err)
		}
	}
	if len(del) > 0 {
		if err := rc.Store.DeleteHashes(ctx, m.scope, del); err != nil {
			rc.Logger.WarnContext(ctx, "cannot forget resolved lead look-up failures", "registrations", len(del), "error", err)
		}
	}
}

// lookupPrefix marks a remembered lead look-up failure in the job's scope.
const lookupPrefix = "l:"

// leadIdentityHash fingerprints what resolving a registration's lead
// depends on: its email, External Profile ID and Source of Profile.
func leadIdentityHash(mapping []config.FieldMap, r certain.Registration) string {
	return PayloadHash(struct {
		V                  int
		Email, Ext, Source string
	}{1, emailKey(leadEmail(BuildLeadPayload(mapping, r), r)), strings.TrimSpace(r.Profile.ExternalID), strings.ToLower(strings.TrimSpace(r.Profile.Source))})
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// recordUnknownStatus records a registration skipped because its status is
// not in the connection's vocabulary (never guessed).
func (m *metricsRun) recordUnknownStatus(r certain.Registration) {
	m.rc.Run.Record(store.RecordOutcome{Key: r.Code, Email: r.Profile.Email, Outcome: store.OutcomeSkipped,
		Reason: fmt.Sprintf("registration status %q is not in the connection's status list", r.Status)})
}

func (m *metricsRun) eventName(ctx context.Context, co coPlan) (string, error) {
	if _, ok := co.Fields[FieldProgramName]; !ok {
		return "", nil
	}
	ev := m.rc.Event // read before the job ran (checkScope)
	if ev.Code == "" {
		var err error
		if ev, err = m.rc.Clients.Certain.GetEvent(ctx, m.rc.Job.Account, m.rc.Job.Event); err != nil {
			return "", fmt.Errorf("read event %s/%s: %w", m.rc.Job.Account, m.rc.Job.Event, err)
		}
	}
	if strings.TrimSpace(ev.Name) == "" {
		return m.rc.Job.Event, nil
	}
	return strings.TrimSpace(ev.Name), nil
}

// leadResolver maps registrations (by registration code) to Marketo lead ids
// and returns the outcomes of the registrations it could not map. The jobs
// use ResolveLeadIDs, shared with trigger-campaign and sync-leads.
type leadResolver func(ctx context.Context, rc *RunContext, regs []certain.Registration) (leadResolution, error)

// includedCategories is Params.Categories or, by default, accepted and
// pending.
func includedCategories(p config.Params) []string {
	if len(p.Categories) > 0 {
		return p.Categories
	}
	return []string{config.CategoryAccepted, config.CategoryPending}
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func eqFold(a, b string) bool { return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b)) }

func inFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return eqFold(x, s) })
}
