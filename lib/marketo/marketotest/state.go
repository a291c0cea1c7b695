package marketotest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// Campaign is a seeded smart campaign. Requestable means its smart list has
// the trigger "Campaign is Requested" with source "Web Service API".
type Campaign struct {
	ID          int
	Name        string
	Type        string // "trigger" or "batch"
	Active      bool
	Requestable bool
	ProgramName string // optional
	ProgramID   int    // optional
}

// CustomObjectType is a seeded custom object type. Dedupe fields and the link
// field are added to Fields (as string / integer) when missing.
type CustomObjectType struct {
	Name         string
	DedupeFields []string
	Fields       []marketo.CustomObjectField
	LinkField    string // relationship to Lead.id; "" for none
}

// CampaignRequest is one accepted Request Campaign call.
type CampaignRequest struct {
	CampaignID int
	LeadIDs    []int // only ids of existing leads, in request order
	Tokens     []marketo.Token
}

// simList is a static list: its name, members in order, and when it was
// created.
type simList struct {
	name    string
	members []int
	created time.Time
}

// coRecord is a custom object record; fields holds createdAt and updatedAt.
type coRecord struct {
	guid   string
	fields marketo.Record
}

// coType is a custom object type with its records, indexed by dedupe key.
type coType struct {
	def     CustomObjectType
	records []*coRecord
	byKey   map[string]*coRecord // dedupe key -> record
}

// state is everything the simulated instance stores.
type state struct {
	leads        map[int]marketo.Lead
	byEmail      map[string][]int // emailKey -> lead ids
	nextID       int
	fields       []marketo.LeadField
	fieldIdx     map[string]int // name -> index in fields
	searchable   map[string]bool
	lists        map[int]*simList
	campaigns    map[int]Campaign
	coTypes      map[string]*coType
	campaignReqs []CampaignRequest
}

// newState returns an empty instance with the standard lead schema.
func newState() *state {
	st := &state{
		leads: map[int]marketo.Lead{}, nextID: 1000, byEmail: map[string][]int{},
		searchable: map[string]bool{"id": true, "email": true},
		lists:      map[int]*simList{}, campaigns: map[int]Campaign{}, coTypes: map[string]*coType{},
	}
	st.fields = []marketo.LeadField{
		{Name: "id", DataType: "integer", ReadOnly: true},
		{Name: "email", DataType: "email", MaxLength: 255},
		{Name: "firstName", DataType: "string", MaxLength: 255},
		{Name: "lastName", DataType: "string", MaxLength: 255},
		{Name: "company", DataType: "string", MaxLength: 255},
		{Name: "title", DataType: "string", MaxLength: 255},
		{Name: "phone", DataType: "phone", MaxLength: 255},
		{Name: "city", DataType: "string", MaxLength: 255},
		{Name: "state", DataType: "string", MaxLength: 255},
		{Name: "country", DataType: "string", MaxLength: 255},
		{Name: "postalCode", DataType: "string", MaxLength: 255},
		{Name: "leadSource", DataType: "string", MaxLength: 255},
		{Name: "createdAt", DataType: "datetime", ReadOnly: true},
		{Name: "updatedAt", DataType: "datetime", ReadOnly: true},
	}
	st.reindexFields()
	return st
}

// reindexFields rebuilds the by-name index of the lead schema.
func (st *state) reindexFields() {
	st.fieldIdx = make(map[string]int, len(st.fields))
	for i, f := range st.fields {
		st.fieldIdx[f.Name] = i
	}
}

// hasField reports whether the lead schema has the field.
func (st *state) hasField(name string) bool {
	_, ok := st.fieldIdx[name]
	return ok
}

// leadSpec is the field layer's view of a lead field ("string" for one the
// schema lacks, which Sync Leads refuses before its value is looked at).
func (st *state) leadSpec(name string) fieldSpec {
	i, ok := st.fieldIdx[name]
	if !ok {
		return fieldSpec{name: name, dataType: "string"}
	}
	f := st.fields[i]
	return fieldSpec{name: f.Name, dataType: f.DataType, length: f.MaxLength}
}

// leadType is the dataType of a lead field ("" when unknown).
func (st *state) leadType(name string) string {
	if i, ok := st.fieldIdx[name]; ok {
		return st.fields[i].DataType
	}
	return ""
}

// emailKey is the byEmail key of an e-mail value.
func (s *Server) emailKey(v any) string {
	k := scalar(v)
	if !s.opts.caseSensitiveEmail {
		k = strings.ToLower(k)
	}
	return k
}

// index moves lead id from the old e-mail's bucket to the new one's. Caller holds s.mu.
func (s *Server) index(id int, old, cur any) {
	if old != nil {
		k := s.emailKey(old)
		s.st.byEmail[k] = slices.DeleteFunc(s.st.byEmail[k], func(x int) bool { return x == id })
	}
	if cur != nil && scalar(cur) != "" {
		k := s.emailKey(cur)
		s.st.byEmail[k] = append(s.st.byEmail[k], id)
	}
}

// normalize turns JSON numbers into int when integral, else float64.
func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.Atoi(string(x)); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case float64:
		if x == float64(int(x)) {
			return int(x)
		}
	}
	return v
}

// decodeJSON decodes a request body, keeping numbers as json.Number.
func decodeJSON(b []byte, into any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(into)
}

// scalar is a field value as a string ("" for null).
func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		return fmt.Sprint(normalize(x))
	}
}

// newGUID returns a random marketoGUID.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// hasField reports whether the type has the field (marketoGUID included).
func (t *coType) hasField(n string) bool {
	return n == "marketoGUID" || slices.ContainsFunc(t.def.Fields, func(f marketo.CustomObjectField) bool { return f.Name == n })
}

// key is r's dedupe key; false when a dedupe field is missing or empty.
func (t *coType) key(r marketo.Record) (string, bool) {
	parts := make([]string, len(t.def.DedupeFields))
	for i, f := range t.def.DedupeFields {
		v, has := r[f]
		if !has || v == nil || scalar(v) == "" {
			return "", false
		}
		parts[i] = scalar(v)
	}
	return strings.Join(parts, "\x00"), true
}

// find returns the record with a dedupe key, through the index (a scan per
// record would make a sync of n records cost O(n x stored)).
func (t *coType) find(key string) *coRecord { return t.byKey[key] }

// reindex files a record under its current dedupe key, after a create or an
// update that may have changed a dedupe field (updateOnly by idField).
func (t *coType) reindex(r *coRecord, oldKey string) {
	if t.byKey == nil {
		t.byKey = map[string]*coRecord{}
	}
	if oldKey != "" && t.byKey[oldKey] == r {
		delete(t.byKey, oldKey)
	}
	if k, ok := t.key(r.fields); ok {
		t.byKey[k] = r
	}
}

// findGUID returns the record with marketoGUID g and its position (-1, nil
// when none).
func (t *coType) findGUID(g string) (int, *coRecord) {
	for i, r := range t.records {
		if r.guid == g {
			return i, r
		}
	}
	return -1, nil
}

// updateLead merges in into lead id (id and createdAt stay) and re-files
// its e-mail. mu held.
func (s *Server) updateLead(id int, in marketo.Lead) {
	l := s.st.leads[id]
	if e, has := in["email"]; has {
		s.index(id, l["email"], e)
	}
	for k, v := range in {
		if k != "id" && k != "createdAt" {
			l[k] = v
		}
	}
	l["updatedAt"] = s.opts.clock.Now().UTC().Format(time.RFC3339)
}

// createLead stores in as a new lead and returns its id. mu held.
func (s *Server) createLead(in marketo.Lead) int {
	s.st.nextID++
	id := s.st.nextID
	l := maps.Clone(in)
	ts := s.opts.clock.Now().UTC().Format(time.RFC3339)
	l["id"], l["createdAt"], l["updatedAt"] = id, ts, ts
	s.st.leads[id] = l
	s.index(id, nil, l["email"])
	return id
}
