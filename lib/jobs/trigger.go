package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// ErrChangeInProgress reports that another delivery of the same change holds
// its in-progress lock; the message is retried after its visibility timeout.
var ErrChangeInProgress = errors.New("another delivery of this change is being processed")

// Trigger is the "Trigger Marketo Campaign" job: it turns registration-change
// messages into Marketo Request Campaign calls. It is safe for concurrent use
// (several SQS batches in one warm Lambda, or several Lambdas).
//
// Every (job, change) pair is claimed with an idempotency record whose key is
// the business key chg#<jobId>#<registrationCode>#<toStatus>#<changedAt>
// (docs/architecture.md §8): a redelivered or duplicated message, or the same
// change sent by two producers, triggers the campaign once; a concurrent
// delivery finds the in-progress lock and is retried later. The record is
// completed only after Marketo accepted the request (or when the change
// needs nothing: its registration is gone), and deleted when the work
// failed, so a retry can run it: SQS's redelivery for a passing failure, or
// cmctl retry-failures (Redrive) for one a person must fix first.
type Trigger struct {
	Store     store.Store
	Connector Connector
	Now       func() time.Time
	Logger    *slog.Logger
	NewID     func() string
	// Lock is how long an in-progress claim blocks other deliveries when ctx
	// has no deadline (default 5 minutes; with a deadline: deadline + 1 min).
	Lock time.Duration
	// Retention is how long a completed change is remembered (default 15
	// days: longer than SQS's 14-day maximum retention, so a redrive from
	// the DLQ is still deduplicated).
	Retention time.Duration
	// Margin: no new account/event group or campaign request starts when
	// less than this is left before ctx's deadline (default 10 s, at most a
	// sixth of the time left when the batch starts); their messages are
	// reported failed.
	Margin time.Duration
	// MappingTTL is how long a checked field mapping is trusted (default 15 min).
	MappingTTL time.Duration
	// Groups is how many account/event groups of one batch are handled at
	// once (default DefaultTriggerGroups): a batch of changes from many
	// events is not a queue of them. Each group's calls still take from the
	// shared Marketo and Certain budgets.
	Groups int
	// Report receives every job run of a batch: its metrics (with the time
	// from each change to its campaign request) and, when it ended partial,
	// its notice.
	Report Reporter
	// Progress, when set, follows a plan (Plan) for a progress line; nil:
	// none.
	Progress *Progress

	mu      sync.Mutex
	schemas map[string]schemaEntry // account -> its lead describe, and whether its mapping passed
}

// schemaEntry is an account's lead describe as a warm Lambda remembers it.
type schemaEntry struct {
	schema  leadSchema
	at      time.Time // when it was read
	checked bool      // the field mapping passed checkMapping against it
}

// env is the trigger's clock, logger and run ids.
func (t *Trigger) env() runEnv { return runEnv{clock: t.Now, log: t.Logger, ids: t.NewID} }

// ChangeKey is the idempotency key of one change for one job.
func ChangeKey(jobID string, c ChangeMessage) string {
	return "chg#" + jobID + "#" + c.RegistrationCode + "#" + normStatus(c.NewStatus) + "#" + c.ChangedAt.UTC().Format(time.RFC3339Nano)
}

// Matches reports whether a trigger-campaign job fires for a change: it is
// enabled, for the change's account and event, its to-status (and optional
// from-status) match, and the change happened inside the job's schedule
// window (Start/End) when one is set. The interval or cron of a
// trigger-campaign job is not used: changes drive it.
func Matches(j config.Job, c ChangeMessage) bool {
	p := j.Params
	if s := j.Schedule; (s.Start != nil && c.ChangedAt.Before(*s.Start)) || (s.End != nil && !c.ChangedAt.Before(*s.End)) {
		return false
	}
	return j.Enabled && j.Type == config.TypeTriggerCampaign && j.Account == c.Account && j.Event == c.Event &&
		normStatus(p.ToStatus) == normStatus(c.NewStatus) &&
		(strings.TrimSpace(p.FromStatus) == "" || normStatus(p.FromStatus) == normStatus(c.PreviousStatus))
}

// Handle processes a batch of validated change messages and returns one
// error per message: nil when the message is done (triggered, duplicate,
// matched no job, or failed permanently with an outcome on the run record),
// non-nil when it must be delivered again.
func (t *Trigger) Handle(ctx context.Context, msgs []ChangeMessage) []error {
	return t.handle(ctx, msgs, groupScope{trigger: "sqs"})
}

// groupScope is what a batch is handled for: the run records' trigger,
// optionally one job only (a re-drive), and a hook that hears every
// message's settlement.
type groupScope struct {
	trigger string
	job     string                                               // "" = every matching job
	settled func(msg int, runID string, out store.RecordOutcome) // may be nil
}

func (t *Trigger) handle(ctx context.Context, msgs []ChangeMessage, scope groupScope) []error {
	errs := make([]error, len(msgs))
	if len(msgs) == 0 {
		return errs
	}
	all, err := t.Store.ListJobs(ctx, config.TypeTriggerCampaign)
	if err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("list trigger-campaign jobs: %w", err)
		}
		return errs
	}
	if scope.job != "" {
		all = slices.DeleteFunc(all, func(j config.Job) bool { return j.ID != scope.job })
	}
	soft := newSoftDeadline(ctx, t.Margin, 10*time.Second)
	var order []string
	groups := map[string][]int{}
	for i, m := range msgs {
		k := m.Account + "/" + m.Event
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	if scope.settled != nil {
		// Groups settle concurrently; the hook hears one at a time.
		var mu sync.Mutex
		hook := scope.settled
		scope.settled = func(msg int, runID string, out store.RecordOutcome) {
			mu.Lock()
			defer mu.Unlock()
			hook(msg, runID, out)
		}
	}
	sem := make(chan struct{}, t.groups())
	var wg sync.WaitGroup
	for _, k := range order {
		idx := groups[k]
		sem <- struct{}{}
		if soft.reached(ctx) {
			<-sem
			for _, i := range idx {
				errs[i] = errors.New("invocation deadline near: not started, will be redelivered")
			}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			t.handleGroup(ctx, soft, msgs, idx, all, errs, scope) // each group writes its own messages' errs
		})
	}
	wg.Wait()
	return errs
}

// DefaultTriggerGroups is how many account/event groups of a batch are
// handled at once by default (Trigger.Groups).
const DefaultTriggerGroups = 8

func (t *Trigger) groups() int {
	if t.Groups > 0 {
		return t.Groups
	}
	return DefaultTriggerGroups
}

func (t *Trigger) lockFor() time.Duration {
	if t.Lock > 0 {
		return t.Lock
	}
	return 5 * time.Minute
}

// DefaultChangeRetention is how long a settled change is remembered by
// default (Trigger.Retention): longer than SQS's 14-day maximum retention.
const DefaultChangeRetention = 15 * 24 * time.Hour

func (t *Trigger) retention() time.Duration {
	if t.Retention > 0 {
		return t.Retention
	}
	return DefaultChangeRetention
}

// checkMapping checks the account's field mapping against the lead describe
// at most once per MappingTTL per warm Lambda; ops gets the describe it was
// checked against, for the conversion of values.
func (t *Trigger) checkMapping(ctx context.Context, ops *leadOps) error {
	if e, fresh := t.cachedSchema(ops.acct); fresh && e.checked {
		ops.schema = e.schema
		return nil
	}
	ops.schema = nil // check against a describe read now
	if err := ops.checkMapping(ctx); err != nil {
		return err
	}
	t.keepSchema(ops.acct, ops, true)
	return nil
}

// cachedSchema returns the account's remembered describe and whether it is
// younger than MappingTTL.
func (t *Trigger) cachedSchema(acct string) (schemaEntry, bool) {
	ttl := t.MappingTTL
	if ttl <= 0 {
		ttl = 15 * time.Minute
	}
	t.mu.Lock()
	e, ok := t.schemas[acct]
	t.mu.Unlock()
	return e, ok && t.env().now().Sub(e.at) < ttl
}

// keepSchema remembers the describe ops read itself, if it read one (once:
// after the mapping check, the later call of the run keeps that).
func (t *Trigger) keepSchema(acct string, ops *leadOps, checked bool) {
	if !ops.described || ops.kept {
		return
	}
	ops.kept = true
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.schemas == nil {
		t.schemas = map[string]schemaEntry{}
	}
	t.schemas[acct] = schemaEntry{schema: ops.schema, at: t.env().now(), checked: checked}
}

// tokenValues resolves a job's tokens for one registration: literals as
// given, Certain fields read from the registration ("registration.x") or its
// profile ("x"). A blank field leaves its token out, so the program's own
// My Token value applies rather than an empty one.
func tokenValues(specs []config.TokenSpec, reg certain.Registration) []marketo.Token {
	var out []marketo.Token
	for _, s := range specs {
		v := s.Value
		if s.Field != "" {
			v = certainValue(reg, s.Field)
		}
		if v != "" {
			out = append(out, marketo.Token{Name: s.Name, Value: v})
		}
	}
	return out
}
