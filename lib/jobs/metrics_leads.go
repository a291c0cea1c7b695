package jobs

import (
	"context"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// leadResolver maps registrations (by registration code) to Marketo lead ids
// and returns the outcomes of the registrations it could not map. The jobs
// use ResolveLeadIDs, shared with trigger-campaign and sync-leads.
type leadResolver func(ctx context.Context, rc *RunContext, regs []certain.Registration) (map[string]int, []store.RecordOutcome, error)
