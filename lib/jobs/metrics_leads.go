package jobs

import (
	"context"
	"strconv"
	"strings"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// leadResolver maps registrations (by registration code) to Marketo lead ids
// and returns the outcomes of the registrations it could not map.
type leadResolver func(ctx context.Context, rc *RunContext, regs []certain.Registration) (map[string]int, []store.RecordOutcome, error)

// externalIDOnly is the interim resolver used until the shared lead
// resolution lands: it takes External Profile ID when Source of Profile is
// Marketo and reports every other registration as skipped.
func externalIDOnly(_ context.Context, rc *RunContext, regs []certain.Registration) (map[string]int, []store.RecordOutcome, error) {
	f := rc.Conn.CertainFields.WithDefaults()
	ids := map[string]int{}
	var outs []store.RecordOutcome
	for _, r := range regs {
		if strings.EqualFold(strings.TrimSpace(r.Profile.Source), f.SourceValueMarketo) {
			if id, err := strconv.Atoi(strings.TrimSpace(r.Profile.ExternalID)); err == nil && id > 0 {
				ids[r.Code] = id
				continue
			}
		}
		outs = append(outs, store.RecordOutcome{Key: r.Code, Email: r.Profile.Email, Outcome: store.OutcomeSkipped,
			Reason: "no Marketo lead id on the profile (lead lookup not available)"})
	}
	return ids, outs, nil
}
