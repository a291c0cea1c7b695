package certain

import "context"

// Budget is taken before every HTTP attempt and released after its answer,
// so that every Lambda calling one Certain account together stays inside
// the account's capacity. Implementations: limit.Shared (held in DynamoDB,
// NewSharedCertain) and limit.InProcess (NewInProcessCertain).
type Budget interface {
	Acquire(ctx context.Context) (release func(), err error)
}

// unbudgeted is the Budget of a client configured without one.
type unbudgeted struct{}

func (unbudgeted) Acquire(context.Context) (func(), error) { return func() {}, nil }
