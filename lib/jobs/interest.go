package jobs

import (
	"slices"
	"sort"
	"strings"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
)

// Values of Params.Include for interest-metrics.
const (
	IncludeRegistered = "registered"
	IncludeAttended   = "attended"
)

// pointsItem is the part of an agenda item or session the interest metrics
// need: the tags that count and the item's points.
type pointsItem struct {
	Tags   []string
	Points float64
}

// interestRules classifies Certain rows for the interest metrics.
type interestRules struct {
	f          certain.FieldNames // defaults filled in
	sessions   bool               // Speaker and Session Management: sessions, not agenda items
	registered bool               // include rows with the registered status
	attended   bool               // include rows with the attended status
	allow      []string           // tag allow-list; empty = every tag
}

func newInterestRules(f certain.FieldNames, p config.Params) interestRules {
	return interestRules{
		f:          f,
		sessions:   slices.Contains(p.Modules, config.ModuleSpeakerSession),
		registered: slices.Contains(p.Include, IncludeRegistered),
		attended:   slices.Contains(p.Include, IncludeAttended),
		allow:      p.TagAllowList,
	}
}

// item keeps the allowed tags of an agenda item or session (deduplicated,
// case-insensitively, keeping the first spelling) with its points.
func (r interestRules) item(tags []string, points float64) pointsItem {
	var kept []string
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if t == "" || inFold(kept, t) {
			continue
		}
		if len(r.allow) > 0 && !inFold(r.allow, t) {
			continue
		}
		kept = append(kept, t)
	}
	if points < 0 {
		points = 0
	}
	return pointsItem{Tags: kept, Points: points}
}

// selected reports whether a row's status is one the job includes. The
// selection is by status: "registered" takes rows whose status is the
// registered status, "attended" rows whose status is the attended status.
func (r interestRules) selected(status string) bool {
	reg, att := r.f.AgendaRegistered, r.f.AgendaAttended
	if r.sessions {
		reg, att = r.f.SessionRegistered, r.f.SessionAttended
	}
	return (r.registered && eqFold(status, reg)) || (r.attended && eqFold(status, att))
}

// interestPoints is one registration's points per tag.
type interestPoints map[string]float64

// add folds one selected row's item into the points.
func (p interestPoints) add(it pointsItem) {
	for _, t := range it.Tags {
		p[t] += it.Points
	}
}

// positive returns the tags with points > 0 (rounded to two decimals),
// sorted, with their points.
func (p interestPoints) positive() ([]string, map[string]float64) {
	out := map[string]float64{}
	var tags []string
	for t, v := range p {
		if v = round2(v); v > 0 {
			out[t] = v
			tags = append(tags, t)
		}
	}
	sort.Strings(tags)
	return tags, out
}

// interestEligible reports whether a registration counts for the interest
// metrics: Complete, active, and in one of the included categories. ok is
// false when the status is not in the connection's vocabulary.
func interestEligible(conn config.Connection, cats []string, r certain.Registration) (eligible, ok bool) {
	cat, ok := conn.StatusCategory(r.Status)
	if !ok {
		return false, false
	}
	return r.Complete && r.Active && slices.Contains(cats, cat), true
}

// engagementEligible: active and in one of the included categories.
func engagementEligible(conn config.Connection, cats []string, r certain.Registration) (eligible, ok bool) {
	cat, ok := conn.StatusCategory(r.Status)
	if !ok {
		return false, false
	}
	return r.Active && slices.Contains(cats, cat), true
}

// includedCategories is Params.Categories or, by default, accepted and
// pending.
func includedCategories(p config.Params) []string {
	if len(p.Categories) > 0 {
		return p.Categories
	}
	return []string{config.CategoryAccepted, config.CategoryPending}
}
