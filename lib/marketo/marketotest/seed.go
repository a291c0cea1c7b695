package marketotest

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

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

// AddList creates or replaces a static list.
func (s *Server) AddList(id int, name string, leadIDs []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.lists[id] = &simList{name: name, members: slices.Clone(leadIDs), created: s.opts.clock.Now()}
}

// AddToList appends members to a list, creating it if needed.
func (s *Server) AddToList(listID int, leadIDs ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.lists[listID]
	if l == nil {
		l = &simList{name: fmt.Sprintf("List %d", listID), created: s.opts.clock.Now()}
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
	if i, has := s.st.fieldIdx[f.Name]; has {
		s.st.fields[i] = f
	} else {
		s.st.fields = append(s.st.fields, f)
	}
	s.st.reindexFields()
	switch f.DataType {
	case "string", "email", "integer":
		s.st.searchable[f.Name] = true
	}
}

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

// MergeLeads merges the losing leads into the winner, as a person does in
// Marketo: the losers' ids no longer exist (every lead read, update and
// filter by id then finds nothing, as for a deleted lead), their static list
// memberships move to the winner, and custom object records linked to them
// are linked to the winner (a simulator choice: Marketo's documentation
// says merged leads keep their activity and memberships; nothing documents
// custom object records either way). It panics on an unknown id: a test
// mistake.
func (s *Server) MergeLeads(winner int, losers ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.leads[winner] == nil {
		panic(fmt.Sprintf("marketotest: MergeLeads: no lead %d", winner))
	}
	for _, id := range losers {
		l := s.st.leads[id]
		if l == nil || id == winner {
			panic(fmt.Sprintf("marketotest: MergeLeads: no losing lead %d", id))
		}
		s.index(id, l["email"], nil)
		delete(s.st.leads, id)
		for _, list := range s.st.lists {
			if i := slices.Index(list.members, id); i >= 0 {
				list.members = slices.Delete(list.members, i, i+1)
				if !slices.Contains(list.members, winner) {
					list.members = append(list.members, winner)
				}
			}
		}
		for _, t := range s.st.coTypes {
			if t.def.LinkField == "" {
				continue
			}
			for _, r := range t.records {
				if atoi(scalar(r.fields[t.def.LinkField])) == id {
					r.fields[t.def.LinkField] = winner
				}
			}
		}
	}
}

// DeleteLead deletes a lead: its id no longer exists, it leaves its static
// lists, and custom object records linked to it are deleted with it (a
// simulator choice). It panics on an unknown id.
func (s *Server) DeleteLead(id int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.leads[id]
	if l == nil {
		panic(fmt.Sprintf("marketotest: DeleteLead: no lead %d", id))
	}
	s.index(id, l["email"], nil)
	delete(s.st.leads, id)
	for _, list := range s.st.lists {
		list.members = slices.DeleteFunc(list.members, func(x int) bool { return x == id })
	}
	for _, t := range s.st.coTypes {
		if t.def.LinkField == "" {
			continue
		}
		t.records = slices.DeleteFunc(t.records, func(r *coRecord) bool {
			if atoi(scalar(r.fields[t.def.LinkField])) != id {
				return false
			}
			if k, ok := t.key(r.fields); ok && t.byKey[k] == r {
				delete(t.byKey, k)
			}
			return true
		})
	}
}
