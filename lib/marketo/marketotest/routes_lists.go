package marketotest

import (
	"fmt"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// listLeads is Get Leads by List Id, paged by nextPageToken.
func (s *Server) listLeads(id int, r *request) answer {
	bs, a, done := s.batchSize(r)
	if done {
		return a
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.lists[id]
	if l == nil {
		return fail("1013", "Static list not found")
	}
	scope := fmt.Sprintf("list|%d", id)
	off, valid := parsePageToken(r.params.Get("nextPageToken"), scope)
	if !valid {
		return fail("1003", "Invalid nextPageToken")
	}
	fields := splitCSV(r.params.Get("fields"))
	start, end, more := pageBounds(len(l.members), off, bs)
	var out []marketo.Lead
	for _, lid := range l.members[start:end] {
		if lead := s.st.leads[lid]; lead != nil {
			out = append(out, s.project(lead, fields))
		}
	}
	a = ok(out)
	if more {
		a.next = pageToken(scope, end)
	}
	return a
}
