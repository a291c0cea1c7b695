package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	// Overlap is re-read before the watermark (default 2 minutes).
	Overlap time.Duration
	// EmitBaseline makes the first run for an event send a change (from
	// status "") for every registration; by default it only records them.
	EmitBaseline bool
	// Margin: no new page or scope starts when less than this is left
	// before ctx's deadline (default 10 s, at most a sixth of the time left
	// when the tick starts).
	Margin time.Duration
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
}

// env is the detector's clock and logger (it makes no run records, so no
// run ids).
func (d *Detector) env() runEnv { return runEnv{clock: d.Now, log: d.Logger} }

// DetectorScope is the store scope of one account and event.
func DetectorScope(account, event string) string { return account + "/" + event }

// Tick polls every account/event served by an enabled trigger-campaign job.
// A failing scope does not stop the others; the error joins every scope's.
func (d *Detector) Tick(ctx context.Context) (DetectorResult, error) {
	var res DetectorResult
	jobs, err := d.Store.ListJobs(ctx, config.TypeTriggerCampaign)
	if err != nil {
		return res, fmt.Errorf("detector: list trigger-campaign jobs: %w", err)
	}
	type scope struct{ account, event string }
	var scopes []scope
	for _, j := range jobs {
		s := scope{j.Account, j.Event}
		if j.Enabled && j.Event != "" && !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	soft := newSoftDeadline(ctx, d.Margin, 10*time.Second)
	clients := map[string]Clients{}
	var errs []error
	for _, s := range scopes {
		sr := ScopeResult{Account: s.account, Event: s.event}
		if soft.reached(ctx) {
			sr.Error = "not polled: invocation deadline near"
			res.Scopes = append(res.Scopes, sr)
			continue
		}
		cl, ok := clients[s.account]
		if !ok {
			conn, err := d.Store.GetConnection(ctx, s.account)
			if err == nil {
				cl, err = d.Connector.Connect(ctx, conn.WithDefaults())
			}
			if err != nil {
				err = fmt.Errorf("detector %s/%s: connect: %w", s.account, s.event, err)
				sr.Error = err.Error()
				errs = append(errs, err)
				res.Scopes = append(res.Scopes, sr)
				continue
			}
			clients[s.account] = cl
		}
		if err := d.poll(ctx, soft, cl.Certain, &sr); err != nil {
			err = fmt.Errorf("detector %s/%s: %w", s.account, s.event, err)
			sr.Error = err.Error()
			errs = append(errs, err)
		}
		d.env().logger().InfoContext(ctx, "registration changes polled", "account", s.account, "event", s.event,
			"baseline", sr.Baseline, "read", sr.Read, "changes", sr.Changes, "sent", sr.Sent, "watermark", sr.Watermark, "error", sr.Error)
		res.Scopes = append(res.Scopes, sr)
	}
	return res, errors.Join(errs...)
}

func (d *Detector) poll(ctx context.Context, soft softDeadline, ct Certain, sr *ScopeResult) error {
	scope := DetectorScope(sr.Account, sr.Event)
	wm, have, err := d.Store.GetWatermark(ctx, scope)
	if err != nil {
		return fmt.Errorf("read watermark: %w", err)
	}
	sr.Watermark = wm
	sr.Baseline = !have
	overlap := d.Overlap
	if overlap <= 0 {
		overlap = 2 * time.Minute
	}
	q := certain.RegistrationQuery{}
	if have {
		q.ModifiedAfter = wm.Add(-overlap)
	}
	send := have || d.EmitBaseline
	// A baseline that records without sending sets the watermark only once
	// it has read its last page: a watermark set half-way would make the
	// next tick send every unread registration as a new one. Progress in
	// between is a checkpoint (the offset to read next and the latest
	// dateModified so far).
	var bl *baselineProgress
	if !send {
		if bl, err = d.loadBaseline(ctx, scope); err != nil {
			return err
		}
		q.StartIndex = bl.cp.Next
	}
	for page, err := range ct.RegistrationPages(ctx, sr.Account, sr.Event, q) {
		if err != nil {
			return fmt.Errorf("read registrations modified after %s: %w", q.ModifiedAfter.Format(time.RFC3339), err)
		}
		if soft.reached(ctx) {
			return nil // progress so far is stored; the next tick continues
		}
		sr.Read += len(page.Items)
		codes := make([]string, 0, len(page.Items))
		for _, r := range page.Items {
			codes = append(codes, r.Code)
		}
		last, err := d.Store.GetLastStatuses(ctx, scope, codes)
		if err != nil {
			return fmt.Errorf("read last-seen statuses: %w", err)
		}
		seen := map[string]string{}
		var msgs []ChangeMessage
		pageMax := wm
		for _, r := range page.Items {
			if r.DateModified.After(pageMax) {
				pageMax = r.DateModified
			}
			if r.Code == "" || r.Status == "" {
				continue
			}
			prev, known := last[r.Code]
			if p, dup := seen[r.Code]; dup {
				prev, known = p, true
			}
			if known && normStatus(prev) == normStatus(r.Status) {
				continue
			}
			seen[r.Code] = r.Status
			if !send {
				continue
			}
			m := d.change(sr.Account, sr.Event, r.Code, prev, r.Status, r.DateModified)
			if err := m.Validate(); err != nil {
				// A value no consumer could accept (a 300-character status,
				// a control character): reported, and recorded as seen, so
				// that it does not hold the watermark back every tick.
				sr.Invalid++
				d.env().logger().WarnContext(ctx, "registration change not sent: it cannot be expressed as a change message",
					"account", sr.Account, "event", sr.Event, "registration", r.Code, "reason", err.Error())
				continue
			}
			msgs = append(msgs, m)
		}
		sr.Changes += len(msgs)
		var sendErr error
		if len(msgs) > 0 {
			sent, err := d.Sender.SendChanges(ctx, msgs)
			for i, m := range msgs {
				if i < len(sent) && sent[i] {
					sr.Sent++
					continue
				}
				// Not sent: keep the old last-seen status so the next tick
				// finds the change again.
				if seen[m.RegistrationCode] == m.NewStatus {
					delete(seen, m.RegistrationCode)
				}
				if err == nil {
					err = fmt.Errorf("change %s was not reported as sent", m.ChangeID)
				}
			}
			if err != nil {
				sendErr = fmt.Errorf("send %d changes: %w", len(msgs), err)
			}
		}
		if len(seen) > 0 {
			if err := d.Store.PutLastStatuses(context.WithoutCancel(ctx), scope, seen); err != nil {
				return errors.Join(sendErr, fmt.Errorf("store last-seen statuses: %w", err))
			}
		}
		if sendErr != nil {
			return sendErr // the watermark stays: the next tick re-reads this page
		}
		if bl != nil {
			if pageMax.After(bl.cp.Max) {
				bl.cp.Max = pageMax
			}
			bl.cp.Next = page.NextIndex
			if err := d.saveBaseline(ctx, bl); err != nil {
				return err
			}
			continue
		}
		if pageMax.After(wm) || !have {
			if err := d.Store.PutWatermark(context.WithoutCancel(ctx), scope, pageMax); err != nil {
				return fmt.Errorf("store watermark: %w", err)
			}
			wm, have = pageMax, true
			sr.Watermark = wm
		}
	}
	if bl != nil && !bl.cp.Max.IsZero() {
		// The baseline is complete: from now on, changes are sent.
		if err := d.Store.PutWatermark(context.WithoutCancel(ctx), scope, bl.cp.Max); err != nil {
			return fmt.Errorf("store watermark: %w", err)
		}
		sr.Watermark = bl.cp.Max
		return d.endBaseline(ctx, bl)
	}
	if !have {
		// An event with no registrations yet: the baseline is "nothing", so
		// registrations created from now on are changes.
		wm = d.env().now().Add(-overlap).UTC()
		if err := d.Store.PutWatermark(context.WithoutCancel(ctx), scope, wm); err != nil {
			return fmt.Errorf("store watermark: %w", err)
		}
		sr.Watermark = wm
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
