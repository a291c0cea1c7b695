package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
)

// The detector's fan-out (docs/architecture.md §1): a tick only lists the
// watched account/event scopes and queues one ScopeMessage each
// (DispatchScopes); the detector function consumes its queue and polls each
// scope on its own (PollScope), under a lease on the scope so that two
// consumers never poll one scope at once. The watermark and last-seen
// statuses are per scope already, so scopes are independent.

// ScopeVersion is the scope-message version this code produces and accepts.
const ScopeVersion = 1

// Scope is one watched account and event.
type Scope struct {
	Account string `json:"account"`
	Event   string `json:"event"`
}

// String is the scope's store key ("ACME/HS26").
func (s Scope) String() string { return DetectorScope(s.Account, s.Event) }

// ScopeMessage asks for one poll of one scope. Wire format, exactly:
//
//	{"version":1,"account":"ACME","event":"HS26","tick":"2026-04-01T08:03:00Z"}
//
// tick is when the detector's tick queued it: a scope already polled since
// then is not polled again for it (a duplicate delivery, or a backlog that
// holds several ticks' messages).
type ScopeMessage struct {
	Version int       `json:"version"`
	Account string    `json:"account"`
	Event   string    `json:"event"`
	Tick    time.Time `json:"tick"`
}

// Encode returns the message's JSON after validating it.
func (m ScopeMessage) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	m.Tick = m.Tick.UTC()
	return json.Marshal(m)
}

// Validate checks a scope message's fields.
func (m ScopeMessage) Validate() error {
	if m.Version != ScopeVersion {
		return fmt.Errorf("scope message: version %d is not supported (want %d)", m.Version, ScopeVersion)
	}
	if err := checkID("scope message", "account", m.Account); err != nil {
		return err
	}
	if err := checkID("scope message", "event", m.Event); err != nil {
		return err
	}
	if m.Tick.IsZero() {
		return errors.New("scope message: tick is required")
	}
	return nil
}

// DecodeScope parses and validates one scope message (exactly the
// documented members).
func DecodeScope(data []byte) (ScopeMessage, error) {
	var m ScopeMessage
	if len(data) > MaxChangeBytes {
		return m, fmt.Errorf("scope message: %d bytes, more than the %d allowed", len(data), MaxChangeBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("scope message: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return m, errors.New("scope message: trailing data after the JSON object")
	}
	if err := m.Validate(); err != nil {
		return m, err
	}
	m.Tick = m.Tick.UTC()
	return m, nil
}

// ScopeQueue is the detector's work queue (SQS in lib/app); sent has one
// entry per message.
type ScopeQueue interface {
	SendScopes(ctx context.Context, msgs []ScopeMessage) (sent []bool, err error)
}

// ScopeDispatch says what one detector tick queued.
type ScopeDispatch struct {
	Scopes   int `json:"scopes"`   // watched account/event scopes
	Queued   int `json:"queued"`   // scope messages queued
	Unqueued int `json:"unqueued"` // not queued (the next tick tries again)
}

// Scopes lists the account/event scopes served by an enabled
// trigger-campaign job, in the store's order, each once.
func (d *Detector) Scopes(ctx context.Context) ([]Scope, error) {
	all, err := d.Store.ListJobs(ctx, config.TypeTriggerCampaign)
	if err != nil {
		return nil, fmt.Errorf("detector: list trigger-campaign jobs: %w", err)
	}
	var scopes []Scope
	for _, j := range all {
		s := Scope{j.Account, j.Event}
		if j.Enabled && j.Event != "" && !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	return scopes, nil
}

// ScopeBatch is how many scope messages the detector's event source mapping
// hands one invocation (DetectorWorkQueueMapping's BatchSize).
const ScopeBatch = 10

// DispatchScopes queues one ScopeMessage per watched scope on d.Queue.
func (d *Detector) DispatchScopes(ctx context.Context) (ScopeDispatch, error) {
	var res ScopeDispatch
	if d.Queue == nil {
		return res, errors.New("detector: no scope queue")
	}
	scopes, err := d.Scopes(ctx)
	if err != nil {
		return res, err
	}
	res.Scopes = len(scopes)
	if len(scopes) == 0 {
		return res, nil
	}
	tick := d.env().now().UTC()
	msgs := make([]ScopeMessage, len(scopes))
	// Accounts in turn, ScopeBatch scopes of one account at a time: the
	// pollers' first batches spread over the accounts' Certain budgets,
	// and a batch polls one account (one budget to share).
	for i, s := range interleave(scopes, ScopeBatch, func(s Scope) string { return s.Account }) {
		msgs[i] = ScopeMessage{Version: ScopeVersion, Account: s.Account, Event: s.Event, Tick: tick}
	}
	sent, serr := d.Queue.SendScopes(ctx, msgs)
	for i := range msgs {
		if i < len(sent) && sent[i] {
			res.Queued++
		}
	}
	res.Unqueued = len(msgs) - res.Queued
	if serr != nil {
		return res, fmt.Errorf("detector: queued %d of %d scopes: %w", res.Queued, len(msgs), serr)
	}
	return res, nil
}

// scopeLeaseKey is the job-state key of a scope's lease.
func scopeLeaseKey(s Scope) string { return "detector:" + s.String() }

// PollScope polls one scope for its message: under the scope's lease (a
// scope being polled elsewhere, or polled since the message's tick, is
// skipped), it reads the registrations modified since the watermark and
// sends their status changes. The error is the poll's; the next tick polls
// the scope again from its stored watermark, so the message itself is done
// either way.
func (d *Detector) PollScope(ctx context.Context, m ScopeMessage) (ScopeResult, error) {
	s := Scope{m.Account, m.Event}
	sr := ScopeResult{Account: s.Account, Event: s.Event}
	env := d.env()
	key := scopeLeaseKey(s)
	st, err := d.Store.GetJobState(ctx, key)
	if err != nil {
		err = fmt.Errorf("detector %s: read the scope's lease: %w", s, err)
		sr.Error = err.Error()
		return sr, err
	}
	now := env.now()
	switch {
	case st.LeaseOwner != "" && st.LeaseUntil.After(now):
		sr.Skipped = "being polled by another invocation"
		return sr, nil
	case !st.LastRun.IsZero() && !st.LastRun.Before(m.Tick):
		sr.Skipped = "polled since this tick"
		return sr, nil
	}
	leaseID := NewRunID(now)
	leaseUntil := now.Add(2 * time.Minute)
	if dl, ok := ctx.Deadline(); ok {
		leaseUntil = dl.Add(time.Minute)
	}
	won, err := d.Store.ClaimJob(ctx, key, leaseID, st.Version, leaseUntil, now)
	if err != nil {
		err = fmt.Errorf("detector %s: take the scope's lease: %w", s, err)
		sr.Error = err.Error()
		return sr, err
	}
	if !won {
		sr.Skipped = "being polled by another invocation"
		return sr, nil
	}
	perr := d.pollScope(ctx, newSoftDeadline(ctx, d.Margin, 10*time.Second), s, &sr)
	outcome := "polled"
	if perr != nil {
		outcome = "failed"
		perr = fmt.Errorf("detector %s: %w", s, perr)
		sr.Error = perr.Error()
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if rerr := d.Store.ReleaseJob(rctx, key, leaseID, time.Time{}, outcome); rerr != nil {
		// The lease expires by itself; until then ticks skip the scope.
		env.logger().WarnContext(ctx, "cannot release the scope's lease; it expires", "scope", s.String(), "error", rerr)
	}
	env.logger().InfoContext(ctx, "registration changes polled", "account", s.Account, "event", s.Event,
		"baseline", sr.Baseline, "read", sr.Read, "changes", sr.Changes, "sent", sr.Sent, "watermark", sr.Watermark, "error", sr.Error)
	return sr, perr
}

// pollScope connects to the scope's account (the Connector keeps its
// clients) and polls it with the connection's watermark overlap.
func (d *Detector) pollScope(ctx context.Context, soft softDeadline, s Scope, sr *ScopeResult) error {
	conn, err := d.Store.GetConnection(ctx, s.Account)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	cl, err := d.Connector.Connect(ctx, conn.WithDefaults())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	return d.poll(ctx, soft, cl.Certain, sr, time.Duration(conn.WatermarkOverlap))
}
