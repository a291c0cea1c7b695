package ops

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/certain-marketo/certain-marketo/lib/config"
)

// Kinds of configuration object a file may hold.
const (
	KindConnection   = "connection"
	KindJob          = "job"
	KindFieldMapping = "fieldMapping"
)

// FieldMapping replaces the field mapping of one account's connection; it
// lets the marketing team own the mapping file apart from the connection.
type FieldMapping struct {
	Account      string            `json:"account"`
	FieldMapping []config.FieldMap `json:"fieldMapping"`
}

// Object is one configuration object read from a file.
type Object struct {
	File    string
	Item    int // index in the file's list; -1 when the file holds one object
	Kind    string
	ID      string // account (connection, fieldMapping) or job id
	Conn    *config.Connection
	Job     *config.Job
	Mapping *FieldMapping
}

func (o Object) where() string { return where(o.File, o.Item) }

func where(file string, item int) string {
	if item < 0 {
		return file
	}
	return fmt.Sprintf("%s[%d]", file, item)
}

// Problem is one thing wrong with a file, located as precisely as known.
type Problem struct {
	File    string `json:"file"`
	Item    int    `json:"item"` // -1: the file's single object or the file itself
	Kind    string `json:"kind,omitempty"`
	ID      string `json:"id,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// String formats the problem as FILE[ITEM]: KIND "ID": FIELD: message.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(where(p.File, p.Item))
	b.WriteString(": ")
	if p.Kind != "" {
		fmt.Fprintf(&b, "%s %q: ", p.Kind, p.ID)
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ConfigSet is what a set of files holds, already checked on its own.
type ConfigSet struct {
	Objects  []Object
	Problems []Problem
	files    []string // in the order given, for sorting problems
}

// SortProblems orders the problems by file (as given), then item.
func (s *ConfigSet) SortProblems() {
	rank := func(f string) int {
		if i := slices.Index(s.files, f); i >= 0 {
			return i
		}
		return len(s.files)
	}
	slices.SortStableFunc(s.Problems, func(a, b Problem) int {
		if d := rank(a.File) - rank(b.File); d != 0 {
			return d
		}
		return a.Item - b.Item
	})
}

// LoadFiles reads, decodes and validates every file, then checks the
// objects against each other: unique ids, jobs against their account's
// connection when it is among the files, field mappings merged into the
// connection they replace.
func LoadFiles(paths []string) ConfigSet {
	set := ConfigSet{files: paths}
	for _, p := range paths {
		objs, probs := loadFile(p)
		set.Objects = append(set.Objects, objs...)
		set.Problems = append(set.Problems, probs...)
	}
	set.checkUnique()
	set.checkAgainst(set.Connections(), true)
	return set
}

// Connections returns the connections of the set with their field-mapping
// objects applied, by account.
func (s ConfigSet) Connections() map[string]config.Connection {
	conns := map[string]config.Connection{}
	for _, o := range s.Objects {
		if o.Conn != nil {
			conns[o.ID] = *o.Conn
		}
	}
	for _, o := range s.Objects {
		if o.Mapping == nil {
			continue
		}
		if c, ok := conns[o.ID]; ok {
			c.FieldMapping = o.Mapping.FieldMapping
			conns[o.ID] = c
		}
	}
	return conns
}

// checkUnique reports a connection, job or field mapping given twice.
func (s *ConfigSet) checkUnique() {
	first := map[string]Object{}
	for _, o := range s.Objects {
		k := o.Kind + "\x00" + o.ID
		if prev, dup := first[k]; dup {
			field := "account"
			if o.Kind == KindJob {
				field = "id"
			}
			s.Problems = append(s.Problems, Problem{File: o.File, Item: o.Item, Kind: o.Kind, ID: o.ID, Field: field,
				Message: fmt.Sprintf("duplicate %s, also in %s", o.Kind, prev.where())})
			continue
		}
		first[k] = o
	}
}

// checkAgainst checks the jobs and field mappings whose account is in conns
// against that connection. fromFiles says the connections are the files'
// own (a mapping then must not compete with the connection's mapping);
// otherwise they are stored ones the mappings will be merged into.
func (s *ConfigSet) checkAgainst(conns map[string]config.Connection, fromFiles bool) {
	for _, o := range s.Objects {
		switch {
		case o.Mapping != nil:
			c, ok := conns[o.ID]
			if !ok {
				continue
			}
			if fromFiles {
				for _, co := range s.Objects {
					if co.Conn != nil && co.ID == o.ID && len(co.Conn.FieldMapping) > 0 {
						s.Problems = append(s.Problems, Problem{File: o.File, Item: o.Item, Kind: o.Kind, ID: o.ID, Field: "fieldMapping",
							Message: fmt.Sprintf("the connection in %s has a fieldMapping too; give it in one place", co.where())})
						break
					}
				}
				continue
			}
			c.FieldMapping = o.Mapping.FieldMapping
			s.Problems = append(s.Problems, problemsOf(o, c.Validate())...)
		case o.Job != nil:
			c, ok := conns[o.Job.Account]
			if !ok {
				continue
			}
			// Validate alone already ran; report only what the connection
			// adds (status names).
			base := messages(o.Job.Validate())
			for _, p := range problemsOf(o, o.Job.ValidateFor(c)) {
				if !base[p.Field+"\x00"+p.Message] {
					s.Problems = append(s.Problems, p)
				}
			}
		}
	}
}

// StoredAccounts lists the accounts the set's jobs and field mappings refer
// to that have no connection in the set: put looks them up in the table.
func (s ConfigSet) StoredAccounts() []string {
	inFiles := s.Connections()
	var out []string
	for _, o := range s.Objects {
		acct, ok := o.dependentAccount()
		if !ok {
			continue
		}
		if _, ok := inFiles[acct]; !ok && acct != "" && !slices.Contains(out, acct) {
			out = append(out, acct)
		}
	}
	return out
}

// dependentAccount is the account whose connection a job or field mapping
// needs; ok is false for a connection, which needs none.
func (o Object) dependentAccount() (acct string, ok bool) {
	switch {
	case o.Job != nil:
		return o.Job.Account, true
	case o.Mapping != nil:
		return o.ID, true
	}
	return "", false
}

// CheckStored checks the set against the stored connections of
// StoredAccounts (absent from stored when the table has none).
func (s *ConfigSet) CheckStored(stored map[string]config.Connection) {
	missing := map[string]bool{}
	for _, a := range s.StoredAccounts() {
		if _, ok := stored[a]; !ok {
			missing[a] = true
		}
	}
	for _, o := range s.Objects {
		acct, ok := o.dependentAccount()
		if !ok {
			continue
		}
		if missing[acct] {
			s.Problems = append(s.Problems, Problem{File: o.File, Item: o.Item, Kind: o.Kind, ID: o.ID, Field: "account",
				Message: fmt.Sprintf("no connection for account %q in these files or in the config table", acct)})
		}
	}
	s.checkAgainst(stored, false)
}

func messages(err error) map[string]bool {
	out := map[string]bool{}
	for _, e := range flatten(err) {
		var ve *config.ValidationError
		if errors.As(e, &ve) {
			out[ve.Field+"\x00"+ve.Msg] = true
		}
	}
	return out
}

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// problemsOf turns a validation error of o into problems.
func problemsOf(o Object, err error) []Problem {
	var out []Problem
	for _, e := range flatten(err) {
		p := Problem{File: o.File, Item: o.Item, Kind: o.Kind, ID: o.ID, Message: e.Error()}
		var ve *config.ValidationError
		if errors.As(e, &ve) {
			p.Field, p.Message = ve.Field, ve.Msg
		}
		out = append(out, p)
	}
	return out
}

func loadFile(path string) ([]Object, []Problem) {
	fail := func(format string, args ...any) ([]Object, []Problem) {
		return nil, []Problem{{File: path, Item: -1, Message: fmt.Sprintf(format, args...)}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return fail("cannot read: %v", pe.Err)
		}
		return fail("cannot read: %v", err)
	}
	var tree any
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		tree, err = decodeYAML(data)
	case ".json":
		tree, err = decodeJSON(data)
	default:
		return fail("unknown file type %q: use .json, .yaml or .yml", filepath.Ext(path))
	}
	if err != nil {
		return fail("%v", err)
	}
	type item struct {
		idx  int
		kind string
		v    any
	}
	var items []item
	switch t := tree.(type) {
	case []any:
		if len(t) == 0 {
			return fail("empty list: nothing to load")
		}
		for i, v := range t {
			items = append(items, item{idx: i, v: v})
		}
	case map[string]any:
		if _, ok := t["kind"]; !ok && (t["connections"] != nil || t["jobs"] != nil) {
			for k := range t {
				if k != "connections" && k != "jobs" {
					return fail("%s: unknown field in a bundle file (want connections and jobs)", k)
				}
			}
			for _, sec := range []struct{ key, kind string }{{"connections", KindConnection}, {"jobs", KindJob}} {
				list, ok := t[sec.key].([]any)
				if t[sec.key] != nil && !ok {
					return fail("%s: want a list, got %s", sec.key, describe(t[sec.key]))
				}
				for _, v := range list {
					items = append(items, item{idx: len(items), kind: sec.kind, v: v})
				}
			}
			break
		}
		items = append(items, item{idx: -1, v: t})
	default:
		return fail("want an object or a list of objects, got %s", describe(tree))
	}
	var objs []Object
	var probs []Problem
	for _, it := range items {
		o, ps := decodeObject(path, it.idx, it.kind, it.v)
		probs = append(probs, ps...)
		if len(ps) == 0 {
			objs = append(objs, o)
		}
	}
	return objs, probs
}

// decodeObject decodes one object. kind is "" when the object must carry
// its own "kind" field.
func decodeObject(file string, idx int, kind string, v any) (Object, []Problem) {
	o := Object{File: file, Item: idx}
	prob := func(field, format string, args ...any) []Problem {
		return []Problem{{File: file, Item: idx, Kind: o.Kind, ID: o.ID, Field: field, Message: fmt.Sprintf(format, args...)}}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return o, prob("", "want an object, got %s", describe(v))
	}
	m = maps.Clone(m)
	if kind == "" {
		k, present := m["kind"]
		ks, isStr := k.(string)
		switch {
		case !present:
			return o, prob("kind", "required: %s, %s or %s", KindConnection, KindJob, KindFieldMapping)
		case !isStr || !slices.Contains([]string{KindConnection, KindJob, KindFieldMapping}, ks):
			return o, prob("kind", "must be %s, %s or %s, got %s", KindConnection, KindJob, KindFieldMapping, jsonText(k))
		}
		kind = ks
		delete(m, "kind")
	}
	o.Kind = kind
	idKey := "account"
	if kind == KindJob {
		idKey = "id"
	}
	if s, ok := m[idKey].(string); ok {
		o.ID = s
	}
	var target any
	var typ reflect.Type
	switch kind {
	case KindConnection:
		o.Conn = &config.Connection{}
		target, typ = o.Conn, reflect.TypeFor[config.Connection]()
	case KindJob:
		o.Job = &config.Job{}
		target, typ = o.Job, reflect.TypeFor[config.Job]()
	default:
		o.Mapping = &FieldMapping{}
		target, typ = o.Mapping, reflect.TypeFor[FieldMapping]()
	}
	var probs []Problem
	checkShape(m, typ, "", func(path, msg string) {
		probs = append(probs, prob(path, "%s", msg)...)
	})
	if len(probs) > 0 {
		return o, probs
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return o, prob("", "%v", err)
	}
	if err := config.DecodeJSON(raw, target); err != nil {
		return o, prob("", "%v", err)
	}
	switch {
	case o.Conn != nil:
		probs = problemsOf(o, o.Conn.Validate())
	case o.Job != nil:
		probs = problemsOf(o, o.Job.Validate())
	default:
		probs = problemsOf(o, o.Mapping.validate())
	}
	return o, probs
}

// validate checks a field mapping with the connection's own rules, so the
// two ways of giving a mapping accept exactly the same entries.
func (f FieldMapping) validate() error {
	var errs []error
	if f.Account == "" {
		errs = append(errs, &config.ValidationError{Object: KindFieldMapping, ID: f.Account, Field: "account", Msg: "required"})
	}
	if len(f.FieldMapping) == 0 {
		errs = append(errs, &config.ValidationError{Object: KindFieldMapping, ID: f.Account, Field: "fieldMapping", Msg: "at least one entry required"})
	}
	probe := config.Connection{Account: "probe", CertainBaseURL: "https://certain.invalid", CertainSecret: "probe", MarketoSecret: "probe", FieldMapping: f.FieldMapping}
	for _, e := range flatten(probe.Validate()) {
		var ve *config.ValidationError
		if errors.As(e, &ve) && strings.HasPrefix(ve.Field, "fieldMapping") {
			errs = append(errs, &config.ValidationError{Object: KindFieldMapping, ID: f.Account, Field: ve.Field, Msg: ve.Msg})
		} else if !errors.As(e, &ve) {
			errs = append(errs, e)
		}
	}
	return errors.Join(errs...)
}

// decodeJSON reads one JSON value as a generic tree (numbers kept exact).
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := lineCol(data, se.Offset)
			return nil, fmt.Errorf("malformed JSON at line %d, column %d: %v", line, col, se)
		}
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty file")
		}
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("malformed JSON: data after the top-level value (use a list for several objects)")
	}
	return v, nil
}

func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// decodeYAML converts one YAML document to the tree decodeJSON would give,
// so both formats go through one set of checks.
func decodeYAML(data []byte) (any, error) {
	raw, err := config.YAMLToJSON(data)
	if err != nil {
		return nil, err
	}
	return decodeJSON(raw)
}
