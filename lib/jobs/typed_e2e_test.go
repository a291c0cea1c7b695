package jobs_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/memstore"
	"github.com/certain-marketo/certain-marketo/lib/testkit/jobstest"
)

// typedLeadFields are custom lead fields of every Marketo type, and the
// Certain profile questions (unknown to the documented field table, so
// converted record by record) mapped into them.
var typedLeadFields = []struct {
	certain string
	field   marketo.LeadField
}{
	{"attendedBefore", marketo.LeadField{Name: "attendedBefore", DataType: "boolean"}},
	{"visits", marketo.LeadField{Name: "visitCount", DataType: "integer"}},
	{"spend", marketo.LeadField{Name: "spend", DataType: "currency"}},
	{"satisfaction", marketo.LeadField{Name: "satisfaction", DataType: "percent"}},
	{"lastSeen", marketo.LeadField{Name: "lastSeen", DataType: "datetime"}},
	{"memberSince", marketo.LeadField{Name: "memberSince", DataType: "date"}},
	{"rating", marketo.LeadField{Name: "rating", DataType: "float"}},
	{"vip", marketo.LeadField{Name: "vipScore", DataType: "score"}},
	{"homepage", marketo.LeadField{Name: "homepage", DataType: "url", MaxLength: 255}},
	{"badge", marketo.LeadField{Name: "badge", DataType: "string", MaxLength: 10}},
	{"notes", marketo.LeadField{Name: "notes", DataType: "text"}},
}

func typedEnv(t *testing.T, overflow string) *jobstest.Env {
	t.Helper()
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads), jobstest.WithConnection(func(c *config.Connection) {
		for _, f := range typedLeadFields {
			c.FieldMapping = append(c.FieldMapping, config.FieldMap{Certain: f.certain, Marketo: f.field.Name})
		}
		c.StringOverflow = overflow
	}))
	for _, f := range typedLeadFields {
		env.Marketo.AddLeadField(f.field)
	}
	env.Certain.AddEvent(jobstest.Account, map[string]any{"eventCode": syncEvent, "eventName": "Harbour Summit"})
	return env
}

// sync-leads converts every Certain value to its Marketo field's type: the
// forms of the README's table go through typed, and a registration with one
// value that cannot be converted fails alone, with a reason that names the
// field, the value's shape and the Marketo type and never the value; the
// rest of the batch is sent.
func TestSyncLeadsConvertsValuesToMarketoTypes(t *testing.T) {
	env := typedEnv(t, "")
	ctx := context.Background()
	_, good := seedReg(env, map[string]any{"email": "ines@example.net", "firstName": "Ines",
		"attendedBefore": "Yes", "visits": "12", "spend": "$1,250.00", "satisfaction": "85%", "lastSeen": "2026-03-30 14:05:00",
		"memberSince": "2024-01-15", "rating": "4.5", "vip": 7, "homepage": "https://ines.example.net", "badge": "VIP", "notes": "met at the booth"}, "Attended")
	_, other := seedReg(env, map[string]any{"email": "jon@example.net", "attendedBefore": false, "visits": 3,
		"lastSeen": "2026-03-30T09:00:00-05:00", "memberSince": "2025-06-01T10:00:00Z"}, "Attended")
	_, bad := seedReg(env, map[string]any{"email": "kim@example.net", "firstName": "Kim", "attendedBefore": "maybe", "visits": "4"}, "Attended")
	_, long := seedReg(env, map[string]any{"email": "lou@example.net", "badge": "Platinum member"}, "Attended")
	_, nonASCII := seedReg(env, map[string]any{"email": "zoë@example.net"}, "Attended")
	_, fraction := seedReg(env, map[string]any{"email": "max@example.net", "visits": "2.5"}, "Attended")
	env.PutJob(t, syncJob("typed", "Attended"))

	run := env.RunJob(t, ctx, "typed")
	if run.Outcome != store.RunPartial || run.Counts[store.OutcomeCreated] != 2 || run.Counts[store.OutcomeFailed] != 4 {
		t.Fatalf("run %s %v %q, want partial: 2 created, 4 failed", run.Outcome, run.Counts, run.Error)
	}
	l := env.Marketo.LeadsByEmail("ines@example.net")
	if len(l) != 1 {
		t.Fatal("the good registration's lead is missing")
	}
	want := map[string]any{"attendedBefore": true, "visitCount": 12, "spend": 1250, "satisfaction": 85, "lastSeen": "2026-03-30T14:05:00Z",
		"memberSince": "2024-01-15", "rating": 4.5, "vipScore": 7, "homepage": "https://ines.example.net", "badge": "VIP", "notes": "met at the booth"}
	for k, v := range want {
		if l[0][k] != v {
			t.Errorf("lead %s = %#v (%T), want %#v", k, l[0][k], l[0][k], v)
		}
	}
	j := env.Marketo.LeadsByEmail("jon@example.net")
	if len(j) != 1 || j[0]["attendedBefore"] != false || j[0]["visitCount"] != 3 || j[0]["lastSeen"] != "2026-03-30T14:00:00Z" || j[0]["memberSince"] != "2025-06-01" {
		t.Errorf("second lead %v", j)
	}
	outs := outcomesByKey(t, env, run.ID)
	if outs[good].Outcome != store.OutcomeCreated || outs[other].Outcome != store.OutcomeCreated {
		t.Errorf("good outcomes %+v %+v", outs[good], outs[other])
	}
	for code, want := range map[string][]string{
		bad:      {`Certain field "attendedBefore"`, `Marketo field "attendedBefore" (boolean)`, `"aaaaa" (5 characters)`, "not a boolean"},
		long:     {`Certain field "badge"`, `(string)`, "15 characters, longer than the field's 10", "stringOverflow: refuse"},
		nonASCII: {`Certain field "email"`, `(email)`, "ASCII"},
		fraction: {`Certain field "visits"`, `(integer)`, "number", "fraction"},
	} {
		o := outs[code]
		if o.Outcome != store.OutcomeFailed || o.Code != jobs.CodeType {
			t.Errorf("%s: %+v, want failed with code %q", code, o, jobs.CodeType)
			continue
		}
		for _, w := range want {
			if !strings.Contains(o.Reason, w) {
				t.Errorf("%s: reason %q lacks %q", code, o.Reason, w)
			}
		}
	}
	if r := outs[bad].Reason; strings.Contains(r, "maybe") || strings.Contains(r, "Platinum") {
		t.Errorf("a reason carries the value: %q", r)
	}
	for _, e := range []string{"kim@example.net", "lou@example.net", "max@example.net"} {
		if n := len(env.Marketo.LeadsByEmail(e)); n != 0 {
			t.Errorf("%s: a refused registration reached Marketo (%d leads)", e, n)
		}
	}
	// The failed ones are retried by the next run (and fail the same way);
	// the sent ones are unchanged.
	run2 := env.RunJob(t, ctx, "typed")
	if run2.Counts[store.OutcomeUnchanged] != 2 || run2.Counts[store.OutcomeFailed] != 4 {
		t.Errorf("second run %v, want 2 unchanged and the 4 failed again", run2.Counts)
	}
}

// With stringOverflow: truncate, a value longer than its field is cut to
// its length instead.
func TestSyncLeadsStringOverflowTruncate(t *testing.T) {
	env := typedEnv(t, "truncate")
	_, code := seedReg(env, map[string]any{"email": "lou@example.net", "badge": "Platinum member"}, "Attended")
	env.PutJob(t, syncJob("typed", "Attended"))
	run := env.RunJob(t, context.Background(), "typed")
	if run.Outcome != store.RunSucceeded {
		t.Fatalf("run %s %v %q", run.Outcome, run.Counts, run.Error)
	}
	if l := env.Marketo.LeadsByEmail("lou@example.net"); len(l) != 1 || l[0]["badge"] != "Platinum m" {
		t.Errorf("lead %v, want badge truncated to 10 characters", l)
	}
	if o := outcomesByKey(t, env, run.ID)[code]; o.Outcome != store.OutcomeCreated {
		t.Errorf("outcome %+v", o)
	}
}

// A mapping whose Certain field (of a documented type) can never fit its
// Marketo field stops the run before anything is written, naming both.
func TestSyncLeadsMappingTypeMismatchIsConfigError(t *testing.T) {
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads), jobstest.WithConnection(func(c *config.Connection) {
		c.FieldMapping = append(c.FieldMapping, config.FieldMap{Certain: "position", Marketo: "attendedBefore"})
	}))
	env.Marketo.AddLeadField(marketo.LeadField{Name: "attendedBefore", DataType: "boolean"})
	seedReg(env, map[string]any{"email": "ned@example.net", "position": "Director"}, "Attended")
	env.PutJob(t, syncJob("mismatch", "Attended"))
	run := env.RunJob(t, context.Background(), "mismatch")
	if run.Outcome != store.RunFailed || !strings.Contains(run.Error, `Marketo field "attendedBefore" (boolean) cannot take Certain field "position" (text values)`) {
		t.Fatalf("run %s %q, want failed naming the mismatch", run.Outcome, run.Error)
	}
	if n := env.Marketo.CountPath("/rest/v1/leads.json"); n != 0 {
		t.Errorf("%d Sync Leads calls after a configuration error", n)
	}
}

// The metrics jobs convert their numbers to the custom object's field types
// (a count into a string field goes as text, into a float as a number), a
// value that does not fit fails its record only, and a logical field mapped
// to a field of a type it can never fit is a configuration error.
func TestMetricsConvertToCustomObjectTypes(t *testing.T) {
	setup := func(t *testing.T, pointsType string) (*metricsEnv, map[string]int) {
		e := newMetricsEnv(t, memstore.New())
		e.mk.AddCustomObjectType(marketotest.CustomObjectType{Name: jobs.DefaultInterestObject, DedupeFields: []string{"interestKey"}, LinkField: "leadID",
			Fields: []marketo.CustomObjectField{
				{Name: "interestKey", DataType: "string", Length: 80, Updatable: true}, {Name: "programName", DataType: "string", Length: 255, Updatable: true},
				{Name: "interest", DataType: "string", Length: 255, Updatable: true}, {Name: "interestPoints", DataType: pointsType, Updatable: true},
			}})
		ids := seedInterest(e.certain, e.mk, []line{{"R-A", "W1", "REGISTERED"}, {"R-A", "W5", "REGISTERED"}, {"R-B", "W4", "REGISTERED"}})
		e.certain.AddAgendaItem("ACME", "HS26", map[string]any{"activityCode": "W5", "name": "W5", "tag": []string{"Cloud"}, "points": 2.5})
		e.putJob(interestJob("int", []string{"registered"}, nil))
		return e, ids
	}
	t.Run("float field", func(t *testing.T) {
		e, ids := setup(t, "float")
		run := e.run("int", false)
		if run.Outcome != store.RunSucceeded || run.Counts[store.OutcomeCreated] != 3 {
			t.Fatalf("run %s %v %q", run.Outcome, run.Counts, run.Error)
		}
		recs := e.records(jobs.DefaultInterestObject, "interestKey")
		if got := recs["HS26:"+strconv.Itoa(ids["R-A"])+":Cloud"]["interestPoints"]; got != 17.5 {
			t.Errorf("Cloud points %#v, want 17.5 as a number", got)
		}
	})
	t.Run("integer field: the fraction fails its record only", func(t *testing.T) {
		e, ids := setup(t, "integer")
		run := e.run("int", false)
		if run.Outcome != store.RunPartial || run.Counts[store.OutcomeCreated] != 2 || run.Counts[store.OutcomeFailed] != 1 {
			t.Fatalf("run %s %v %q, want 2 created, 1 failed", run.Outcome, run.Counts, run.Error)
		}
		recs := e.records(jobs.DefaultInterestObject, "interestKey")
		if got := recs["HS26:"+strconv.Itoa(ids["R-A"])+":Security"]["interestPoints"]; got != 15 {
			t.Errorf("Security points %#v, want 15", got)
		}
		var failed store.RecordOutcome
		for _, o := range mustOutcomes(t, e, run.ID) {
			if o.Outcome == store.OutcomeFailed {
				failed = o
			}
		}
		if failed.Key != "R-A/Cloud" || failed.Code != jobs.CodeType || !strings.Contains(failed.Reason, `"points"`) ||
			!strings.Contains(failed.Reason, `"interestPoints" (integer)`) || !strings.Contains(failed.Reason, "fraction") {
			t.Errorf("failed outcome %+v", failed)
		}
	})
	t.Run("boolean field: configuration error", func(t *testing.T) {
		e, _ := setup(t, "boolean")
		run := e.run("int", false)
		if run.Outcome != store.RunFailed || !strings.Contains(run.Error, `field "interestPoints" is boolean, which cannot hold points`) {
			t.Fatalf("run %s %q", run.Outcome, run.Error)
		}
		if n := syncCalls(e, jobs.DefaultInterestObject); n != 0 {
			t.Errorf("%d custom object writes after a configuration error", n)
		}
	})
}

func mustOutcomes(t *testing.T, e *metricsEnv, runID string) []store.RecordOutcome {
	t.Helper()
	outs, err := e.store.ListOutcomes(context.Background(), runID, "")
	if err != nil {
		t.Fatal(err)
	}
	return outs
}

// A job stopped by the daily quota resumes on the instance's first day
// whichever way Marketo reads "12:00AM CST" and whichever the connection
// assumes: at most an hour late, never 23 hours (a summer day, when the two
// readings differ by an hour).
func TestQuotaStoppedJobResumesUnderBothZones(t *testing.T) {
	zones := []marketo.QuotaZone{marketo.QuotaZoneChicago, marketo.QuotaZoneUTCMinus6}
	for _, real := range zones {
		for _, assumed := range zones {
			t.Run("instance "+string(real)+", setting "+string(assumed), func(t *testing.T) {
				env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads),
					jobstest.WithMarketo(marketotest.WithQuotaZone(real), marketotest.WithDailyQuota(1000)),
					jobstest.WithMarketoClient(func(c *marketo.Config) { c.QuotaZone = assumed }),
					jobstest.WithConnection(func(c *config.Connection) { c.QuotaZone = string(assumed) }))
				ctx := context.Background()
				// 14:00 UTC on 1 July: the instance's midnight is 05:00 UTC
				// (Chicago, daylight time) or 06:00 UTC (UTC-6) on 2 July.
				env.Clock.Advance(time.Date(2026, 7, 1, 14, 0, 0, 0, time.UTC).Sub(env.Clock.Now()))
				realReset := real.NextReset(env.Clock.Now())
				seedReg(env, map[string]any{"email": "pat@example.net"}, "Attended")
				env.PutJob(t, syncJob("q", "Attended"))
				env.Marketo.ExhaustQuota()
				if run := env.RunJob(t, ctx, "q"); run.Outcome != store.RunQuota {
					t.Fatalf("first run %s %q, want quota", run.Outcome, run.Error)
				}
				// Tick the executor as the schedule does, every 5 minutes, until
				// the lead is sent.
				var sentAt time.Time
				for i := 0; i < 24*12 && sentAt.IsZero(); i++ {
					env.Clock.Advance(5 * time.Minute)
					if _, err := env.Executor.Tick(ctx, config.TypeSyncLeads); err != nil {
						t.Fatal(err)
					}
					if len(env.Marketo.LeadsByEmail("pat@example.net")) == 1 {
						sentAt = env.Clock.Now()
					}
				}
				if sentAt.IsZero() {
					t.Fatal("never resumed within a day")
				}
				if late := sentAt.Sub(realReset); late < 0 || late > time.Hour+5*time.Minute {
					t.Errorf("resumed at %s, %s after the instance's reset %s; want within an hour", sentAt.UTC().Format(time.RFC3339), late, realReset.UTC().Format(time.RFC3339))
				}
			})
		}
	}
}

// The import's reverse mapping turns Marketo's typed values into what the
// Certain profile takes: text for the profile's fields (5, not 5.0; true;
// the datetime as Marketo gives it), read from a list whose fields are typed.
func TestImportReverseMappingTypedValues(t *testing.T) {
	e := newImportEnv(t, jobstest.WithConnection(func(c *config.Connection) {
		c.FieldMapping = append(c.FieldMapping,
			config.FieldMap{Certain: "attendedBefore", Marketo: "attendedBefore"},
			config.FieldMap{Certain: "visits", Marketo: "visitCount"},
			config.FieldMap{Certain: "rating", Marketo: "rating"},
			config.FieldMap{Certain: "lastSeen", Marketo: "lastSeen"})
	}))
	for _, f := range typedLeadFields {
		e.mk.AddLeadField(f.field)
	}
	id := e.mk.AddLead(marketo.Lead{"email": "rey@example.org", "firstName": "Rey", "attendedBefore": true, "visitCount": 5, "rating": 4.25, "lastSeen": "2026-03-30T14:05:00Z"})
	unset := e.mk.AddLead(marketo.Lead{"email": "sol@example.org"}) // booleans never set read false
	e.mk.AddList(listID, "invitees", []int{id, unset})
	e.PutJob(t, leadsJob(listID))
	if r := e.run(t, "import-hs26"); r.Outcome != store.RunSucceeded {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Error)
	}
	got := map[string]map[string]any{}
	for _, p := range e.ce.Profiles(acct) {
		got[p["email"].(string)] = p
	}
	p := got["rey@example.org"]
	if p["attendedBefore"] != "true" || p["visits"] != "5" || p["rating"] != "4.25" || p["lastSeen"] != "2026-03-30T14:05:00Z" {
		t.Errorf("imported profile %v", p)
	}
	if q := got["sol@example.org"]; q["attendedBefore"] != "false" || q["visits"] != nil {
		t.Errorf("profile of a lead without values %v: the unset boolean reads false, the unset integer stays out", q)
	}
}

// The lead resolution creates a missing lead only to learn its id: a mapped
// value that does not fit its Marketo type is left out of that create
// (counted, and reported per record by sync-leads) rather than costing the
// metric or campaign its lead.
func TestLeadResolutionCreateLeavesOutUnfitValues(t *testing.T) {
	e := newMetricsEnv(t, memstore.New())
	interestObject(e.mk)
	e.mk.AddLeadField(marketo.LeadField{Name: "attendedBefore", DataType: "boolean"})
	conn, err := e.store.GetConnection(context.Background(), "ACME")
	if err != nil {
		t.Fatal(err)
	}
	conn.FieldMapping = []config.FieldMap{{Certain: "email", Marketo: "email"}, {Certain: "firstName", Marketo: "firstName"}, {Certain: "attendedBefore", Marketo: "attendedBefore"}}
	if err := e.store.PutConnection(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	seedInterest(e.certain, e.mk, []line{{"R-A", "W1", "REGISTERED"}})
	pin := e.certain.AddProfile("ACME", map[string]any{"email": "new.person@example.org", "firstName": "Nia", "attendedBefore": "sometimes"})
	e.certain.AddRegistration("ACME", "HS26", pin, map[string]any{"registrationCode": "R-N", "registrationStatusLabel": "Pre-Registered", "isConfirmed": true})
	e.certain.AddAgendaLine("ACME", "HS26", map[string]any{"registrationCode": "R-N", "activityCode": "W2", "status": "REGISTERED"})
	e.putJob(interestJob("int", []string{"registered"}, nil))
	run := e.run("int", false)
	if run.Outcome != store.RunSucceeded || run.Counts["leadFieldsLeftOut"] != 1 {
		t.Fatalf("run %s %v %q, want succeeded with one lead field left out", run.Outcome, run.Counts, run.Error)
	}
	l := e.mk.LeadsByEmail("new.person@example.org")
	if len(l) != 1 || l[0]["firstName"] != "Nia" || l[0]["attendedBefore"] != nil {
		t.Fatalf("created lead %v: want firstName sent and attendedBefore left out", l)
	}
	recs := e.records(jobs.DefaultInterestObject, "leadID")
	if _, ok := recs[strconv.Itoa(l[0].ID())]; !ok {
		t.Errorf("no interest record for the created lead: %v", recs)
	}
}

// Every Marketo type, through sync-leads against the simulator: a value
// already in Marketo's form, a Certain form that converts, and one that
// cannot be converted (each its own registration): the first two reach
// Marketo typed, the third fails alone with a reason naming the type.
func TestSyncLeadsEveryTypeValidConvertibleInvalid(t *testing.T) {
	type tc struct {
		field                     marketo.LeadField
		valid, convertible, wrong any
		want                      any // the convertible value as Marketo stores it
	}
	cases := []tc{
		{marketo.LeadField{Name: "tBool", DataType: "boolean"}, true, "Yes", "other", true},
		{marketo.LeadField{Name: "tInt", DataType: "integer"}, 5, "42", "14.1", 42},
		{marketo.LeadField{Name: "tScore", DataType: "score"}, 10, "+7", "high", 7},
		{marketo.LeadField{Name: "tFloat", DataType: "float"}, 5.4, "2.25", "14c", 2.25},
		{marketo.LeadField{Name: "tCurrency", DataType: "currency"}, 34.66, "$1,250.50", "ten", 1250.5},
		{marketo.LeadField{Name: "tPercent", DataType: "percent"}, 99, "85%", "100.5%", 85},
		{marketo.LeadField{Name: "tDate", DataType: "date"}, "2020-08-30", "2026-04-01T23:30:00-05:00", "yesterday", "2026-04-01"},
		{marketo.LeadField{Name: "tDatetime", DataType: "datetime"}, "2020-08-30T05:49:48Z", "2026-04-01 08:03:11", "yesterday", "2026-04-01T08:03:11Z"},
		{marketo.LeadField{Name: "tString", DataType: "string", MaxLength: 6}, "short", 123456, "much too long", "123456"},
		{marketo.LeadField{Name: "tText", DataType: "text"}, "notes", true, strings.Repeat("x", 30001), "true"},
		{marketo.LeadField{Name: "tEmail", DataType: "email", MaxLength: 255}, "a@example.net", " b@example.net ", "bademail", "b@example.net"},
		{marketo.LeadField{Name: "tURL", DataType: "url", MaxLength: 255}, "https://example.net", " https://example.org/x ", "example.org", "https://example.org/x"},
		{marketo.LeadField{Name: "tPhone", DataType: "phone", MaxLength: 12}, "+1-555-0100", 5550100, "+1 (555) 0100 ext. 12", "5550100"},
	}
	env := jobstest.New(t, jobstest.WithFunc(config.TypeSyncLeads, jobs.SyncLeads), jobstest.WithConnection(func(c *config.Connection) {
		for _, k := range cases {
			c.FieldMapping = append(c.FieldMapping, config.FieldMap{Certain: "q" + k.field.Name, Marketo: k.field.Name})
		}
	}))
	regs := map[string]string{} // registration code -> "<field>/<kind>"
	for _, k := range cases {
		env.Marketo.AddLeadField(k.field)
		for kind, v := range map[string]any{"valid": k.valid, "convertible": k.convertible, "wrong": k.wrong} {
			email := strings.ToLower(k.field.Name) + "." + kind + "@example.com"
			_, code := seedReg(env, map[string]any{"email": email, "q" + k.field.Name: v}, "Attended")
			regs[code] = k.field.Name + "/" + kind
		}
	}
	env.PutJob(t, syncJob("every", "Attended"))
	run := env.RunJob(t, context.Background(), "every")
	if run.Counts[store.OutcomeCreated] != 2*len(cases) || run.Counts[store.OutcomeFailed] != len(cases) {
		t.Fatalf("run %s %v %q, want %d created and %d failed", run.Outcome, run.Counts, run.Error, 2*len(cases), len(cases))
	}
	outs := outcomesByKey(t, env, run.ID)
	for _, k := range cases {
		name := k.field.Name
		if l := env.Marketo.LeadsByEmail(strings.ToLower(name) + ".convertible@example.com"); len(l) != 1 || l[0][name] != k.want {
			t.Errorf("%s: convertible %#v stored as %#v, want %#v", name, k.convertible, leadValue(l, name), k.want)
		}
		if l := env.Marketo.LeadsByEmail(strings.ToLower(name) + ".valid@example.com"); len(l) != 1 || l[0][name] == nil {
			t.Errorf("%s: valid value not stored: %v", name, l)
		}
		if n := len(env.Marketo.LeadsByEmail(strings.ToLower(name) + ".wrong@example.com")); n != 0 {
			t.Errorf("%s: the unconvertible value reached Marketo", name)
		}
	}
	for code, what := range regs {
		o := outs[code]
		field, kind, _ := strings.Cut(what, "/")
		if kind != "wrong" {
			continue
		}
		dt := ""
		for _, k := range cases {
			if k.field.Name == field {
				dt = k.field.DataType
			}
		}
		if o.Outcome != store.OutcomeFailed || o.Code != jobs.CodeType || !strings.Contains(o.Reason, `Marketo field "`+field+`" (`+dt+`)`) {
			t.Errorf("%s: %+v, want failed with code type naming the field and %s", what, o, dt)
		}
	}
}

func leadValue(l []marketo.Lead, f string) any {
	if len(l) == 0 {
		return "(no lead)"
	}
	return l[0][f]
}

// A run reads the lead describe once, however many batches create leads.
func TestLeadDescribeReadOncePerRun(t *testing.T) {
	e := newMetricsEnv(t, memstore.New())
	interestObject(e.mk)
	seedInterest(e.certain, e.mk, nil)
	for i := range 650 {
		code := "R-U" + strconv.Itoa(i)
		pin := e.certain.AddProfile("ACME", map[string]any{"email": strings.ToLower(code) + "@example.org"})
		e.certain.AddRegistration("ACME", "HS26", pin, map[string]any{"registrationCode": code, "registrationStatusLabel": "Pre-Registered", "isConfirmed": true})
		e.certain.AddAgendaLine("ACME", "HS26", map[string]any{"registrationCode": code, "activityCode": "W2", "status": "REGISTERED"})
	}
	e.putJob(interestJob("int", []string{"registered"}, nil))
	run := e.run("int", false)
	if run.Outcome != store.RunSucceeded || run.Counts[store.OutcomeCreated] != 650 {
		t.Fatalf("run %s %v %q", run.Outcome, run.Counts, run.Error)
	}
	if n := e.mk.CountPath("/rest/v1/leads/describe.json"); n != 1 {
		t.Errorf("%d lead describes for one run that created leads in 3 batches, want 1", n)
	}
}
