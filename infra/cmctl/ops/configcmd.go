package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/store"
	"github.com/certain-marketo/certain-marketo/lib/store/dynamostore"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer, header ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	return tw
}

func (e Env) openStore(ctx context.Context, c common) (*dynamostore.Store, error) {
	if err := c.needTables(); err != nil {
		return nil, err
	}
	cfg, err := e.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	return dynamostore.New(dynamodb.NewFromConfig(cfg), c.configTable, c.stateTable)
}

type objectJSON struct {
	File string `json:"file"`
	Item int    `json:"item"`
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

type validateJSON struct {
	OK       bool         `json:"ok"`
	Objects  []objectJSON `json:"objects"`
	Problems []Problem    `json:"problems"`
	Written  []objectJSON `json:"written,omitempty"`
}

func objectsJSON(objs []Object) []objectJSON {
	out := make([]objectJSON, 0, len(objs))
	for _, o := range objs {
		out = append(out, objectJSON{File: o.File, Item: o.Item, Kind: o.Kind, ID: o.ID})
	}
	return out
}

// reportProblems prints the set's problems and returns errReported when
// there are any.
func reportProblems(e Env, c common, set ConfigSet) error {
	if len(set.Problems) == 0 {
		return nil
	}
	set.SortProblems()
	if c.json {
		if err := writeJSON(e.Stdout, validateJSON{Objects: objectsJSON(set.Objects), Problems: set.Problems}); err != nil {
			return err
		}
		return errReported
	}
	for _, p := range set.Problems {
		fmt.Fprintln(e.Stderr, p.String())
	}
	fmt.Fprintf(e.Stderr, "%d error(s)\n", len(set.Problems))
	return errReported
}

func runValidate(_ context.Context, e Env, args []string) error {
	var c common
	fs := newFlags("validate", e, &c)
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("no files given")
	}
	set := LoadFiles(files)
	if err := reportProblems(e, c, set); err != nil {
		return err
	}
	if c.json {
		return writeJSON(e.Stdout, validateJSON{OK: true, Objects: objectsJSON(set.Objects), Problems: []Problem{}})
	}
	tw := table(e.Stdout, "FILE", "KIND", "ID")
	for _, o := range set.Objects {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", o.where(), o.Kind, o.ID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "%d object(s) in %d file(s): valid\n", len(set.Objects), len(files))
	return nil
}

func runPut(ctx context.Context, e Env, args []string) error {
	var c common
	fs := newFlags("put", e, &c)
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("no files given")
	}
	if err := c.needTables(); err != nil {
		return err
	}
	set := LoadFiles(files)
	if err := reportProblems(e, c, set); err != nil {
		return err
	}
	st, err := e.openStore(ctx, c)
	if err != nil {
		return err
	}
	stored := map[string]config.Connection{}
	for _, a := range set.StoredAccounts() {
		conn, err := st.GetConnection(ctx, a)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return fmt.Errorf("config table %s: %w", c.configTable, err)
		default:
			stored[a] = conn
		}
	}
	set.CheckStored(stored)
	if err := reportProblems(e, c, set); err != nil {
		return err
	}

	// Everything is valid: connections (with their mappings) first, so a
	// job never lands before the connection it needs.
	conns := set.Connections()
	for _, o := range set.Objects {
		if o.Mapping != nil {
			if sc, ok := stored[o.ID]; ok {
				sc.FieldMapping = o.Mapping.FieldMapping
				conns[o.ID] = sc
			}
		}
	}
	var written []objectJSON
	fail := func(o objectJSON, err error) error {
		if !c.json {
			for _, w := range written {
				fmt.Fprintf(e.Stderr, "written before the failure: %s %q\n", w.Kind, w.ID)
			}
		}
		return fmt.Errorf("write %s %q: %w (%d of %d objects written before this failure; fix and run put again: it is idempotent)",
			o.Kind, o.ID, err, len(written), len(set.Objects))
	}
	accounts := make([]string, 0, len(conns))
	for a := range conns {
		accounts = append(accounts, a)
	}
	slices.Sort(accounts)
	for _, a := range accounts {
		o := objectJSON{Kind: KindConnection, ID: a}
		if err := st.PutConnection(ctx, conns[a]); err != nil {
			return fail(o, err)
		}
		written = append(written, o)
	}
	for _, o := range set.Objects {
		if o.Job == nil {
			continue
		}
		oj := objectJSON{File: o.File, Item: o.Item, Kind: KindJob, ID: o.ID}
		if err := st.PutJob(ctx, *o.Job); err != nil {
			return fail(oj, err)
		}
		written = append(written, oj)
	}
	if c.json {
		return writeJSON(e.Stdout, validateJSON{OK: true, Objects: objectsJSON(set.Objects), Problems: []Problem{}, Written: written})
	}
	for _, w := range written {
		fmt.Fprintf(e.Stdout, "put %s %q\n", w.Kind, w.ID)
	}
	fmt.Fprintf(e.Stdout, "%d connection(s) and %d job(s) written to %s\n", len(accounts), len(written)-len(accounts), c.configTable)
	return nil
}

// JobRow is one line of list-jobs.
type JobRow struct {
	ID          string     `json:"id"`
	Type        string     `json:"type"`
	Account     string     `json:"account"`
	Event       string     `json:"event"`
	Enabled     bool       `json:"enabled"`
	Schedule    string     `json:"schedule"`
	NextDue     *time.Time `json:"nextDue"` // nil: due at the next tick (never ran)
	NeverAgain  bool       `json:"neverAgain,omitempty"`
	LastRunID   string     `json:"lastRunId,omitempty"`
	LastOutcome string     `json:"lastOutcome,omitempty"`
	LastRun     *time.Time `json:"lastRun,omitempty"`
	RunningRun  string     `json:"runningRun,omitempty"`
}

// ScheduleText describes a schedule in one short phrase.
func ScheduleText(s config.Schedule) string {
	var b strings.Builder
	switch {
	case s.At != nil:
		b.WriteString("once at " + s.At.UTC().Format(time.RFC3339))
	case s.Interval != 0:
		b.WriteString("every " + s.Interval.String())
	case s.Cron != "":
		b.WriteString("cron " + s.Cron)
		if s.Timezone != "" {
			b.WriteString(" " + s.Timezone)
		}
	default:
		b.WriteString("-")
	}
	if s.Start != nil {
		b.WriteString(" from " + s.Start.UTC().Format(time.RFC3339))
	}
	if s.End != nil {
		b.WriteString(" until " + s.End.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// neverYear: the executor records "no further run" as a next-due time in 9999.
const neverYear = 9999

func runListJobs(ctx context.Context, e Env, args []string) error {
	var c common
	fs := newFlags("list-jobs", e, &c)
	jobType := fs.String("type", "", "only jobs of this type")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *jobType != "" && !slices.Contains(config.JobTypes(), *jobType) {
		return usagef("--type %q: want one of %s", *jobType, strings.Join(config.JobTypes(), ", "))
	}
	st, err := e.openStore(ctx, c)
	if err != nil {
		return err
	}
	jobs, err := st.ListJobs(ctx, *jobType)
	if err != nil {
		return fmt.Errorf("config table %s: %w", c.configTable, err)
	}
	now := e.now()
	rows := make([]JobRow, 0, len(jobs))
	for _, j := range jobs {
		s, err := st.GetJobState(ctx, j.ID)
		if err != nil {
			return fmt.Errorf("state table %s: job %q: %w", c.stateTable, j.ID, err)
		}
		r := JobRow{ID: j.ID, Type: j.Type, Account: j.Account, Event: j.Event, Enabled: j.Enabled,
			Schedule: ScheduleText(j.Schedule), LastRunID: s.LastRunID, LastOutcome: s.LastOutcome}
		switch {
		case s.NextDue.IsZero():
		case s.NextDue.Year() >= neverYear:
			r.NeverAgain = true
		default:
			t := s.NextDue.UTC()
			r.NextDue = &t
		}
		if !s.LastRun.IsZero() {
			t := s.LastRun.UTC()
			r.LastRun = &t
		}
		if s.LeaseOwner != "" && s.LeaseUntil.After(now) {
			r.RunningRun = s.LeaseOwner
		}
		rows = append(rows, r)
	}
	if c.json {
		return writeJSON(e.Stdout, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(e.Stdout, "no jobs")
		return nil
	}
	tw := table(e.Stdout, "ID", "TYPE", "ACCOUNT", "EVENT", "ENABLED", "SCHEDULE", "NEXT DUE", "LAST OUTCOME")
	for _, r := range rows {
		next := "next tick (never ran)"
		switch {
		case r.NeverAgain:
			next = "never (schedule ended)"
		case r.NextDue != nil:
			next = r.NextDue.Format(time.RFC3339)
		}
		if !r.Enabled {
			next = "- (disabled)"
		}
		last := r.LastOutcome
		if last == "" {
			last = "-"
		} else if r.LastRun != nil {
			last += " at " + r.LastRun.Format(time.RFC3339)
		}
		if r.RunningRun != "" {
			last = "running (" + r.RunningRun + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\t%s\t%s\n", r.ID, r.Type, r.Account, dash(r.Event), r.Enabled, r.Schedule, next, last)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
