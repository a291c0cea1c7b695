package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
)

// Invariant names.
const (
	InvNothingLost       = "nothing lost"
	InvNothingDuplicated = "nothing duplicated"
	InvRunTruth          = "run record truth"
)

// Violation is one broken invariant.
type Violation struct {
	Invariant string
	Detail    string
}

func (v Violation) String() string { return v.Invariant + ": " + v.Detail }

// State is what both simulators hold, keyed by business identity (e-mail,
// event, campaign, custom object key) rather than by generated ids, so two
// worlds that did the same work in a different order compare equal.
//
// A lead is named by its lower-case e-mail, except a lead the data set
// seeded beside another lead of the same e-mail (up to case): Marketo
// holds such duplicates, each is a lead of its own (a Certain profile may
// be linked to each), and its seeded id, the same in every world, is
// appended ("e-mail#id"). Without it, two leads' records under one custom
// object key would count as one key written twice.
type State struct {
	LeadsByEmail map[string]int    // lower-case e-mail -> leads
	Leads        map[string]string // e-mail -> its lead's fields (e-mails with one lead)
	Profiles     map[string]int    // e-mail -> profiles
	Regs         map[string]int    // event|e-mail -> registrations
	RegStatus    map[string]string // event|e-mail -> status(es)
	Requests     map[string]int    // campaign|lead -> times requested
	CO           map[string]int    // object|key (the lead named as above) -> records
	COValues     map[string]string // object|key -> fields
	// Changes counts, per campaign|lead (the campaign of each trigger job
	// the world's status change matches; the lead named as above: the one
	// the profile's External Profile ID names, else the profile's
	// lower-case e-mail), the registrations whose status the world
	// changed: each change requests its campaign once, so two
	// registrations of one lead (profiles whose e-mails differ only in
	// case) request it twice, and any other campaign not at all.
	Changes map[string]int

	LeadTotal, ProfileTotal, RegTotal, RequestedIDs int
	CORecords                                       map[string]int // object -> records
	MarketoREST, CertainCalls                       int            // calls the simulators received
	MarketoUnreached, CertainUnreached              int            // calls the network swallowed
	MarketoAmbiguous, CertainAmbiguous              int            // writes done whose answer was lost
}

var volatile = map[string]bool{"id": true, "createdAt": true, "updatedAt": true, "marketoGUID": true, "dateCreated": true, "dateModified": true}

func canon(m map[string]any, leadName map[int]string, link string) string {
	keys := slices.Sorted(maps.Keys(m))
	var b strings.Builder
	for _, k := range keys {
		if volatile[k] {
			continue
		}
		v := m[k]
		if k == link {
			v = nameOfLead(v, leadName)
		}
		j, _ := json.Marshal(v)
		b.WriteString(k + "=" + string(j) + ";")
	}
	return b.String()
}

// nameOfLead names the lead whose id is v (see State); an id Marketo does
// not hold is "lead:<id>".
func nameOfLead(v any, leadName map[int]string) string {
	id, err := strconv.Atoi(fmt.Sprint(v))
	if err != nil {
		return fmt.Sprint(v)
	}
	if e, ok := leadName[id]; ok {
		return e
	}
	return "lead:" + strconv.Itoa(id)
}

// sharedSeededLeads returns the ids of the data set's leads that share
// their e-mail (up to case) with another of its leads.
func sharedSeededLeads(w *World) map[int]bool {
	byEmail := map[string][]int{}
	for _, l := range w.Data.Marketo.Leads {
		e := lower(l.Email)
		byEmail[e] = append(byEmail[e], l.ID)
	}
	shared := map[int]bool{}
	for _, ids := range byEmail {
		if len(ids) > 1 {
			for _, id := range ids {
				shared[id] = true
			}
		}
	}
	return shared
}

func lower(v any) string { return strings.ToLower(strings.TrimSpace(fmt.Sprint(v))) }

// Observe reads both simulators.
func (w *World) Observe() State {
	s := State{LeadsByEmail: map[string]int{}, Leads: map[string]string{}, Profiles: map[string]int{}, Regs: map[string]int{},
		RegStatus: map[string]string{}, Requests: map[string]int{}, CO: map[string]int{}, COValues: map[string]string{}, CORecords: map[string]int{},
		Changes: map[string]int{}}
	leadName := map[int]string{}
	shared := sharedSeededLeads(w)
	leads := w.Marketo.Leads()
	s.LeadTotal = len(leads)
	for _, l := range leads {
		e := lower(l["email"])
		leadName[l.ID()] = e
		if shared[l.ID()] {
			leadName[l.ID()] = e + "#" + strconv.Itoa(l.ID())
		}
		s.LeadsByEmail[e]++
		s.Leads[e] = canon(l, nil, "")
	}
	for e, n := range s.LeadsByEmail {
		if n > 1 {
			delete(s.Leads, e)
		}
	}
	profiles := w.Certain.Profiles(w.Data.Account)
	s.ProfileTotal = len(profiles)
	leadOfPIN := map[string]string{}
	for _, p := range profiles {
		s.Profiles[lower(p["email"])]++
		leadOfPIN[fmt.Sprint(p["pin"])] = lower(p["email"])
		if id, err := strconv.Atoi(fmt.Sprint(p[w.Data.Options.Fields.ExternalID])); err == nil && leadName[id] != "" {
			leadOfPIN[fmt.Sprint(p["pin"])] = leadName[id]
		}
	}
	s.Changes = changesByLead(w, leadOfPIN)
	statusField := w.Data.Options.Fields.RegistrationStatus
	for _, ev := range w.Data.Events {
		for _, r := range w.Certain.Registrations(w.Data.Account, ev.Code) {
			p, _ := r["profile"].(map[string]any)
			k := ev.Code + "|" + lower(p["email"])
			s.Regs[k]++
			if s.RegStatus[k] != "" {
				s.RegStatus[k] += ","
			}
			s.RegStatus[k] += fmt.Sprint(r[statusField])
			if ev.Code == w.Data.Events[0].Code {
				s.RegTotal++
			}
		}
	}
	for _, cr := range w.Marketo.CampaignRequests() {
		for _, id := range cr.LeadIDs {
			s.Requests[strconv.Itoa(cr.CampaignID)+"|"+nameOfLead(id, leadName)]++
			s.RequestedIDs++
		}
	}
	for _, t := range w.Data.Marketo.CustomObjects {
		recs := w.Marketo.CustomObjectRecords(t.Name)
		s.CORecords[t.Name] = len(recs)
		for _, r := range recs {
			var key []string
			for _, f := range t.DedupeFields {
				v := r[f]
				if f == t.LinkField {
					v = nameOfLead(v, leadName)
				}
				key = append(key, fmt.Sprint(v))
			}
			k := t.Name + "|" + strings.Join(key, "|")
			s.CO[k]++
			s.COValues[k] = canon(r, leadName, t.LinkField)
		}
	}
	for _, c := range w.Marketo.Calls() {
		if !strings.HasPrefix(c.Path, "/identity/") {
			s.MarketoREST++
		}
	}
	s.CertainCalls = len(w.Certain.Calls())
	s.MarketoUnreached, s.CertainUnreached = w.Net.Unreached(APIMarketo), w.Net.Unreached(APICertain)
	s.MarketoAmbiguous, s.CertainAmbiguous = w.Net.Ambiguous(APIMarketo), w.Net.Ambiguous(APICertain)
	return s
}

func (w *World) observe() State { return w.Observe() }

// changesByLead counts the world's status changes (TriggerFrom to
// TriggerTo) per campaign of each trigger job they match and lead of the
// registration's profile (leadOfPIN): "campaign|lead".
func changesByLead(w *World, leadOfPIN map[string]string) map[string]int {
	pin := map[string]string{}
	for _, r := range w.Data.Registrations {
		pin[r.Code] = r.PIN
	}
	var campaigns []int
	for _, j := range w.Jobs {
		p := j.Params
		if j.Type == config.TypeTriggerCampaign && j.Enabled && strings.EqualFold(p.ToStatus, demodata.TriggerTo) &&
			(p.FromStatus == "" || strings.EqualFold(p.FromStatus, demodata.TriggerFrom)) {
			campaigns = append(campaigns, p.CampaignID)
		}
	}
	out := map[string]int{}
	for _, code := range w.Changed {
		for _, c := range campaigns {
			out[strconv.Itoa(c)+"|"+leadOfPIN[pin[code]]]++
		}
	}
	return out
}

// CheckUnique checks "nothing duplicated" against the seeded state: the
// product never adds a second lead, profile or registration for one
// e-mail, never requests a campaign for one lead more often than the
// world changed registrations of that lead to the campaign's status (once
// per change; at most once when it changed none), and never
// writes a custom object key twice.
func CheckUnique(base, got State) []Violation {
	var out []Violation
	dup := func(what string, b, g map[string]int, allowed func(k string) int) {
		for _, k := range sortedKeys(g) {
			if lim := max(b[k], allowed(k)); g[k] > lim {
				out = append(out, Violation{InvNothingDuplicated, fmt.Sprintf("%s %q: %d (at most %d expected)", what, k, g[k], lim)})
			}
		}
	}
	one := func(string) int { return 1 }
	perChange := func(k string) int { return max(1, got.Changes[k]) }
	dup("Marketo leads with e-mail", base.LeadsByEmail, got.LeadsByEmail, one)
	dup("Certain profiles with e-mail", base.Profiles, got.Profiles, one)
	dup("registrations for event|e-mail", base.Regs, got.Regs, one)
	dup("campaign requests for campaign|lead", base.Requests, got.Requests, perChange)
	dup("custom object records for key", base.CO, got.CO, one)
	return out
}

// CheckSame compares a world that went through faults with a reference
// world that did the same work without any: whatever the reference holds
// and the faulted world lacks was lost; whatever it holds more of was
// duplicated; different values were written wrong or not at all.
func CheckSame(ref, got State) []Violation {
	var out []Violation
	cmpCount := func(what string, r, g map[string]int) {
		for _, k := range sortedKeys(r) {
			if g[k] < r[k] {
				out = append(out, Violation{InvNothingLost, fmt.Sprintf("%s %q: %d, reference %d", what, k, g[k], r[k])})
			}
		}
		for _, k := range sortedKeys(g) {
			if g[k] > r[k] {
				out = append(out, Violation{InvNothingDuplicated, fmt.Sprintf("%s %q: %d, reference %d", what, k, g[k], r[k])})
			}
		}
	}
	cmpVal := func(what string, r, g map[string]string) {
		for _, k := range sortedKeys(r) {
			if gv, ok := g[k]; ok && gv != r[k] {
				out = append(out, Violation{InvNothingLost, fmt.Sprintf("%s %q differs: %s, reference %s", what, k, gv, r[k])})
			}
		}
	}
	cmpCount("leads with e-mail", ref.LeadsByEmail, got.LeadsByEmail)
	cmpVal("lead", ref.Leads, got.Leads)
	cmpCount("profiles with e-mail", ref.Profiles, got.Profiles)
	cmpCount("registrations", ref.Regs, got.Regs)
	cmpVal("registration status", ref.RegStatus, got.RegStatus)
	cmpCount("campaign requests", ref.Requests, got.Requests)
	cmpCount("custom object records", ref.CO, got.CO)
	cmpVal("custom object record", ref.COValues, got.COValues)
	return out
}

// checkRunTruth compares run records with what the simulators saw while
// they ran (several runs when they ran at the same time).
func checkRunTruth(w *World, runs []store.Run, before, after State) []Violation {
	var out []Violation
	var ids []string
	mCalls, cCalls := 0, 0
	for _, r := range runs {
		ids = append(ids, r.ID+" ("+r.JobID+", "+r.Outcome+")")
		mCalls += r.MarketoCalls
		cCalls += r.CertainCalls
	}
	bad := func(format string, args ...any) {
		out = append(out, Violation{InvRunTruth, "run " + strings.Join(ids, " + ") + ": " + fmt.Sprintf(format, args...)})
	}
	if seen := after.MarketoREST - before.MarketoREST + after.MarketoUnreached - before.MarketoUnreached; mCalls != seen {
		bad("marketoCalls %d, the Marketo side saw %d", mCalls, seen)
	}
	if seen := after.CertainCalls - before.CertainCalls + after.CertainUnreached - before.CertainUnreached; cCalls != seen {
		bad("certainCalls %d, the Certain side saw %d", cCalls, seen)
	}
	// A write whose answer was lost happened without the run knowing: the
	// counts may fall short by that many, never exceed what was done.
	mAmb, cAmb := after.MarketoAmbiguous-before.MarketoAmbiguous, after.CertainAmbiguous-before.CertainAmbiguous
	within := func(counted, done, ambiguous int) bool { return counted <= done && done <= counted+ambiguous }
	for _, run := range runs {
		c := run.Counts
		switch run.JobType {
		case config.TypeSyncLeads:
			// Outcomes are per registration; registrations sharing an
			// e-mail share the lead created for them.
			if n, d := w.distinctEmails(run.ID, store.OutcomeCreated), after.LeadTotal-before.LeadTotal; !within(n, d, mAmb) {
				bad("created outcomes name %d e-mails, Marketo gained %d leads", n, d)
			}
		case config.TypeImportLeads:
			if d := after.RegTotal - before.RegTotal; !within(c[jobs.CountRegistrationsCreated], d, cAmb) {
				bad("%s %d, Certain gained %d registrations", jobs.CountRegistrationsCreated, c[jobs.CountRegistrationsCreated], d)
			}
			if d := after.ProfileTotal - before.ProfileTotal; !within(c[jobs.CountProfilesCreated], d, cAmb) {
				bad("%s %d, Certain gained %d profiles", jobs.CountProfilesCreated, c[jobs.CountProfilesCreated], d)
			}
		case config.TypeEngagementMetrics, config.TypeInterestMetrics:
			obj := w.jobByID(run.JobID).Params.CustomObject
			if d := after.CORecords[obj] - before.CORecords[obj]; !within(c[store.OutcomeCreated], d, mAmb) {
				bad("created %d, %s gained %d records", c[store.OutcomeCreated], obj, d)
			}
		}
		for _, o := range w.failedWithoutReason(run.ID) {
			out = append(out, Violation{InvNothingLost, fmt.Sprintf("run %s: record %s failed without a reason", run.ID, o.Key)})
		}
	}
	return out
}

func (w *World) distinctEmails(runID, outcome string) int {
	outs, err := w.Mem.ListOutcomes(context.Background(), runID, outcome)
	if err != nil {
		return -1
	}
	seen := map[string]bool{}
	for _, o := range outs {
		seen[lower(o.Email)] = true
	}
	return len(seen)
}

// checkTriggerTruth compares the trigger runs recorded during one step with
// the campaign requests Marketo received.
func checkTriggerTruth(w *World, before, after State) []Violation {
	runs, err := w.Mem.ListRuns(context.Background(), JobTrigger, 1000)
	if err != nil {
		return []Violation{{InvRunTruth, "list trigger runs: " + err.Error()}}
	}
	requested := 0
	for _, r := range runs {
		if w.seenRun(r.ID) {
			continue
		}
		requested += r.Counts[store.OutcomeRequested]
		for _, o := range w.failedWithoutReason(r.ID) {
			return []Violation{{InvNothingLost, fmt.Sprintf("trigger run %s: change %s failed without a reason", r.ID, o.Key)}}
		}
	}
	if d := after.RequestedIDs - before.RequestedIDs; requested != d {
		return []Violation{{InvRunTruth, fmt.Sprintf("trigger runs recorded %d requested, Marketo received %d lead ids in campaign requests", requested, d)}}
	}
	return nil
}

// seenRun marks a run as accounted for and reports whether it already was.
func (w *World) seenRun(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.runs {
		if r.ID == id {
			return true
		}
	}
	w.runs = append(w.runs, store.Run{ID: id, JobID: JobTrigger})
	return false
}

func (w *World) failedWithoutReason(runID string) []store.RecordOutcome {
	outs, err := w.Mem.ListOutcomes(context.Background(), runID, store.OutcomeFailed)
	if err != nil {
		return nil
	}
	var bad []store.RecordOutcome
	for _, o := range outs {
		if strings.TrimSpace(o.Reason) == "" && o.Code == "" {
			bad = append(bad, o)
		}
	}
	return bad
}

func (w *World) jobByID(id string) config.Job {
	for _, j := range w.Jobs {
		if j.ID == id {
			return j
		}
	}
	return config.Job{}
}
