package ops

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/certain-marketo/certain-marketo/lib/dryrun"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// recordKinds are the per-record outcomes, in the order a plan's summary
// names them.
var recordKinds = []string{store.OutcomeCreated, store.OutcomeUpdated, store.OutcomeRequested, store.OutcomeSkipped,
	store.OutcomeFailed, store.OutcomeUnchanged, jobs.RedriveDuplicate, jobs.RedriveNoJob, jobs.PlanNotNow}

// writePlanText prints a plan for a person: the summary counts first, then
// up to limit records and writes of each kind.
func writePlanText(w io.Writer, p jobs.Plan, limit int) error {
	scope := p.Account
	if p.Event != "" {
		scope += "/" + p.Event
	}
	forced := ""
	if p.Force {
		forced = ", forced"
	}
	pw := &errWriter{w: w}
	pw.printf("plan of job %s (%s, %s%s): a dry run, nothing was written\n", p.JobID, p.JobType, scope, forced)
	ending := "a real run now would end " + p.Outcome
	switch {
	case !p.Complete && p.Outcome == store.RunCheckpointed:
		ending = "the plan stopped at its deadline before the end: the counts cover what it reached"
	case p.Continues:
		ending += " (it continues the job's checkpointed run)"
	}
	pw.printf("  %s\n", ending)
	if p.Error != "" {
		pw.printf("  error:    %s\n", p.Error)
	}
	pw.printf("  records:  %s\n", recordSummary(p.Counts))
	if other := otherCounts(p.Counts); other != "" {
		pw.printf("  counts:   %s\n", other)
	}
	pw.printf("  writes:   %s\n", writeSummary(p))
	pw.printf("  spent:    %d Marketo calls, %d Certain calls (reads), %s\n", p.MarketoCalls, p.CertainCalls, p.Took.Round(1e6))
	for _, n := range p.Notes {
		pw.printf("  note:     %s\n", n)
	}
	if limit == 0 {
		return pw.err
	}
	writeRecords(pw, p)
	writeMarketoWrites(pw, p)
	writeCertainWrites(pw, p)
	return pw.err
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

func recordSummary(c map[string]int) string {
	var parts []string
	for _, k := range recordKinds {
		if c[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[k], k))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " · ")
}

func otherCounts(c map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		if !slices.Contains(recordKinds, k) {
			parts = append(parts, k+"="+strconv.Itoa(c[k]))
		}
	}
	return strings.Join(parts, " ")
}

func writeSummary(p jobs.Plan) string {
	c, t := p.Writes.Calls, p.Totals
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(c.SyncLeads, fmt.Sprintf("Marketo Sync Leads call(s) (%d leads)", t.Leads))
	add(c.RequestCampaign, fmt.Sprintf("Request Campaign call(s) (%d request(s))", t.Campaigns))
	add(c.SyncCustomObjects, fmt.Sprintf("Sync Custom Objects call(s) (%d records)", t.CustomObjects))
	add(c.ProfileCreates, "Certain profile create(s)")
	add(c.ProfileUpdates, "Certain profile update(s)")
	add(c.RegistrationCreates, "Certain registration create(s)")
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// readable names planned leads, profiles and registrations in a text.
func readable(s string) string { return dryrun.Readable(s) }

func leadText(l dryrun.LeadRef) string {
	if l.New > 0 {
		return "new lead #" + strconv.Itoa(l.New)
	}
	return "lead " + strconv.Itoa(l.ID)
}

func valueText(v any) string {
	if v == nil {
		return "(blank)"
	}
	return readable(strconv.Quote(dryrun.Text(v)))
}

func changesText(cs []dryrun.FieldChange) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		if c.From == nil {
			parts = append(parts, c.Field+"="+valueText(c.To))
		} else {
			parts = append(parts, c.Field+": "+valueText(c.From)+" → "+valueText(c.To))
		}
	}
	return strings.Join(parts, "; ")
}

func more(shown, total int, what string) string {
	if total > shown {
		return fmt.Sprintf(" (%d of %d %s; --limit N for more)", shown, total, what)
	}
	return ""
}

func writeRecords(pw *errWriter, p jobs.Plan) {
	if p.Totals.Records == 0 {
		return
	}
	pw.printf("records%s:\n", more(len(p.Records), p.Totals.Records, "records"))
	tw := table(pw.w, "  KEY", "EMAIL", "OUTCOME", "WHAT")
	for _, r := range p.Records {
		what := r.Reason
		if r.Code != "" {
			what = r.Code + " " + what
		}
		if r.Lead != nil {
			what = leadText(*r.Lead)
			if len(r.Changes) > 0 {
				what += ": " + changesText(r.Changes)
			} else if r.Outcome == store.OutcomeUpdated {
				what += ": no field changes"
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", r.Key, dash(r.Email), r.Outcome, readable(oneLine(what, 160)))
	}
	if err := tw.Flush(); err != nil && pw.err == nil {
		pw.err = err
	}
}

func tokensText(ts []marketo.Token) string {
	parts := make([]string, 0, len(ts))
	for _, t := range ts {
		parts = append(parts, t.Name+"="+strconv.Quote(t.Value))
	}
	return strings.Join(parts, " ")
}

func writeMarketoWrites(pw *errWriter, p jobs.Plan) {
	w := p.Writes
	if len(w.Campaigns) > 0 {
		pw.printf("campaign requests%s:\n", more(len(w.Campaigns), p.Totals.Campaigns, "requests"))
		for _, c := range w.Campaigns {
			leads := make([]string, 0, len(c.Leads))
			for _, l := range c.Leads {
				leads = append(leads, leadText(l))
			}
			pw.printf("  campaign %d for %s; tokens %s\n", c.Campaign, strings.Join(leads, ", "), dash(tokensText(c.Tokens)))
		}
	}
	if len(w.CustomObjects) > 0 {
		pw.printf("custom object records%s:\n", more(len(w.CustomObjects), p.Totals.CustomObjects, "records"))
		for _, r := range w.CustomObjects {
			what := r.Result
			if r.Code != "" {
				what += " " + r.Code + " " + r.Reason
			}
			vals := make([]dryrun.FieldChange, 0, len(r.Values))
			for _, k := range slices.Sorted(maps.Keys(r.Values)) {
				vals = append(vals, dryrun.FieldChange{Field: k, To: r.Values[k]})
			}
			pw.printf("  %s %s: %s\n", r.Object, what, changesText(vals))
		}
	}
}

func writeCertainWrites(pw *errWriter, p jobs.Plan) {
	w := p.Writes
	if len(w.Profiles) > 0 {
		pw.printf("Certain profile writes%s:\n", more(len(w.Profiles), p.Totals.Profiles, "writes"))
		for _, pr := range w.Profiles {
			var vals []dryrun.FieldChange
			for _, k := range slices.Sorted(maps.Keys(pr.Fields)) {
				vals = append(vals, dryrun.FieldChange{Field: k, To: pr.Fields[k]})
			}
			who := "update profile " + pr.PIN
			switch {
			case pr.Create:
				who = "create new profile #" + strconv.Itoa(pr.New)
			case pr.New > 0:
				who = "update new profile #" + strconv.Itoa(pr.New)
			}
			pw.printf("  %s: %s\n", who, changesText(vals))
		}
	}
	if len(w.Registrations) > 0 {
		pw.printf("Certain registrations%s:\n", more(len(w.Registrations), p.Totals.Registrations, "registrations"))
		for _, r := range w.Registrations {
			who := "profile " + r.PIN
			if r.NewProfile > 0 {
				who = "new profile #" + strconv.Itoa(r.NewProfile)
			}
			pw.printf("  register %s for %s: status %s, attendee type %s\n", who, r.Event, dash(r.Status), dash(r.AttendeeType))
		}
	}
}
