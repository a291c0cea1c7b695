package ops

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/fieldtype"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/secrets"
)

// EnvMarketoClientSecret holds the client secret of probe-marketo --url.
const EnvMarketoClientSecret = "MARKETO_CLIENT_SECRET"

// Check is one line of probe-marketo: a PASS or FAIL with what was found.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"` // PASS or FAIL
	Detail string `json:"detail"`
}

// Check statuses.
const (
	Pass = "PASS"
	Fail = "FAIL"
)

// ProbeReport is probe-marketo's --json output. MarketoFieldTypes (with
// --print-field-types) are the dataTypes of the mapped custom lead fields,
// for the connection's marketoFieldTypes.
type ProbeReport struct {
	OK                bool              `json:"ok"`
	Checks            []Check           `json:"checks"`
	MarketoFieldTypes map[string]string `json:"marketoFieldTypes,omitempty"`
}

// probeTarget is what probe-marketo checks: a connection (possibly only a
// stand-in for --url alone), the jobs to check, and the client to ask.
type probeTarget struct {
	conn      config.Connection
	hasConn   bool // a real connection: its mapping, budget and jobs are checked
	jobs      []config.Job
	client    *marketo.Client
	problems  []Check // configuration problems found while loading
	dailyQ    int
	listPages int
	// fieldTypes are the dataTypes of the mapped lead fields that are not
	// Marketo standard fields, as the describe gave them.
	fieldTypes map[string]string
}

// marketoProbeFlags are probe-marketo's own flags.
type marketoProbeFlags struct {
	connection, url, clientID string
	jobIDs                    []string
	files                     []string // more files, with the connection's jobs
	allowHTTP, printTypes     bool
	dailyQuota, listPages     int
}

func runProbeMarketo(ctx context.Context, e Env, args []string) error {
	var c common
	var pf marketoProbeFlags
	fs := newFlags("probe-marketo", e, &c)
	fs.StringVar(&pf.connection, "connection", "", "a connection file, or the account of a stored connection")
	fs.StringVar(&pf.url, "url", "", "Marketo REST base URL (with --client-id; secret from $"+EnvMarketoClientSecret+")")
	fs.StringVar(&pf.clientID, "client-id", "", "Marketo client id (with --url)")
	fs.Func("job", "check only this job (repeatable)", func(s string) error { pf.jobIDs = append(pf.jobIDs, s); return nil })
	fs.BoolVar(&pf.allowHTTP, "allow-http", false, "permit a plain http:// URL (simulators only)")
	fs.IntVar(&pf.dailyQuota, "daily-quota", 50000, "the subscription's daily API quota")
	fs.IntVar(&pf.listPages, "max-list-pages", 10, "count a static list's members over at most this many pages of 300")
	fs.BoolVar(&pf.printTypes, "print-field-types", false, "also print the mapped custom lead fields' types, for the connection's marketoFieldTypes")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	pf.files = pos
	switch {
	case len(pos) > 0 && pf.connection == "":
		return usagef("unexpected argument %q (more configuration files go with --connection FILE)", pos[0])
	case pf.connection == "" && pf.url == "":
		return usagef("say what to probe: --connection FILE|ACCOUNT, or --url URL --client-id ID")
	case (pf.url == "") != (pf.clientID == ""):
		return usagef("--url and --client-id go together")
	case pf.dailyQuota <= 0 || pf.listPages <= 0:
		return usagef("--daily-quota and --max-list-pages must be positive")
	}
	t := &probeTarget{dailyQ: pf.dailyQuota, listPages: pf.listPages}
	err = e.prepareProbe(ctx, c, pf, t)
	if errors.Is(err, errNoConnection) {
		return reportProbe(e, c, t.problems, nil) // the file's problems, as FAIL lines
	}
	if err != nil {
		return err
	}
	checks := append(t.problems, t.run(ctx)...)
	if !pf.printTypes {
		t.fieldTypes = nil
	}
	return reportProbe(e, c, checks, t.fieldTypes)
}

// errNoConnection: the connection file has problems that leave no
// connection to probe.
var errNoConnection = errors.New("no usable connection")

// prepareProbe loads the connection and jobs into t and builds its client.
func (e Env) prepareProbe(ctx context.Context, c common, pf marketoProbeFlags, t *probeTarget) error {
	if pf.connection != "" {
		if err := e.loadProbeConfig(ctx, c, pf.connection, pf.files, t); err != nil {
			return err
		}
		if err := t.selectJobs(pf.jobIDs); err != nil {
			return err
		}
	} else if len(pf.jobIDs) > 0 {
		return usagef("--job needs --connection (the jobs come from it)")
	}
	cred := secrets.MarketoCredentials{BaseURL: pf.url, ClientID: pf.clientID, ClientSecret: e.lookup(EnvMarketoClientSecret)}
	if pf.url != "" && cred.ClientSecret == "" {
		return usagef("--url needs the client secret in $%s", EnvMarketoClientSecret)
	}
	if pf.url == "" {
		var err error
		if cred, err = e.marketoSecret(ctx, t.conn.MarketoSecret); err != nil {
			return err
		}
	}
	conn := t.conn.WithDefaults()
	budget, err := limit.NewInProcess(limit.Config{CallsPer20s: conn.MarketoBudget.CallsPer20s, Concurrent: conn.MarketoBudget.Concurrent, QuotaZone: conn.Zone()})
	if err != nil {
		return err
	}
	t.client, err = marketo.New(marketo.Config{BaseURL: cred.BaseURL, IdentityURL: cred.IdentityURL, ClientID: cred.ClientID, ClientSecret: cred.ClientSecret,
		AllowHTTP: pf.allowHTTP || conn.AllowHTTP, Budget: budget, QuotaZone: conn.Zone(), MaxAttempts: 3})
	return err
}

// loadProbeConfig reads the connection and its jobs from files (a path that
// exists or ends in .json/.yaml/.yml, and more) or from the config table
// (an account).
func (e Env) loadProbeConfig(ctx context.Context, c common, src string, more []string, t *probeTarget) error {
	if _, statErr := os.Stat(src); statErr == nil || strings.HasSuffix(src, ".json") || strings.HasSuffix(src, ".yaml") || strings.HasSuffix(src, ".yml") {
		set := LoadFiles(append([]string{src}, more...))
		set.SortProblems()
		for _, p := range set.Problems {
			t.problems = append(t.problems, Check{Name: "configuration", Status: Fail, Detail: p.String()})
		}
		conns := set.Connections()
		if len(conns) != 1 {
			if len(t.problems) > 0 {
				return errNoConnection
			}
			return usagef("%s holds %d connections; probe one at a time", src, len(conns))
		}
		for _, conn := range conns {
			t.conn, t.hasConn = conn, true
		}
		for _, o := range set.Objects {
			if o.Job != nil && o.Job.Account == t.conn.Account {
				t.jobs = append(t.jobs, *o.Job)
			}
		}
		return nil
	}
	if len(more) > 0 {
		return usagef("unexpected argument %q: jobs of a stored connection come from the config table", more[0])
	}
	st, err := e.openStore(ctx, c)
	if err != nil {
		return err
	}
	if t.conn, err = st.GetConnection(ctx, src); err != nil {
		return fmt.Errorf("connection %q in %s: %w", src, c.configTable, err)
	}
	t.hasConn = true
	all, err := st.ListJobs(ctx, "")
	if err != nil {
		return fmt.Errorf("config table %s: %w", c.configTable, err)
	}
	for _, j := range all {
		if j.Account == src {
			t.jobs = append(t.jobs, j)
		}
	}
	return nil
}

// selectJobs keeps the jobs named by --job (all when none), and fails on a
// name that is not among them.
func (t *probeTarget) selectJobs(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	var keep []config.Job
	for _, id := range ids {
		i := slices.IndexFunc(t.jobs, func(j config.Job) bool { return j.ID == id })
		if i < 0 {
			return usagef("--job %q: no such job for account %q", id, t.conn.Account)
		}
		keep = append(keep, t.jobs[i])
	}
	t.jobs = keep
	return nil
}

// marketoSecret reads the connection's Marketo credentials from Secrets
// Manager, with the functions' own parser.
func (e Env) marketoSecret(ctx context.Context, id string) (secrets.MarketoCredentials, error) {
	cfg, err := e.awsConfig(ctx)
	if err != nil {
		return secrets.MarketoCredentials{}, err
	}
	cred, err := secrets.New(secretsmanager.NewFromConfig(cfg), time.Minute, nil).Marketo(ctx, id)
	if err != nil {
		return secrets.MarketoCredentials{}, fmt.Errorf("marketo secret: %w", err)
	}
	return cred, nil
}

// run makes the checks, read-only, in order: credentials first (nothing
// else can pass without them), then the day's usage, the mapped lead
// fields and each job's list, campaign or custom object.
func (t *probeTarget) run(ctx context.Context) []Check {
	exp, err := t.client.Authenticate(ctx)
	if err != nil {
		return []Check{{"credentials", Fail, err.Error()}}
	}
	checks := []Check{{"credentials", Pass, fmt.Sprintf("access token obtained (valid until %s)", exp.UTC().Format(time.RFC3339))}}
	checks = append(checks, t.usage(ctx))
	if !t.hasConn {
		return checks
	}
	checks = append(checks, t.leadFields(ctx)...)
	for _, j := range t.jobs {
		switch j.Type {
		case config.TypeImportLeads, config.TypeImportProfiles:
			checks = append(checks, t.list(ctx, j))
		case config.TypeTriggerCampaign:
			checks = append(checks, t.campaign(ctx, j))
		case config.TypeEngagementMetrics, config.TypeInterestMetrics:
			checks = append(checks, t.customObject(ctx, j))
		}
	}
	return checks
}

// usage compares today's calls (every integration's) plus this
// connection's daily share with the subscription's quota.
func (t *probeTarget) usage(ctx context.Context) Check {
	u, err := t.client.GetUsage(ctx)
	if err != nil {
		return Check{"daily usage", Fail, err.Error()}
	}
	share := t.conn.WithDefaults().MarketoBudget.Daily
	detail := fmt.Sprintf("%s today (%s, every integration); this connection's daily share %d of a %d-call quota",
		plural(u.Total, "call"), u.Date, share, t.dailyQ)
	if !t.hasConn {
		detail = fmt.Sprintf("%s today (%s, every integration) of a %d-call quota", plural(u.Total, "call"), u.Date, t.dailyQ)
		share = 0
	}
	if u.Total+share > t.dailyQ {
		return Check{"daily usage", Fail, detail + ": today's calls and the share do not fit; lower marketoBudget.daily or wait for the reset"}
	}
	return Check{"daily usage", Pass, detail}
}

// leadFields checks every mapped lead field against the lead describe:
// it exists, is writable, and its type can hold the Certain field's values.
func (t *probeTarget) leadFields(ctx context.Context) []Check {
	fields, err := t.client.DescribeLeads(ctx)
	if err != nil {
		return []Check{{"lead fields", Fail, err.Error()}}
	}
	byName := map[string]marketo.LeadField{}
	lower := map[string]string{}
	for _, f := range fields {
		byName[f.Name] = f
		lower[strings.ToLower(f.Name)] = f.Name
	}
	var out []Check
	t.fieldTypes = map[string]string{}
	for _, m := range t.conn.FieldMapping {
		name := "lead field " + m.Marketo
		f, ok := byName[m.Marketo]
		if _, std := fieldtype.StandardLeadField(m.Marketo); ok && !std {
			t.fieldTypes[m.Marketo] = f.DataType
		}
		kind := fieldtype.CertainKind(m.Certain)
		switch {
		case !ok && lower[strings.ToLower(m.Marketo)] != "":
			out = append(out, Check{name, Fail, fmt.Sprintf("no such lead field; did you mean %q?", lower[strings.ToLower(m.Marketo)])})
		case !ok:
			out = append(out, Check{name, Fail, "no such lead field (REST name) on this instance"})
		case f.ReadOnly:
			out = append(out, Check{name, Fail, fmt.Sprintf("%s, read-only through the API", typeText(f.DataType, f.MaxLength))})
		case !fieldtype.Fits(kind, f.DataType):
			out = append(out, Check{name, Fail, fmt.Sprintf("%s: Certain field %q holds %s values, which cannot fit", typeText(f.DataType, f.MaxLength), m.Certain, kind)})
		default:
			out = append(out, Check{name, Pass, fmt.Sprintf("%s, writable; from Certain %q (%s)", typeText(f.DataType, f.MaxLength), m.Certain, kindText(kind))})
		}
	}
	return out
}

func typeText(dataType string, length int) string {
	if length > 0 {
		return fmt.Sprintf("%s(%d)", dataType, length)
	}
	return dataType
}

func kindText(k fieldtype.Kind) string {
	if k == fieldtype.KindUnknown {
		return "type unknown: converted record by record"
	}
	return string(k)
}

// list checks an import job's static list and counts its members.
func (t *probeTarget) list(ctx context.Context, j config.Job) Check {
	name := fmt.Sprintf("job %s: static list %d", j.ID, j.Params.ListID)
	l, err := t.client.GetList(ctx, j.Params.ListID)
	if marketo.IsNotFound(err) {
		return Check{name, Fail, "no such static list (1013); the id is the number in the list's URL, #ST2044A1 -> 2044"}
	}
	if err != nil {
		return Check{name, Fail, err.Error()}
	}
	n, token := 0, ""
	for page := 0; page < t.listPages; page++ {
		p, err := t.client.ListLeadsPage(ctx, l.ID, []string{"id"}, token, marketo.MaxBatch)
		if err != nil {
			return Check{name, Fail, fmt.Sprintf("%q: reading its members: %v", l.Name, err)}
		}
		n += len(p.Leads)
		if token = p.NextPageToken; token == "" {
			return Check{name, Pass, fmt.Sprintf("%q: %s", l.Name, plural(n, "member"))}
		}
	}
	return Check{name, Pass, fmt.Sprintf("%q: at least %d members (counted %d pages)", l.Name, n, t.listPages)}
}

// tokenName is the form of a program token name.
var tokenName = regexp.MustCompile(`^\{\{my\.[^{}]+\}\}$`)

// campaign checks a trigger job's campaign: it exists, is a trigger
// campaign, is active and is requestable (campaigns.json?isTriggerable),
// and the job's tokens are well formed.
func (t *probeTarget) campaign(ctx context.Context, j config.Job) Check {
	id := j.Params.CampaignID
	name := fmt.Sprintf("job %s: campaign %d", j.ID, id)
	var bad []string
	for _, tk := range j.Params.Tokens {
		if !tokenName.MatchString(tk.Name) {
			bad = append(bad, tk.Name)
		}
	}
	if len(bad) > 0 {
		return Check{name, Fail, fmt.Sprintf("token names not of the form {{my.Name}}: %q", bad)}
	}
	all, err := t.client.GetCampaigns(ctx, []int{id}, false)
	if err != nil {
		return Check{name, Fail, err.Error()}
	}
	if len(all) == 0 {
		return Check{name, Fail, "no such smart campaign"}
	}
	c := all[0]
	switch {
	case c.Type != "trigger":
		return Check{name, Fail, fmt.Sprintf("%q is a %s campaign; Request Campaign needs a trigger campaign", c.Name, c.Type)}
	case !c.Active:
		return Check{name, Fail, fmt.Sprintf("%q is not active", c.Name)}
	}
	req, err := t.client.GetCampaigns(ctx, []int{id}, true)
	if err != nil {
		return Check{name, Fail, err.Error()}
	}
	if len(req) == 0 {
		return Check{name, Fail, fmt.Sprintf("%q is active but not requestable: add the trigger \"Campaign is Requested\" with source \"Web Service API\"", c.Name)}
	}
	return Check{name, Pass, fmt.Sprintf("%q: trigger, active, requestable; %s well formed", c.Name, plural(len(j.Params.Tokens), "token"))}
}

// customObject checks a metrics job's custom object: it exists, is linked
// to leads, and has every field the job writes with a fitting type.
func (t *probeTarget) customObject(ctx context.Context, j config.Job) Check {
	name := fmt.Sprintf("job %s: custom object", j.ID)
	co, err := jobs.CheckCustomObject(ctx, t.client, j)
	if err != nil {
		return Check{name, Fail, err.Error()}
	}
	name += " " + co.APIName
	infos, err := t.client.ListCustomObjects(ctx, []string{co.APIName})
	if err != nil {
		return Check{name, Fail, err.Error()}
	}
	if len(infos) != 1 || infos[0].LinkField == "" || !strings.EqualFold(infos[0].LinkTo, "id") {
		return Check{name, Fail, "not linked to Lead by the lead id"}
	}
	return Check{name, Pass, fmt.Sprintf("linked to Lead by %s; dedupe %s; the %d fields the job writes exist and fit their types",
		co.LinkField, strings.Join(co.Dedupe, "+"), len(co.Fields))}
}

// reportProbe prints the checks (and the field types, if any) or --json,
// and returns errReported when a check failed.
func reportProbe(e Env, c common, checks []Check, types map[string]string) error {
	failed := 0
	for _, ch := range checks {
		if ch.Status == Fail {
			failed++
		}
	}
	if c.json {
		if err := writeJSON(e.Stdout, ProbeReport{OK: failed == 0, Checks: checks, MarketoFieldTypes: types}); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
		for _, ch := range checks {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", ch.Status, ch.Name, ch.Detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "%d checks, %d failed\n", len(checks), failed)
		if len(types) > 0 {
			fmt.Fprintln(e.Stdout, "# for the connection, so that cmctl validate checks these mappings offline:\nmarketoFieldTypes:")
			for _, k := range slices.Sorted(maps.Keys(types)) {
				fmt.Fprintf(e.Stdout, "  %s: %s\n", k, types[k])
			}
		}
	}
	if failed > 0 {
		return errReported
	}
	return nil
}
