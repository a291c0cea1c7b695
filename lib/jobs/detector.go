package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// ChangeSender puts registration-change messages on the queue (the SQS
// adapter in lib/app sends them 10 per SendMessageBatch call). sent has one
// entry per message; err is non-nil when any message was not sent.
type ChangeSender interface {
	SendChanges(ctx context.Context, msgs []ChangeMessage) (sent []bool, err error)
}

// Detector is the registration change detector. Certain has no public
// webhook, so every minute it polls, for each account and event with an
// enabled trigger-campaign job, the registrations modified since the
// watermark (less Overlap, since Certain's "_after" may be inclusive and
// clocks drift), compares each status with the last status it saw, and
// sends one ChangeMessage per change.
//
// A change is never lost: the messages of a page are sent before the
// last-seen statuses and the watermark move, and only the statuses of the
// messages the queue accepted are stored. A message sent twice (a crash
// between the send and the store write) is harmless, since trigger-campaign
// is idempotent per change.
type Detector struct {
	Store     store.Store
	Connector Connector
	Sender    ChangeSender
	Now       func() time.Time
	Logger    *slog.Logger
	// Overlap is re-read before the watermark when the connection sets no
	// watermarkOverlap (default 2 minutes).
	Overlap time.Duration
	// EmitBaseline makes the first run for an event send a change (from
	// status "") for every registration; by default it only records them.
	EmitBaseline bool
	// Margin: no new page or scope starts when less than this is left
	// before ctx's deadline (default 10 s, at most a sixth of the time left
	// when the tick starts).
	Margin time.Duration
	// Queue is the detector's scope queue: DispatchScopes sends to it
	// (detector_scope.go). Tick does not use it.
	Queue ScopeQueue
}

// DetectorResult says what one tick did, per account/event.
type DetectorResult struct {
	Scopes []ScopeResult `json:"scopes"`
}

// ScopeResult is one account/event of a tick.
type ScopeResult struct {
	Account  string `json:"account"`
	Event    string `json:"event"`
	Baseline bool   `json:"baseline,omitempty"`
	Read     int    `json:"read"`
	Changes  int    `json:"changes"`
	Sent     int    `json:"sent"`
	// Invalid counts changes that could not be expressed as a message (for
	// example a status of more than 256 characters): logged, not sent.
	Invalid   int       `json:"invalid,omitempty"`
	Watermark time.Time `json:"watermark"`
	Error     string    `json:"error,omitempty"`
	// Skipped says why a scope message did not poll (PollScope).
	Skipped string `json:"skipped,omitempty"`
}

// env is the detector's clock and logger (it makes no run records, so no
// run ids).
func (d *Detector) env() runEnv { return runEnv{clock: d.Now, log: d.Logger} }

// DetectorScope is the store scope of one account and event.
func DetectorScope(account, event string) string { return account + "/" + event }

// Tick polls every account/event served by an enabled trigger-campaign job,
// one after another, in this invocation (the in-process form; a deployed
// detector fans the scopes out through its queue: DispatchScopes and
// PollScope). A failing scope does not stop the others; the error joins
// every scope's.
func (d *Detector) Tick(ctx context.Context) (DetectorResult, error) {
	var res DetectorResult
	scopes, err := d.Scopes(ctx)
	if err != nil {
		return res, err
	}
	soft := newSoftDeadline(ctx, d.Margin, 10*time.Second)
	var errs []error
	for _, s := range scopes {
		sr := ScopeResult{Account: s.Account, Event: s.Event}
		if soft.reached(ctx) {
			sr.Error = "not polled: invocation deadline near"
			res.Scopes = append(res.Scopes, sr)
			continue
		}
		if err := d.pollScope(ctx, soft, s, &sr); err != nil {
			err = fmt.Errorf("detector %s: %w", s, err)
			sr.Error = err.Error()
			errs = append(errs, err)
		}
		d.env().logger().InfoContext(ctx, "registration changes polled", "account", s.Account, "event", s.Event,
			"baseline", sr.Baseline, "read", sr.Read, "changes", sr.Changes, "sent", sr.Sent, "watermark", sr.Watermark, "error", sr.Error)
		res.Scopes = append(res.Scopes, sr)
	}
	return res, errors.Join(errs...)
}

// poll reads the scope's registrations modified since its watermark and
// sends their status changes. Progress is stored page by page, so a poll
// stopped at the soft deadline loses nothing: the next tick continues.
func (d *Detector) poll(ctx context.Context, soft softDeadline, ct Certain, sr *ScopeResult, overlap time.Duration) error {
	// Certain answers 404 for an unknown event as for an empty search: the
	// event is read first, so that a mistyped code is an error, not an
	// event without registrations.
	if _, err := ct.GetEvent(ctx, sr.Account, sr.Event); err != nil {
		if certain.IsNotFound(err) {
			return Configf("event %q not found in Certain account %q (Certain answers 404 for an unknown event or account): %v", sr.Event, sr.Account, err)
		}
		return fmt.Errorf("read event: %w", err)
	}
	p, q, err := d.startPoll(ctx, sr, overlap)
	if err != nil {
		return err
	}
	for page, err := range ct.RegistrationPages(ctx, sr.Account, sr.Event, q) {
		if err != nil {
			return fmt.Errorf("read registrations modified after %s: %w", q.ModifiedAfter.Format(time.RFC3339), err)
		}
		if soft.reached(ctx) {
			return nil // progress so far is stored; the next tick continues
		}
		if err := p.page(ctx, page); err != nil {
			return err
		}
	}
	return p.finish(ctx)
}

// scopePoll is one poll of one account/event.
type scopePoll struct {
	d       *Detector
	sr      *ScopeResult
	scope   string
	overlap time.Duration
	wm      time.Time         // the watermark as stored
	have    bool              // a watermark is stored: this is not the baseline
	send    bool              // changes are sent, not only recorded
	bl      *baselineProgress // a baseline that only records: its progress; else nil
}

// startPoll reads the scope's watermark and returns the poll with the
// query that continues from it.
func (d *Detector) startPoll(ctx context.Context, sr *ScopeResult, overlap time.Duration) (*scopePoll, certain.RegistrationQuery, error) {
	q := certain.RegistrationQuery{}
	scope := DetectorScope(sr.Account, sr.Event)
	wm, have, err := d.Store.GetWatermark(ctx, scope)
	if err != nil {
		return nil, q, fmt.Errorf("read watermark: %w", err)
	}
	sr.Watermark = wm
	sr.Baseline = !have
	p := &scopePoll{d: d, sr: sr, scope: scope, overlap: overlap, wm: wm, have: have, send: have || d.EmitBaseline}
	if p.overlap <= 0 {
		p.overlap = d.Overlap
	}
	if p.overlap <= 0 {
		p.overlap = config.DefaultWatermarkOverlap
	}
	if have && !wm.IsZero() {
		// A zero watermark is "from the beginning" (finish): no filter.
		q.ModifiedAfter = wm.Add(-p.overlap)
	}
	// A baseline that records without sending sets the watermark only once
	// it has read its last page: a watermark set half-way would make the
	// next tick send every unread registration as a new one. Progress in
	// between is a checkpoint (the offset to read next and the latest
	// dateModified so far).
	if !p.send {
		if p.bl, err = d.loadBaseline(ctx, scope); err != nil {
			return nil, q, err
		}
		q.StartIndex = p.bl.cp.Next
	}
	return p, q, nil
}

// page handles one page of registrations: it sends the changes it finds,
// stores the last-seen statuses, then moves the watermark (or the
// baseline's progress) past the page.
func (p *scopePoll) page(ctx context.Context, page certain.Page[certain.Registration]) error {
	p.sr.Read += len(page.Items)
	codes := make([]string, 0, len(page.Items))
	for _, r := range page.Items {
		codes = append(codes, r.Code)
	}
	last, err := p.d.Store.GetLastStatuses(ctx, p.scope, codes)
	if err != nil {
		return fmt.Errorf("read last-seen statuses: %w", err)
	}
	seen, msgs, pageMax := p.changes(ctx, page.Items, last)
	p.sr.Changes += len(msgs)
	sendErr := p.sendChanges(ctx, msgs, seen)
	if len(seen) > 0 {
		if err := p.d.Store.PutLastStatuses(context.WithoutCancel(ctx), p.scope, seen); err != nil {
			return errors.Join(sendErr, fmt.Errorf("store last-seen statuses: %w", err))
		}
	}
	if sendErr != nil {
		return sendErr // the watermark stays: the next tick re-reads this page
	}
	return p.advance(ctx, pageMax, page.NextIndex)
}

// changes compares the page's statuses with the last-seen ones (last). seen
// holds the new last-seen status of every registration whose status
// changed; msgs the changes to send (none while a baseline only records);
// pageMax the latest dateModified of the page, or the watermark.
func (p *scopePoll) changes(ctx context.Context, regs []certain.Registration, last map[string]string) (seen map[string]string, msgs []ChangeMessage, pageMax time.Time) {
	seen = map[string]string{}
	pageMax = p.wm
	for _, r := range regs {
		if r.DateModified.After(pageMax) {
			pageMax = r.DateModified
		}
		if r.Code == "" || r.Status == "" {
			continue
		}
		prev, known := last[r.Code]
		if s, dup := seen[r.Code]; dup {
			prev, known = s, true
		}
		if known && normStatus(prev) == normStatus(r.Status) {
			continue
		}
		seen[r.Code] = r.Status
		if !p.send {
			continue
		}
		m := p.d.change(p.sr.Account, p.sr.Event, r.Code, prev, r.Status, r.DateModified)
		if err := m.Validate(); err != nil {
			// A value no consumer could accept (a 300-character status,
			// a control character): reported, and recorded as seen, so
			// that it does not hold the watermark back every tick.
			p.sr.Invalid++
			p.d.env().logger().WarnContext(ctx, "registration change not sent: it cannot be expressed as a change message",
				"account", p.sr.Account, "event", p.sr.Event, "registration", r.Code, "reason", err.Error())
			continue
		}
		msgs = append(msgs, m)
	}
	return seen, msgs, pageMax
}

// sendChanges sends msgs. A change the queue did not accept keeps its old
// last-seen status (it is dropped from seen), so the next tick finds it
// again.
func (p *scopePoll) sendChanges(ctx context.Context, msgs []ChangeMessage, seen map[string]string) error {
	if len(msgs) == 0 {
		return nil
	}
	sent, err := p.d.Sender.SendChanges(ctx, msgs)
	for i, m := range msgs {
		if i < len(sent) && sent[i] {
			p.sr.Sent++
			continue
		}
		if seen[m.RegistrationCode] == m.NewStatus {
			delete(seen, m.RegistrationCode)
		}
		if err == nil {
			err = fmt.Errorf("change %s was not reported as sent", m.ChangeID)
		}
	}
	if err != nil {
		return fmt.Errorf("send %d changes: %w", len(msgs), err)
	}
	return nil
}

// advance moves the progress past a page whose changes are all sent: the
// baseline's checkpoint, or the watermark.
func (p *scopePoll) advance(ctx context.Context, pageMax time.Time, next int) error {
	if p.bl != nil {
		if pageMax.After(p.bl.cp.Max) {
			p.bl.cp.Max = pageMax
		}
		p.bl.cp.Next = next
		return p.d.saveBaseline(ctx, p.bl)
	}
	if pageMax.After(p.wm) || !p.have {
		if err := p.d.Store.PutWatermark(context.WithoutCancel(ctx), p.scope, pageMax); err != nil {
			return fmt.Errorf("store watermark: %w", err)
		}
		p.wm, p.have = pageMax, true
		p.sr.Watermark = p.wm
	}
	return nil
}

// finish ends a poll that read every page: a completed baseline sets the
// watermark, and so does the first poll of an event with no registrations.
func (p *scopePoll) finish(ctx context.Context) error {
	if p.bl != nil && !p.bl.cp.Max.IsZero() {
		// The baseline is complete: from now on, changes are sent.
		if err := p.d.Store.PutWatermark(context.WithoutCancel(ctx), p.scope, p.bl.cp.Max); err != nil {
			return fmt.Errorf("store watermark: %w", err)
		}
		p.sr.Watermark = p.bl.cp.Max
		return p.d.endBaseline(ctx, p.bl)
	}
	if !p.have {
		// An event with no registrations yet: the baseline is "nothing", so
		// every registration that appears is a change. The watermark is
		// "from the beginning" (zero), never this product's clock: Certain's
		// dateModified is written in the tenant's zone and clock, and a
		// watermark from another clock could lie after a registration's
		// dateModified and hide it. The next polls read the event without a
		// filter until its first registration gives a Certain timestamp.
		if err := p.d.Store.PutWatermark(context.WithoutCancel(ctx), p.scope, time.Time{}); err != nil {
			return fmt.Errorf("store watermark: %w", err)
		}
		p.sr.Watermark = time.Time{}
	}
	return nil
}

// change builds the message of a detected change, tidying what Certain may
// send loosely: surrounding spaces, and a missing dateModified (then the
// time of detection).
func (d *Detector) change(account, event, code, prev, next string, at time.Time) ChangeMessage {
	if at.IsZero() {
		at = d.env().now()
	}
	return NewChange(account, event, strings.TrimSpace(code), strings.TrimSpace(prev), strings.TrimSpace(next), at)
}

// baselineProgress is the checkpoint of a baseline still being read.
type baselineProgress struct {
	key     string
	version int64
	cp      baselineCheckpoint
}

type baselineCheckpoint struct {
	Next int       `json:"next"` // Certain offset to read next
	Max  time.Time `json:"max"`  // latest dateModified read so far
}

func baselineKey(scope string) string { return "detector-baseline:" + scope }

func (d *Detector) loadBaseline(ctx context.Context, scope string) (*baselineProgress, error) {
	bl := &baselineProgress{key: baselineKey(scope)}
	cp, err := d.Store.GetCheckpoint(ctx, bl.key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return bl, nil
	case err != nil:
		return nil, fmt.Errorf("read baseline progress: %w", err)
	}
	bl.version = cp.Version
	if err := json.Unmarshal(cp.Data, &bl.cp); err != nil || bl.cp.Next < 0 {
		// Unreadable: record the baseline again from the start (it sends nothing).
		bl.cp = baselineCheckpoint{}
	}
	return bl, nil
}

func (d *Detector) saveBaseline(ctx context.Context, bl *baselineProgress) error {
	data, err := json.Marshal(bl.cp)
	if err != nil {
		return fmt.Errorf("encode baseline progress: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	v, err := d.Store.PutCheckpoint(sctx, bl.key, store.Checkpoint{Data: data, Updated: d.env().now()}, bl.version)
	if err != nil {
		return fmt.Errorf("store baseline progress: %w", err)
	}
	bl.version = v
	return nil
}

func (d *Detector) endBaseline(ctx context.Context, bl *baselineProgress) error {
	if bl.version == 0 {
		return nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := d.Store.DeleteCheckpoint(sctx, bl.key, bl.version); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("clear baseline progress: %w", err)
	}
	return nil
}
