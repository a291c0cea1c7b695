package marketotest

import (
	"maps"
	"slices"
	"strconv"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// leadIDs reads the lead ids of a membership or delete call: repeated (or
// comma-separated) id parameters, or a JSON body {"input":[{"id":…}]}.
// Swagger documents both; recordings show the JSON body for adds and
// deletes and id parameters for removes.
func (s *Server) leadIDs(r *request) ([]int, answer, bool) {
	var ids []int
	for _, v := range r.params["id"] {
		for _, p := range splitCSV(v) {
			n, err := strconv.Atoi(p)
			if err != nil {
				return nil, fail("1003", "Invalid id '%s'", p), true
			}
			ids = append(ids, n)
		}
	}
	if len(ids) == 0 && r.isJSON && len(r.body) > 0 {
		var b struct {
			Input []struct {
				ID int `json:"id"`
			} `json:"input"`
		}
		if err := decodeJSON(r.body, &b); err != nil {
			return nil, fail("609", "Invalid JSON: %v", err), true
		}
		for _, x := range b.Input {
			ids = append(ids, x.ID)
		}
	}
	switch {
	case len(ids) == 0:
		return nil, fail("1003", "input is required"), true
	case len(ids) > MaxPage:
		return nil, fail(s.opts.capCode, "%d ids, at most %d", len(ids), MaxPage), true
	}
	return ids, answer{}, false
}

// idStatus is one lead's outcome of a membership or delete call.
type idStatus struct {
	ID      int              `json:"id"`
	Status  string           `json:"status"`
	Reasons []marketo.Reason `json:"reasons,omitempty"`
}

func notFound(id int) idStatus {
	return idStatus{ID: id, Status: marketo.StatusSkipped, Reasons: []marketo.Reason{{Code: "1004", Message: "Lead not found"}}}
}

// addToList is Add to List: each existing lead is "added", also when it is
// a member already (recorded); an unknown lead is skipped with 1004.
func (s *Server) addToList(listID int, r *request) answer {
	ids, a, done := s.leadIDs(r)
	if done {
		return a
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.lists[listID]
	if l == nil {
		return fail("1013", "Static list not found")
	}
	out := make([]idStatus, len(ids))
	for i, id := range ids {
		if s.st.leads[id] == nil {
			out[i] = notFound(id)
			continue
		}
		if !slices.Contains(l.members, id) {
			l.members = append(l.members, id)
		}
		out[i] = idStatus{ID: id, Status: "added"}
	}
	return ok(out)
}

// removeFromList is Remove from List: "removed", or skipped with 1015 "Lead
// not in list" (recorded) or 1004 for an unknown lead (Adobe's example).
func (s *Server) removeFromList(listID int, r *request) answer {
	ids, a, done := s.leadIDs(r)
	if done {
		return a
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.lists[listID]
	if l == nil {
		return fail("1013", "Static list not found")
	}
	out := make([]idStatus, len(ids))
	for i, id := range ids {
		switch at := slices.Index(l.members, id); {
		case s.st.leads[id] == nil:
			out[i] = notFound(id)
		case at < 0:
			out[i] = idStatus{ID: id, Status: marketo.StatusSkipped, Reasons: []marketo.Reason{{Code: "1015", Message: "Lead not in list"}}}
		default:
			l.members = slices.Delete(l.members, at, at+1)
			out[i] = idStatus{ID: id, Status: "removed"}
		}
	}
	return ok(out)
}

// isMember is Member of List: "memberof", "notmemberof", or skipped with
// 1004 for an unknown lead (Adobe's example).
func (s *Server) isMember(listID int, r *request) answer {
	ids, a, done := s.leadIDs(r)
	if done {
		return a
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.lists[listID]
	if l == nil {
		return fail("1013", "Static list not found")
	}
	out := make([]idStatus, len(ids))
	for i, id := range ids {
		switch {
		case s.st.leads[id] == nil:
			out[i] = notFound(id)
		case slices.Contains(l.members, id):
			out[i] = idStatus{ID: id, Status: "memberof"}
		default:
			out[i] = idStatus{ID: id, Status: "notmemberof"}
		}
	}
	return ok(out)
}

// deleteLeads is Delete Leads: POST leads/delete.json (documented), and
// POST leads.json?_method=DELETE with a JSON body (recorded). Each lead is
// "deleted" and leaves its lists; an unknown id is skipped with 1004 (not
// recorded: a simulator choice).
func (s *Server) deleteLeads(r *request) answer {
	ids, a, done := s.leadIDs(r)
	if done {
		return a
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]idStatus, len(ids))
	for i, id := range ids {
		l := s.st.leads[id]
		if l == nil {
			out[i] = notFound(id)
			continue
		}
		s.index(id, l["email"], nil)
		delete(s.st.leads, id)
		for _, k := range slices.Sorted(maps.Keys(s.st.lists)) {
			lst := s.st.lists[k]
			lst.members = slices.DeleteFunc(lst.members, func(m int) bool { return m == id })
		}
		out[i] = idStatus{ID: id, Status: "deleted"}
	}
	return ok(out)
}
