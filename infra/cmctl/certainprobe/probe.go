// Package certainprobe is cmctl probe-certain: it checks one Certain tenant
// in one command, read-only unless asked, and infers the connection
// settings nothing public settles (docs/certain.md §4, §9, §11): the paging
// mode from the echoed startingIndex and the first codes of start_index 0, 1
// and 2; the server's page cap; the spelling of the sort and include
// parameters; the filter time format; the tags field and its element shape.
// It reads through the same lib/certain client the Lambdas use wherever a
// job would, so what the probe passes, the jobs can read.
package certainprobe

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
)

// Check statuses.
const (
	Pass = "PASS"
	Fail = "FAIL"
	Info = "INFO"
)

// Options is one probe run.
type Options struct {
	// Conn holds the settings to start from: the configured connection
	// (--connection), or one built from --url and --account.
	Conn               config.Connection
	Event              string
	Username, Password string
	// Configured is true when Conn came from a connection file or table:
	// then every inferred setting is compared with it.
	Configured bool
	// WriteTest creates a profile and a registration on the (sandbox)
	// event, updates one field, re-reads it and deletes both.
	WriteTest bool
	// RecordDir, when set, receives every raw exchange (redacted).
	RecordDir  string
	HTTPClient *http.Client
	Now        func() time.Time
}

// Check is one line of the report.
type Check struct {
	Status string `json:"status"`
	Name   string `json:"check"`
	Detail string `json:"detail"`
}

// Inferred are the settings the probe inferred, named as in a connection
// file. Empty means "not inferred" (the check says why).
type Inferred struct {
	PagingMode       string         `json:"pagingMode,omitempty" yaml:"pagingMode,omitempty"`
	PageSize         int            `json:"pageSize,omitempty" yaml:"pageSize,omitempty"`
	IncludeParam     string         `json:"includeParam,omitempty" yaml:"includeParam,omitempty"`
	OrderByParam     string         `json:"orderByParam,omitempty" yaml:"orderByParam,omitempty"`
	FilterTimeFormat string         `json:"filterTimeFormat,omitempty" yaml:"filterTimeFormat,omitempty"`
	CertainFields    InferredFields `json:"certainFields,omitzero" yaml:"certainFields,omitempty"`
	// PageCap is the most rows the server returns per page (0: none seen
	// up to the largest page asked). Not a setting: pageSize follows it.
	PageCap int `json:"pageCap,omitempty" yaml:"-"`
}

// InferredFields are the inferred certainFields.
type InferredFields struct {
	TagsField  string `json:"tagsField,omitempty" yaml:"tagsField,omitempty"`
	TagNameKey string `json:"tagNameKey,omitempty" yaml:"tagNameKey,omitempty"`
}

// Report is what a probe found.
type Report struct {
	Account  string   `json:"account"`
	Event    string   `json:"event"`
	Checks   []Check  `json:"checks"`
	Inferred Inferred `json:"inferred"`
	// Mismatches lists the configured settings that differ from the
	// inferred ones (with Options.Configured).
	Mismatches []string `json:"mismatches,omitempty"`
	// Throttled counts 429 answers; RetryAfter the Retry-After values seen.
	Throttled  int      `json:"throttled,omitempty"`
	RetryAfter []string `json:"retryAfter,omitempty"`
}

// Failed reports whether a check failed or a configured setting differs.
func (r Report) Failed() bool {
	for _, c := range r.Checks {
		if c.Status == Fail {
			return true
		}
	}
	return len(r.Mismatches) > 0
}

// probe is one run's state.
type probe struct {
	o      Options
	rep    *Report
	raw    *rawClient
	rec    *recorder
	acct   string
	event  string
	sample []map[string]any // registrations read through the client
	total  int              // their completeCollectionSize
}

// Run probes the tenant and returns the report; err is a failure to probe
// at all (a bad option, a recording that cannot be written).
func Run(ctx context.Context, o Options) (Report, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	rep := &Report{Account: o.Conn.Account, Event: o.Event}
	rec, err := newRecorder(o.RecordDir)
	if err != nil {
		return *rep, err
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	hc = rec.wrap(hc, rep)
	o.HTTPClient = hc
	p := &probe{o: o, rep: rep, rec: rec, acct: o.Conn.Account, event: o.Event,
		raw: &rawClient{hc: hc, base: o.Conn.CertainBaseURL, user: o.Username, pass: o.Password, conn: o.Conn}}
	p.run(ctx)
	if o.Configured {
		p.compare()
	}
	if err := rec.finish(*rep, p.manifestSettings()); err != nil {
		return *rep, err
	}
	return *rep, nil
}

// run does the checks in order; the first two gate the rest.
func (p *probe) run(ctx context.Context) {
	if !p.checkEvent(ctx) {
		return
	}
	p.checkPaging(ctx)
	p.checkPageCap(ctx)
	p.checkFullRead(ctx)
	p.checkOrder(ctx, "Registration", p.raw.v1("Registration", p.acct, p.event))
	p.checkOrder(ctx, "Profile", p.raw.v1("Profile", p.acct))
	p.checkAfter(ctx, "Registration", p.raw.v1("Registration", p.acct, p.event))
	p.checkAfter(ctx, "Profile", p.raw.v1("Profile", p.acct))
	p.checkFields()
	p.checkTags(ctx)
	p.checkAppointments(ctx)
	if p.o.WriteTest {
		p.writeTest(ctx)
	}
	if p.rep.Throttled > 0 {
		p.add(Info, "rate limiting", fmt.Sprintf("%d answers were 429; Retry-After seen: %v", p.rep.Throttled, p.rep.RetryAfter))
	} else {
		p.add(Info, "rate limiting", "no 429 answer during the probe")
	}
}

// add appends a check line.
func (p *probe) add(status, name, detail string) {
	p.rep.Checks = append(p.rep.Checks, Check{Status: status, Name: name, Detail: detail})
}

// client is a lib/certain client with the connection's settings and what
// the probe inferred so far: the way the jobs would read.
func (p *probe) client() (*certain.Client, error) {
	conn := p.effective()
	cfg, err := conn.CertainConfig(p.o.Username, p.o.Password)
	if err != nil {
		return nil, err
	}
	cfg.HTTPClient, cfg.Now = p.o.HTTPClient, p.o.Now
	cfg.MaxAttempts = 2
	return certain.New(cfg)
}

// effective is the connection with the inferred settings applied.
func (p *probe) effective() config.Connection {
	c, in := p.o.Conn, p.rep.Inferred
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&c.PagingMode, in.PagingMode)
	set(&c.IncludeParam, in.IncludeParam)
	set(&c.OrderByParam, in.OrderByParam)
	set(&c.FilterTimeFormat, in.FilterTimeFormat)
	set(&c.CertainFields.Tags, in.CertainFields.TagsField)
	set(&c.CertainFields.TagNameKey, in.CertainFields.TagNameKey)
	if in.PageSize > 0 {
		c.PageSize = in.PageSize
	}
	return c
}

// manifestSettings are the settings the client reads were made with, for
// the contract test that replays a recording.
func (p *probe) manifestSettings() config.Connection {
	c := p.effective()
	c.CertainBaseURL, c.CertainSecret, c.MarketoSecret, c.FieldMapping = "", "", "", nil
	return c
}
