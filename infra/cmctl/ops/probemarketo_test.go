package ops

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
)

// marketoProbeSim is an instance with what the probe looks at: typed custom lead
// fields (a boolean among them), a static list, campaigns of every kind and
// the two custom objects, one of them with a field the interest job cannot
// write.
func marketoProbeSim(t *testing.T) *marketotest.Server {
	t.Helper()
	sim := marketotest.NewServer(t)
	sim.AddLeadField(marketo.LeadField{Name: "attendedBefore", DataType: "boolean"})
	sim.AddLeadField(marketo.LeadField{Name: "sessionsPlanned", DataType: "integer"})
	var ids []int
	for _, e := range []string{"a@example.net", "b@example.net", "c@example.net"} {
		ids = append(ids, sim.AddLead(marketo.Lead{"email": e}))
	}
	sim.AddList(1001, "HS26 Invitees", ids)
	sim.AddCampaign(marketotest.Campaign{ID: 2001, Name: "HS26 - Registered", Type: "trigger", Active: true, Requestable: true})
	sim.AddCampaign(marketotest.Campaign{ID: 2005, Name: "HS26 - Nurture", Type: "batch", Active: true})
	sim.AddCampaign(marketotest.Campaign{ID: 2006, Name: "HS26 - Form fill", Type: "trigger", Active: true})
	sim.AddCustomObjectType(marketotest.CustomObjectType{Name: "CertainEngagementMetrics", DedupeFields: []string{"metricKey"}, LinkField: "leadID",
		Fields: []marketo.CustomObjectField{{Name: "eventCode", DataType: "string", Length: 255, Updatable: true},
			{Name: "sessionsRegistered", DataType: "integer", Updatable: true}, {Name: "sessionsAttended", DataType: "integer", Updatable: true},
			{Name: "avgSessionRating", DataType: "float", Updatable: true}}})
	sim.AddCustomObjectType(marketotest.CustomObjectType{Name: "CertainInterestPoints", DedupeFields: []string{"interestKey"}, LinkField: "leadID",
		Fields: []marketo.CustomObjectField{{Name: "programName", DataType: "string", Updatable: true}, {Name: "interest", DataType: "string", Updatable: true},
			{Name: "interestPoints", DataType: "boolean", Updatable: true}}})
	return sim
}

const probeConnection = `connections:
  - account: ACME
    certainBaseURL: https://acme.certain.example
    certainSecret: certain-marketo/dev/certain
    marketoSecret: certain-marketo/dev/marketo
    fieldMapping:
      - {certain: email, marketo: email}
      - {certain: firstName, marketo: firstName}
      - {certain: organization, marketo: company}
      - {certain: sessionsPlanned, marketo: sessionsPlanned}
      - {certain: position, marketo: attendedBefore}
      - {certain: address.city, marketo: cityName}
jobs:
  - {id: hs26-import, account: ACME, event: HS26, type: import-leads, name: i, enabled: true, schedule: {interval: 15m},
     params: {listId: 1001, registrationStatus: Invited}}
  - {id: hs26-missing-list, account: ACME, event: HS26, type: import-leads, name: i, enabled: true, schedule: {interval: 15m},
     params: {listId: 1999, registrationStatus: Invited}}
  - {id: hs26-trigger, account: ACME, event: HS26, type: trigger-campaign, name: t, enabled: true, schedule: {interval: 15m},
     params: {campaignId: 2001, toStatus: Pre-Registered, tokens: [{name: "{{my.Event}}", value: HS26}]}}
  - {id: hs26-batch, account: ACME, event: HS26, type: trigger-campaign, name: t, enabled: true, schedule: {interval: 15m},
     params: {campaignId: 2005, toStatus: Attended}}
  - {id: hs26-form, account: ACME, event: HS26, type: trigger-campaign, name: t, enabled: true, schedule: {interval: 15m},
     params: {campaignId: 2006, toStatus: Cancelled}}
  - {id: hs26-engagement, account: ACME, event: HS26, type: engagement-metrics, name: e, enabled: true, schedule: {interval: 15m},
     params: {customObject: CertainEngagementMetrics, modules: [agenda]}}
  - {id: hs26-interest, account: ACME, event: HS26, type: interest-metrics, name: p, enabled: true, schedule: {interval: 15m},
     params: {customObject: CertainInterestPoints, include: [registered]}}
`

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// probe-marketo against the simulator: one line per check, PASS where the
// instance fits the configuration, FAIL naming what does not (a Certain
// text field mapped into a Marketo boolean among them), exit 1.
func TestProbeMarketoAgainstSimulator(t *testing.T) {
	sim := marketoProbeSim(t)
	file := writeFile(t, "acme.yaml", probeConnection)
	env := map[string]string{EnvMarketoClientSecret: sim.ClientSecret()}
	r := cmctl(t, env, "probe-marketo", "--connection", file, "--url", sim.URL, "--client-id", sim.ClientID(), "--allow-http")
	if r.code != ExitFailure {
		t.Fatalf("exit %d, want 1 (failed checks)\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"PASS  credentials",
		"PASS  daily usage",
		"1 call today",
		"this connection's daily share 10000 of a 50000-call quota",
		`PASS  lead field email`, `email(255), writable; from Certain "email" (email)`,
		`PASS  lead field sessionsPlanned`, `integer, writable; from Certain "sessionsPlanned" (type unknown: converted record by record)`,
		`FAIL  lead field attendedBefore`, `boolean: Certain field "position" holds text values, which cannot fit`,
		`FAIL  lead field cityName`, "no such lead field",
		`PASS  job hs26-import: static list 1001`, `"HS26 Invitees": 3 members`,
		`FAIL  job hs26-missing-list: static list 1999`, "no such static list (1013)",
		`PASS  job hs26-trigger: campaign 2001`, "trigger, active, requestable; 1 token well formed",
		`FAIL  job hs26-batch: campaign 2005`, "is a batch campaign",
		`FAIL  job hs26-form: campaign 2006`, "not requestable",
		`PASS  job hs26-engagement: custom object CertainEngagementMetrics`, "linked to Lead by leadID; dedupe metricKey; the 5 fields the job writes exist and fit their types",
		`FAIL  job hs26-interest: custom object`, `field "interestPoints" is boolean, which cannot hold points`,
		"15 checks, 6 failed",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout+r.stderr, sim.ClientSecret()) {
		t.Error("the client secret was printed")
	}
	for _, c := range sim.Calls() {
		if c.Method != "GET" && c.Path != "/identity/oauth/token" && !strings.Contains(c.URL, "_method=GET") {
			t.Errorf("the probe wrote: %s %s", c.Method, c.URL)
		}
	}
	if n := len(sim.Leads()); n != 3 {
		t.Errorf("%d leads after the probe, want the 3 seeded", n)
	}

	// --json: one object with the checks; --job narrows them.
	r = cmctl(t, env, "probe-marketo", "--json", "--connection", file, "--url", sim.URL, "--client-id", sim.ClientID(), "--allow-http",
		"--job", "hs26-trigger", "--print-field-types")
	var rep ProbeReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != ExitFailure || rep.OK {
		t.Fatalf("--json: exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	var names []string
	for _, c := range rep.Checks {
		if c.Name == "" || (c.Status != Pass && c.Status != Fail) || c.Detail == "" {
			t.Errorf("check %+v", c)
		}
		names = append(names, c.Name)
	}
	if got := strings.Join(names, "|"); strings.Contains(got, "hs26-import") || !strings.Contains(got, "job hs26-trigger: campaign 2001") {
		t.Errorf("--job hs26-trigger checked %s", got)
	}
	if rep.MarketoFieldTypes["attendedBefore"] != "boolean" || rep.MarketoFieldTypes["sessionsPlanned"] != "integer" || rep.MarketoFieldTypes["email"] != "" {
		t.Errorf("field types %v: want the mapped custom fields only", rep.MarketoFieldTypes)
	}
}

// The same mismatch is reported offline by cmctl validate once the
// connection declares the field's type: the types probe-marketo printed
// from the simulator's describe.
func TestValidateReportsTextIntoBooleanWithProbedTypes(t *testing.T) {
	sim := marketoProbeSim(t)
	file := writeFile(t, "acme.yaml", probeConnection)
	env := map[string]string{EnvMarketoClientSecret: sim.ClientSecret()}
	if r := cmctl(t, nil, "validate", file); r.code != ExitOK {
		t.Fatalf("without declared types the file is valid offline: exit %d\n%s", r.code, r.stderr)
	}
	r := cmctl(t, env, "probe-marketo", "--connection", file, "--url", sim.URL, "--client-id", sim.ClientID(), "--allow-http", "--print-field-types")
	i := strings.Index(r.stdout, "marketoFieldTypes:\n")
	if i < 0 {
		t.Fatalf("no field types printed:\n%s", r.stdout)
	}
	var types []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout[i+len("marketoFieldTypes:\n"):]), "\n") {
		types = append(types, "      "+strings.TrimSpace(l))
	}
	declared := strings.Replace(probeConnection, "    fieldMapping:\n", "    marketoFieldTypes:\n"+strings.Join(types, "\n")+"\n    fieldMapping:\n", 1)
	file = writeFile(t, "acme-typed.yaml", declared)
	r = cmctl(t, nil, "validate", file)
	want := `connection "ACME": fieldMapping[4]: type mismatch: Certain field "position" holds text values, which cannot fit Marketo field "attendedBefore" (boolean)`
	if r.code != ExitFailure || !strings.Contains(r.stderr, want) {
		t.Fatalf("validate: exit %d, stderr:\n%s\nwant %q", r.code, r.stderr, want)
	}
}

// Only credentials and usage with --url alone; bad credentials fail the
// first check and stop; usage mistakes exit 2.
func TestProbeMarketoCredentialsAndUsage(t *testing.T) {
	sim := marketoProbeSim(t)
	r := cmctl(t, map[string]string{EnvMarketoClientSecret: sim.ClientSecret()}, "probe-marketo", "--url", sim.URL, "--client-id", sim.ClientID(), "--allow-http")
	if r.code != ExitOK || !strings.Contains(r.stdout, "PASS  credentials") || !strings.Contains(r.stdout, "2 checks, 0 failed") {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = cmctl(t, map[string]string{EnvMarketoClientSecret: "wrong-secret"}, "probe-marketo", "--url", sim.URL, "--client-id", sim.ClientID(), "--allow-http")
	if r.code != ExitFailure || !strings.Contains(r.stdout, "FAIL  credentials") || !strings.Contains(r.stdout, "1 checks, 1 failed") || strings.Contains(r.stdout, "wrong-secret") {
		t.Fatalf("bad secret: exit %d:\n%s", r.code, r.stdout)
	}
	r = cmctl(t, map[string]string{EnvMarketoClientSecret: sim.ClientSecret()}, "probe-marketo", "--url", sim.URL, "--client-id", sim.ClientID(), "--allow-http", "--daily-quota", "1")
	if r.code != ExitFailure || !strings.Contains(r.stdout, "FAIL  daily usage") {
		t.Fatalf("quota smaller than today's calls: exit %d:\n%s", r.code, r.stdout)
	}
	for _, args := range [][]string{
		{"probe-marketo"},
		{"probe-marketo", "--url", sim.URL},
		{"probe-marketo", "--url", sim.URL, "--client-id", "x"}, // no secret in the environment
		{"probe-marketo", "--url", sim.URL, "--client-id", "x", "--job", "j"},
	} {
		if r := cmctl(t, nil, args...); r.code != ExitUsage {
			t.Errorf("%v: exit %d, want 2\n%s", args, r.code, r.stderr)
		}
	}
}

// The README's probe: the example configuration against the simulator
// seeded with docs/examples/marketo-sim-seed.json passes every check.
func TestProbeDocsExamplesPass(t *testing.T) {
	sim := marketotest.NewServer(t)
	ex := filepath.Join("..", "..", "..", "docs", "examples")
	if err := sim.LoadSeedFile(filepath.Join(ex, "marketo-sim-seed.json")); err != nil {
		t.Fatal(err)
	}
	r := cmctl(t, map[string]string{EnvMarketoClientSecret: sim.ClientSecret()}, "probe-marketo",
		"--connection", filepath.Join(ex, "acme-connection.yaml"), filepath.Join(ex, "acme-jobs.yaml"),
		"--url", sim.URL, "--client-id", sim.ClientID(), "--allow-http")
	if r.code != ExitOK || !strings.Contains(r.stdout, ", 0 failed") || strings.Contains(r.stdout, "FAIL") {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"lead field attendedBefore", "job hs26-import-invitees: static list 1001", "job hs26-registered-campaign: campaign 2001",
		"job hs26-engagement: custom object CertainEngagementMetrics", "job hs26-interest: custom object CertainInterestPoints"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}
