package limit

import (
	"context"
	"fmt"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// Mode says where the budget of a Marketo instance is held
// (MARKETO_BUDGET_MODE).
type Mode string

const (
	// ModeShared: in DynamoDB, shared by every Lambda of the instance (the
	// only safe choice when several functions run at once).
	ModeShared Mode = "shared"
	// ModeInProcess: in this process only.
	ModeInProcess Mode = "in-process"
	// oldModeInProcess is the old spelling of ModeInProcess, still set by
	// existing deployments.
	oldModeInProcess = "local"
)

// ParseMode reads a MARKETO_BUDGET_MODE value: "shared", "in-process", or
// "local", the old spelling of "in-process".
func ParseMode(s string) (Mode, error) {
	switch s {
	case string(ModeShared):
		return ModeShared, nil
	case string(ModeInProcess), oldModeInProcess:
		return ModeInProcess, nil
	}
	return "", fmt.Errorf("limit: budget mode %q: want %s or %s (%s is the old spelling of %s)",
		s, ModeShared, ModeInProcess, oldModeInProcess, ModeInProcess)
}

// Factory makes the budget of each Marketo instance and of each Certain
// account, held where Mode says.
type Factory struct {
	Mode Mode
	// DB and Table (the state table) hold the budgets of ModeShared.
	DB    DynamoAPI
	Table string
}

// New returns the budget of the Marketo instance instanceKey (munchkin id
// or REST host), sized by cfg.
func (f Factory) New(instanceKey string, cfg Config) (marketo.Budget, error) {
	return f.build(func() (*Shared, error) { return NewShared(f.DB, f.Table, instanceKey, cfg) },
		func() (*InProcess, error) { return NewInProcess(cfg) })
}

// NewCertain returns the budget of the Certain account accountKey (its
// host and account code), sized by cfg.
func (f Factory) NewCertain(accountKey string, cfg CertainConfig) (certain.Budget, error) {
	return f.build(func() (*Shared, error) { return NewSharedCertain(f.DB, f.Table, accountKey, cfg) },
		func() (*InProcess, error) { return NewInProcessCertain(cfg) })
}

// budget is what both kinds of budget offer (marketo.Budget and
// certain.Budget alike).
type budget interface {
	Acquire(ctx context.Context) (release func(), err error)
}

// build makes the budget Mode says, with shared or inProcess; a nil
// interface (never a typed nil) on error.
func (f Factory) build(shared func() (*Shared, error), inProcess func() (*InProcess, error)) (budget, error) {
	switch f.Mode {
	case ModeShared:
		b, err := shared()
		if err != nil {
			return nil, err
		}
		return b, nil
	case ModeInProcess:
		b, err := inProcess()
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	return nil, fmt.Errorf("limit: budget mode %q: want %s or %s", f.Mode, ModeShared, ModeInProcess)
}
