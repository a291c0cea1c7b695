package marketotest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
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

// Campaign is a seeded smart campaign.
type Campaign struct {
	ID          int
	Name        string
	Type        string // "trigger" or "batch"
	Active      bool
	Requestable bool
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

type simList struct {
	name    string
	members []int
}

type coRecord struct {
	guid   string
	fields marketo.Record
}

type coType struct {
	def     CustomObjectType
	records []*coRecord
	byKey   map[string]*coRecord // dedupe key -> record
}

type state struct {
	leads        map[int]marketo.Lead
	byEmail      map[string][]int // emailKey -> lead ids
	nextID       int
	fields       []marketo.LeadField
	searchable   map[string]bool
	lists        map[int]*simList
	campaigns    map[int]Campaign
	coTypes      map[string]*coType
	campaignReqs []CampaignRequest
}

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
	return st
}

func (st *state) hasField(name string) bool {
	return slices.ContainsFunc(st.fields, func(f marketo.LeadField) bool { return f.Name == name })
}

// ---- seeding ----

// AddLead stores a lead and returns its id. A positive, unused "id" in fields
// is kept; otherwise a new id is assigned. Duplicate e-mails are allowed.
func (s *Server) AddLead(fields marketo.Lead) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := maps.Clone(fields)
	if l == nil {
		l = marketo.Lead{}
	}
	for k, v := range l {
		l[k] = normalize(v)
	}
	id := l.ID()
	if id <= 0 || s.st.leads[id] != nil {
		s.st.nextID++
		id = s.st.nextID
	}
	s.st.nextID = max(s.st.nextID, id)
	l["id"] = id
	ts := s.opts.clock.Now().UTC().Format(time.RFC3339)
	if _, has := l["createdAt"]; !has {
		l["createdAt"] = ts
	}
	l["updatedAt"] = ts
	s.st.leads[id] = l
	s.index(id, nil, l["email"])
	return id
}

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

// AddList creates or replaces a static list.
func (s *Server) AddList(id int, name string, leadIDs []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.lists[id] = &simList{name: name, members: slices.Clone(leadIDs)}
}

// AddToList appends members to a list, creating it if needed.
func (s *Server) AddToList(listID int, leadIDs ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.lists[listID]
	if l == nil {
		l = &simList{name: fmt.Sprintf("List %d", listID)}
		s.st.lists[listID] = l
	}
	for _, id := range leadIDs {
		if !slices.Contains(l.members, id) {
			l.members = append(l.members, id)
		}
	}
}

// AddCampaign creates or replaces a smart campaign.
func (s *Server) AddCampaign(c Campaign) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.campaigns[c.ID] = c
}

// AddCustomObjectType creates or replaces a custom object type (records of a
// replaced type are dropped).
func (s *Server) AddCustomObjectType(t CustomObjectType) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t.DedupeFields = slices.Clone(t.DedupeFields)
	t.Fields = slices.Clone(t.Fields)
	has := func(n string) bool {
		return slices.ContainsFunc(t.Fields, func(f marketo.CustomObjectField) bool { return f.Name == n })
	}
	for _, d := range t.DedupeFields {
		if !has(d) {
			t.Fields = append(t.Fields, marketo.CustomObjectField{Name: d, DataType: "string"})
		}
	}
	if t.LinkField != "" && !has(t.LinkField) {
		t.Fields = append(t.Fields, marketo.CustomObjectField{Name: t.LinkField, DataType: "integer", Updatable: true})
	}
	s.st.coTypes[t.Name] = &coType{def: t}
}

// AddLeadField adds (or replaces by name) a lead field of the describe schema.
// Added string, email and integer fields can be used as filterType.
func (s *Server) AddLeadField(f marketo.LeadField) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.st.fields, func(x marketo.LeadField) bool { return x.Name == f.Name })
	if i >= 0 {
		s.st.fields[i] = f
	} else {
		s.st.fields = append(s.st.fields, f)
	}
	switch f.DataType {
	case "string", "email", "integer":
		s.st.searchable[f.Name] = true
	}
}

// ---- inspection ----

// Leads returns copies of all leads, by id.
func (s *Server) Leads() []marketo.Lead {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]marketo.Lead, 0, len(s.st.leads))
	for _, id := range slices.Sorted(maps.Keys(s.st.leads)) {
		out = append(out, maps.Clone(s.st.leads[id]))
	}
	return out
}

// LeadsByEmail returns copies of the leads with this e-mail (same matching as
// the e-mail filter), by id.
func (s *Server) LeadsByEmail(email string) []marketo.Lead {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []marketo.Lead
	for _, id := range s.leadsByKey("email", email) {
		out = append(out, maps.Clone(s.st.leads[id]))
	}
	return out
}

// CampaignRequests returns the log of accepted Request Campaign calls.
func (s *Server) CampaignRequests() []CampaignRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CampaignRequest, len(s.st.campaignReqs))
	for i, r := range s.st.campaignReqs {
		out[i] = CampaignRequest{CampaignID: r.CampaignID, LeadIDs: slices.Clone(r.LeadIDs), Tokens: slices.Clone(r.Tokens)}
	}
	return out
}

// CustomObjectRecords returns copies of a type's records (with marketoGUID).
func (s *Server) CustomObjectRecords(apiName string) []marketo.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.st.coTypes[apiName]
	if t == nil {
		return nil
	}
	out := make([]marketo.Record, len(t.records))
	for i, r := range t.records {
		c := maps.Clone(r.fields)
		c["marketoGUID"] = r.guid
		out[i] = c
	}
	return out
}

// ---- helpers ----

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

func decodeJSON(b []byte, into any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(into)
}

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

func (s *Server) sameValue(field string, stored any, want string) bool {
	if field == "email" && !s.opts.caseSensitiveEmail {
		return strings.EqualFold(scalar(stored), want)
	}
	return scalar(stored) == want
}

// leadsByKey returns ids (sorted) of leads whose field matches value. Caller holds s.mu.
func (s *Server) leadsByKey(field, value string) []int {
	switch field {
	case "email":
		ids := slices.Clone(s.st.byEmail[s.emailKey(value)])
		slices.Sort(ids)
		return ids
	case "id":
		if n, err := strconv.Atoi(value); err == nil && s.st.leads[n] != nil {
			return []int{n}
		}
		return nil
	}
	var ids []int
	for id, l := range s.st.leads {
		if s.sameValue(field, l[field], value) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Paging tokens are opaque and long but deterministic: the same token always
// resumes at the same offset of the same query, even after a restart.
func pageToken(scope string, offset int) string {
	sum := sha256.Sum256([]byte(scope))
	raw := fmt.Sprintf("%d|%s|%s", offset, hex.EncodeToString(sum[:]), strings.Repeat("=", 8))
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func parsePageToken(tok, scope string) (int, bool) {
	if tok == "" {
		return 0, true
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	parts := strings.SplitN(string(raw), "|", 3)
	sum := sha256.Sum256([]byte(scope))
	if len(parts) != 3 || parts[1] != hex.EncodeToString(sum[:]) {
		return 0, false
	}
	n, err := strconv.Atoi(parts[0])
	return n, err == nil && n >= 0
}

func splitCSV(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
