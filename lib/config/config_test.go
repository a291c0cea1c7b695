package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func validConn() Connection {
	return Connection{Account: "ACME", CertainBaseURL: "https://certain.example.com", CertainSecret: "certain-marketo/dev/certain", MarketoSecret: "certain-marketo/dev/marketo"}
}

func validJob() Job {
	return Job{ID: "summit-sync", Account: "ACME", Event: "HS26", Type: TypeSyncLeads, Enabled: true,
		Schedule: Schedule{Interval: Duration(15 * time.Minute)}, Params: Params{Statuses: []string{"Attended"}}}
}

func TestJobValidateMessages(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Job)
		want   string
	}{
		{"no statuses", func(j *Job) { j.Params.Statuses = nil }, `job "summit-sync": params.statuses: at least one status required`},
		{"negative retry period", func(j *Job) { j.Params.RetryFailuresAfter = Duration(-time.Hour) }, `job "summit-sync": params.retryFailuresAfter: must not be negative`},
		{"foreign param", func(j *Job) { j.Params.CampaignID = 5 }, `job "summit-sync": params.campaignId: not used by job type "sync-leads"`},
		{"negative verify period", func(j *Job) { d := Duration(-time.Minute); j.Params.VerifyIDsEvery = &d }, `job "summit-sync": params.verifyIdsEvery: must be between 0s (every run) and 720h, got -1m`},
		{"verify period too long", func(j *Job) { d := Duration(31 * 24 * time.Hour); j.Params.VerifyIDsEvery = &d }, `params.verifyIdsEvery: must be between 0s (every run) and 720h, got 744h`},
		{"verify period on metrics", func(j *Job) {
			d := Duration(time.Hour)
			j.Type, j.Params = TypeEngagementMetrics, Params{VerifyIDsEvery: &d}
		}, `params.verifyIdsEvery: not used by job type "engagement-metrics"`},
		{"unknown type", func(j *Job) { j.Type = "nope" }, `job "summit-sync": type: must be one of`},
		{"no schedule", func(j *Job) { j.Schedule = Schedule{} }, `job "summit-sync": schedule: exactly one of at, interval or cron required`},
		{"bad cron", func(j *Job) { j.Schedule = Schedule{Cron: "61 * * * *"} }, `schedule.cron: cron "61 * * * *": minute: value 61 out of range 0-59`},
		{"bad tz", func(j *Job) { j.Schedule = Schedule{Cron: "0 * * * *", Timezone: "Mars/Base"} }, `schedule.timezone: unknown time zone "Mars/Base"`},
		{"short interval", func(j *Job) { j.Schedule.Interval = Duration(time.Second) }, `schedule.interval: must be at least 1m, got 1s`},
		{"profiles with event", func(j *Job) { j.Type = TypeImportProfiles; j.Params = Params{ListID: 3} }, `event: must be empty`},
		{"token shape", func(j *Job) {
			j.Type = TypeTriggerCampaign
			j.Params = Params{CampaignID: 1, ToStatus: "Attended", Tokens: []TokenSpec{{Name: "my.X", Value: "v"}}}
		}, `params.tokens[0].name: must look like {{my.Name}}`},
		{"interest include", func(j *Job) {
			j.Type = TypeInterestMetrics
			j.Params = Params{CustomObject: "co", Fields: map[string]string{"a": "b"}}
		}, `params.include: at least one of registered, attended required`},
		{"bad id", func(j *Job) { j.ID = "a#b" }, `id: must be`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := validJob()
			tc.mutate(&j)
			err := j.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if err := validJob().Validate(); err != nil {
		t.Fatalf("valid job: %v", err)
	}
}

func TestValidateForUnknownStatus(t *testing.T) {
	j := validJob()
	j.Params.Statuses = []string{" attended ", "Gone"}
	err := j.ValidateFor(validConn())
	if err == nil || !strings.Contains(err.Error(), `params.statuses[1]: unknown registration status "Gone"`) || strings.Contains(err.Error(), "statuses[0]") {
		t.Fatalf("ValidateFor = %v", err)
	}
}

func TestConnectionValidate(t *testing.T) {
	c := validConn()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.MarketoBudget = Budget{CallsPer20s: 101, Concurrent: 11}
	c.CertainBudget = CertainBudget{Concurrent: 65, CallsPerSecond: -1}
	c.MaxInFlight = 65
	c.CertainBaseURL = "http://x"
	c.Statuses = []Status{{"A", "accepted"}, {" a ", "weird"}}
	err := c.Validate()
	for _, want := range []string{
		`connection "ACME": marketoBudget.callsPer20s: must be between 1 and 100`,
		`marketoBudget.concurrent: must be between 1 and 10`,
		`certainBudget.concurrent: must be between 1 and 64 (0 = default 16), got 65`,
		`certainBudget.callsPerSecond: must be between 1 and 1000 (0 = default 50), got -1`,
		`maxInFlight: must be between 1 and 64 (0 = certainBudget.concurrent), got 65`,
		`certainBaseURL: scheme must be https`,
		`statuses[1].name: status " a " repeats statuses[0]`,
		`statuses[1].category: must be one of`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want %q", err, want)
		}
	}
	d := validConn().WithDefaults()
	if d.MarketoBudget != (Budget{50, 5, 10000}) || len(d.Statuses) != 11 || d.PageSize != 200 || d.CertainFields.ExternalID != "externalKey" {
		t.Fatalf("defaults: %+v", d)
	}
	// The Certain budget: 16 in flight and 50 calls per second, and one
	// process may use all 16 unless maxInFlight says less.
	if d.CertainBudget != (CertainBudget{16, 50}) || d.MaxInFlight != 16 {
		t.Fatalf("certain defaults: %+v, maxInFlight %d", d.CertainBudget, d.MaxInFlight)
	}
	c = validConn()
	c.CertainBudget.Concurrent = 6
	if d := c.WithDefaults(); d.MaxInFlight != 6 || d.CertainBudget.CallsPerSecond != 50 {
		t.Fatalf("maxInFlight %d with certainBudget.concurrent 6, want 6 (and 50 calls/s)", d.MaxInFlight)
	}
}

func TestStatusCategory(t *testing.T) {
	c := validConn()
	for name, want := range map[string]string{"  no-SHOW ": CategoryAccepted, "Waitlist Hold": CategoryPending, "request denied": CategoryDenied, "Cancelled": CategoryCancelled} {
		if got, ok := c.StatusCategory(name); !ok || got != want {
			t.Errorf("StatusCategory(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
	if _, ok := c.StatusCategory("VIP"); ok {
		t.Error("VIP is not a default status")
	}
	c.Statuses = []Status{{"VIP", CategoryAccepted}}
	if got, ok := c.StatusCategory("vip"); !ok || got != CategoryAccepted {
		t.Errorf("custom vocabulary: %q %v", got, ok)
	}
	if _, ok := c.StatusCategory("Attended"); ok {
		t.Error("a custom vocabulary replaces the defaults")
	}
}

func TestDecodeStrict(t *testing.T) {
	_, err := ParseJob([]byte(`{"id":"x","account":"A","event":"E","type":"sync-leads","schedule":{"interval":"15m"},"params":{"statuses":["New"],"statusez":1}}`))
	if err == nil || !strings.Contains(err.Error(), `unknown field "statusez"`) {
		t.Fatalf("unknown field: %v", err)
	}
	j, err := ParseJob([]byte(`{"id":"x","account":"A","event":"E","type":"sync-leads","schedule":{"interval":"1h30m"},"params":{"statuses":["New"]}}`))
	if err != nil || time.Duration(j.Schedule.Interval) != 90*time.Minute {
		t.Fatalf("ParseJob = %+v, %v", j, err)
	}
	b, _ := json.Marshal(Schedule{Interval: Duration(15 * time.Minute)})
	if string(b) != `{"interval":"15m"}` {
		t.Fatalf("marshal = %s", b)
	}
	if _, err := ParseJob([]byte(`{"id":"x","schedule":{"interval":900}}`)); err == nil || !strings.Contains(err.Error(), `"15m"`) {
		t.Fatalf("numeric duration: %v", err)
	}
}

func TestLoadFileYAMLAndJSON(t *testing.T) {
	dir := t.TempDir()
	y := `connections:
  - account: ACME
    certainBaseURL: https://certain.example.com
    certainSecret: c
    marketoSecret: m
    marketoBudget: {callsPer20s: 40, concurrent: 4, daily: 5000}
    certainFields: {externalIdField: extId}
jobs:
  - id: summit-sync
    account: ACME
    event: HS26
    type: sync-leads
    enabled: true
    schedule: {cron: "*/10 8-18 * * MON-FRI", timezone: America/Chicago, start: 2026-01-01T00:00:00Z}
    params: {statuses: [Attended]}
`
	p := filepath.Join(dir, "c.yaml")
	os.WriteFile(p, []byte(y), 0o600)
	f, err := LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if f.Connections[0].MarketoBudget.CallsPer20s != 40 || f.Connections[0].CertainFields.ExternalID != "extId" || f.Jobs[0].Schedule.Start == nil || !f.Jobs[0].Schedule.Start.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("loaded %+v", f)
	}
	os.WriteFile(p, []byte(strings.Replace(y, "enabled: true", "enabled: true\n    enabeld: true", 1)), 0o600)
	if _, err := LoadFile(p); err == nil || !strings.Contains(err.Error(), `unknown field "enabeld"`) {
		t.Fatalf("unknown yaml field: %v", err)
	}
	os.WriteFile(p, []byte(strings.Replace(y, "params: {statuses: [Attended]}", "params: {statuses: [Nope]}", 1)), 0o600)
	if _, err := LoadFile(p); err == nil || !strings.Contains(err.Error(), `job "summit-sync": params.statuses[0]: unknown registration status "Nope"`) {
		t.Fatalf("status check on load: %v", err)
	}
	pj := filepath.Join(dir, "c.json")
	os.WriteFile(pj, []byte(`{"connections":[],"jobs":[],"extra":1}`), 0o600)
	if _, err := LoadFile(pj); err == nil || !strings.Contains(err.Error(), `unknown field "extra"`) {
		t.Fatalf("json: %v", err)
	}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr(t time.Time) *time.Time { return &t }

func TestScheduleNext(t *testing.T) {
	tests := []struct {
		name  string
		s     Schedule
		after string
		want  string // "" = no next run
	}{
		{"once future", Schedule{At: ptr(mustTime("2026-03-01T10:00:00Z"))}, "2026-02-01T00:00:00Z", "2026-03-01T10:00:00Z"},
		{"once past", Schedule{At: ptr(mustTime("2026-03-01T10:00:00Z"))}, "2026-03-01T10:00:00Z", ""},
		{"interval no start", Schedule{Interval: Duration(15 * time.Minute)}, "2026-03-01T10:07:00Z", "2026-03-01T10:22:00Z"},
		{"interval anchored", Schedule{Interval: Duration(15 * time.Minute), Start: ptr(mustTime("2026-03-01T10:00:00Z"))}, "2026-03-01T10:07:00Z", "2026-03-01T10:15:00Z"},
		{"interval before start", Schedule{Interval: Duration(time.Hour), Start: ptr(mustTime("2026-03-01T10:00:00Z"))}, "2026-02-01T00:00:00Z", "2026-03-01T10:00:00Z"},
		{"interval past end", Schedule{Interval: Duration(time.Hour), End: ptr(mustTime("2026-03-01T10:30:00Z"))}, "2026-03-01T10:00:00Z", ""},
		{"cron utc", Schedule{Cron: "30 2 * * *"}, "2026-03-01T02:30:00Z", "2026-03-02T02:30:00Z"},
		{"cron tz", Schedule{Cron: "0 9 * * MON-FRI", Timezone: "America/Chicago"}, "2026-03-06T16:00:00Z", "2026-03-09T14:00:00Z"}, // Fri after 9 CST -> Mon 9 CDT
		{"cron dst gap skipped", Schedule{Cron: "30 2 * * *", Timezone: "America/Chicago"}, "2026-03-08T07:00:00Z", "2026-03-09T07:30:00Z"},
		{"cron step and list", Schedule{Cron: "*/20 1,3 * * *"}, "2026-03-01T01:40:00Z", "2026-03-01T03:00:00Z"},
		{"cron dom or dow", Schedule{Cron: "0 0 13 * FRI"}, "2026-03-01T00:00:00Z", "2026-03-06T00:00:00Z"},
		{"cron start window", Schedule{Cron: "0 * * * *", Start: ptr(mustTime("2026-05-01T00:00:00Z"))}, "2026-03-01T00:00:00Z", "2026-05-01T00:00:00Z"},
		{"cron end window", Schedule{Cron: "0 0 1 * *", End: ptr(mustTime("2026-03-15T00:00:00Z"))}, "2026-03-01T00:00:00Z", ""},
		{"cron never", Schedule{Cron: "0 0 30 2 *"}, "2026-03-01T00:00:00Z", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.s.Next(mustTime(tc.after))
			if tc.want == "" {
				if ok {
					t.Fatalf("Next = %v, want none", got)
				}
				return
			}
			if !ok || !got.Equal(mustTime(tc.want)) {
				t.Fatalf("Next = %v %v, want %s", got.UTC(), ok, tc.want)
			}
		})
	}
}

// overwriteForeignExternalIds is a boolean connection setting, off by
// default; anything but true or false is an error that names it.
func TestOverwriteForeignExternalIDsSetting(t *testing.T) {
	base := `{"account":"ACME","certainBaseURL":"https://certain.example.com","certainSecret":"c","marketoSecret":"m","marketoBudget":{"callsPer20s":0,"concurrent":0,"daily":0},"fieldMapping":[]`
	c, err := ParseConnection([]byte(base + `}`))
	if err != nil || c.OverwriteForeignExternalIDs {
		t.Fatalf("default: %+v %v, want off", c.OverwriteForeignExternalIDs, err)
	}
	c, err = ParseConnection([]byte(base + `,"overwriteForeignExternalIds":true}`))
	if err != nil || !c.OverwriteForeignExternalIDs || c.Validate() != nil {
		t.Fatalf("on: %+v %v", c.OverwriteForeignExternalIDs, err)
	}
	if _, err := ParseConnection([]byte(base + `,"overwriteForeignExternalIds":"yes"}`)); err == nil || !strings.Contains(err.Error(), "overwriteForeignExternalIds") {
		t.Fatalf("a string: %v, want an error naming overwriteForeignExternalIds", err)
	}
}

// leadIdTrust is a duration from 0s (the default: every id checked) to
// 24h, read from the connection file; outside that range, an error that
// names it.
func TestLeadIDTrustSetting(t *testing.T) {
	base := `{"account":"ACME","certainBaseURL":"https://certain.example.com","certainSecret":"c","marketoSecret":"m","fieldMapping":[]`
	c, err := ParseConnection([]byte(base + `}`))
	if err != nil || c.LeadIDTrust != 0 || c.Validate() != nil {
		t.Fatalf("default: %v %v %v, want 0 and valid", c.LeadIDTrust, err, c.Validate())
	}
	c, err = ParseConnection([]byte(base + `,"leadIdTrust":"1h"}`))
	if err != nil || c.LeadIDTrust != Duration(time.Hour) || c.Validate() != nil {
		t.Fatalf("1h: %v %v %v", c.LeadIDTrust, err, c.Validate())
	}
	for _, v := range []string{`"-1s"`, `"25h"`} {
		c, err := ParseConnection([]byte(base + `,"leadIdTrust":` + v + `}`))
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), "leadIdTrust") {
			t.Errorf("leadIdTrust %s: %v, want an error naming leadIdTrust", v, err)
		}
	}
}

// params.customObject of the metrics jobs may be left out: validation
// accepts the job, and WithDefaults gives it the documented object.
func TestMetricsCustomObjectDefault(t *testing.T) {
	for typ, want := range map[string]string{TypeEngagementMetrics: DefaultEngagementObject, TypeInterestMetrics: DefaultInterestObject} {
		j := Job{ID: "m", Account: "ACME", Event: "HS26", Type: typ, Schedule: Schedule{Interval: Duration(time.Hour)}, Params: Params{Modules: []string{ModuleSpeakerSession}}}
		if typ == TypeInterestMetrics {
			j.Params.Include = []string{"registered"}
		}
		if err := j.Validate(); err != nil {
			t.Errorf("%s without customObject: %v", typ, err)
		}
		if got := j.WithDefaults().Params.CustomObject; got != want {
			t.Errorf("%s: default object %q, want %q", typ, got, want)
		}
		j.Params.CustomObject = " eventInterest_c "
		if got := j.WithDefaults().Params.CustomObject; got != "eventInterest_c" {
			t.Errorf("%s: configured object %q, want it trimmed and kept", typ, got)
		}
	}
	if got := validJob().WithDefaults(); got.Params.CustomObject != "" {
		t.Errorf("sync-leads got a custom object %q", got.Params.CustomObject)
	}
}

// Where both types are known offline, a mapping whose Certain values can
// never fit the Marketo field is reported by Validate (cmctl validate): a
// Certain text field into a Marketo boolean, standard or declared in
// marketoFieldTypes.
func TestMappingTypeMismatch(t *testing.T) {
	tests := []struct {
		name    string
		mapping []FieldMap
		types   map[string]string
		want    string // "" = valid
	}{
		{"text into a standard boolean", []FieldMap{{Certain: "organization", Marketo: "unsubscribed"}}, nil,
			`connection "ACME": fieldMapping[0]: type mismatch: Certain field "organization" holds text values, which cannot fit Marketo field "unsubscribed" (boolean)`},
		{"text into a declared custom boolean", []FieldMap{{Certain: "email", Marketo: "email"}, {Certain: "position", Marketo: "attendedBefore"}},
			map[string]string{"attendedBefore": "boolean"},
			`fieldMapping[1]: type mismatch: Certain field "position" holds text values, which cannot fit Marketo field "attendedBefore" (boolean)`},
		{"postal code into an integer", []FieldMap{{Certain: "address.postalCode", Marketo: "numberOfEmployees"}}, nil, `cannot fit Marketo field "numberOfEmployees" (integer)`},
		{"read-only standard field", []FieldMap{{Certain: "registration.dateModified", Marketo: "updatedAt"}}, nil, `fieldMapping[0].marketo: Marketo field "updatedAt" is read-only`},
		{"boolean into a declared boolean", []FieldMap{{Certain: "registration.isConfirmed", Marketo: "confirmed"}}, map[string]string{"confirmed": "boolean"}, ""},
		{"unknown Certain field into a boolean: checked per record", []FieldMap{{Certain: "attendedBefore", Marketo: "unsubscribed"}}, nil, ""},
		{"unknown Marketo field: checked by the jobs", []FieldMap{{Certain: "organization", Marketo: "someCustomField"}}, nil, ""},
		{"bad declared type", nil, map[string]string{"x": "bool"}, `marketoFieldTypes.x: unknown Marketo dataType "bool"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConn()
			c.FieldMapping, c.MarketoFieldTypes = tc.mapping, tc.types
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want valid", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestQuotaZoneAndOverflowSettings(t *testing.T) {
	c := validConn()
	d := c.WithDefaults()
	if d.QuotaZone != "America/Chicago" || d.StringOverflow != "refuse" || c.Zone() != "America/Chicago" || c.Overflow() != "refuse" {
		t.Errorf("defaults: zone %q overflow %q", d.QuotaZone, d.StringOverflow)
	}
	c.QuotaZone, c.StringOverflow = "UTC-6", "truncate"
	if err := c.Validate(); err != nil || c.Zone() != "UTC-6" || c.Overflow() != "truncate" {
		t.Errorf("UTC-6/truncate: %v %q %q", err, c.Zone(), c.Overflow())
	}
	c.QuotaZone, c.StringOverflow = "CST", "cut"
	err := c.Validate()
	for _, want := range []string{`quotaZone: quota zone "CST": want "America/Chicago"`, `stringOverflow: string overflow "cut"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want %q", err, want)
		}
	}
}

// TestVerifyIDsEvery: unset means the 24h default, "0s" (kept apart from
// unset) means every run, and both survive a JSON round trip.
func TestVerifyIDsEvery(t *testing.T) {
	for _, tc := range []struct {
		json string
		want time.Duration
	}{
		{`{}`, DefaultVerifyIDsEvery},
		{`{"verifyIdsEvery":"0s"}`, 0},
		{`{"verifyIdsEvery":"6h"}`, 6 * time.Hour},
	} {
		var p Params
		if err := json.Unmarshal([]byte(tc.json), &p); err != nil {
			t.Fatal(err)
		}
		if got := p.VerifyIDsInterval(); got != tc.want {
			t.Errorf("%s: VerifyIDsInterval() = %v, want %v", tc.json, got, tc.want)
		}
		j := validJob()
		j.Params.VerifyIDsEvery = p.VerifyIDsEvery
		if err := j.Validate(); err != nil {
			t.Errorf("%s: %v", tc.json, err)
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back Params
		if err := json.Unmarshal(out, &back); err != nil || back.VerifyIDsInterval() != tc.want {
			t.Errorf("%s: round trip %s gives %v (%v)", tc.json, out, back.VerifyIDsInterval(), err)
		}
	}
}
