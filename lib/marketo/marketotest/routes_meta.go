package marketotest

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The endpoints operators' tools and cmctl probe-marketo read: static lists,
// smart campaigns, custom object types and the API usage, in the shapes of
// Adobe's swagger (lead database API, not the asset API).

// paramValues reads a parameter that may be repeated or comma-separated.
func paramValues(r *request, name string) []string {
	var out []string
	for _, v := range r.params[name] {
		out = append(out, splitCSV(v)...)
	}
	return out
}

// selected reports whether v passes a filter (an empty filter passes all).
func selected(filter []string, v string) bool {
	return len(filter) == 0 || slices.Contains(filter, v)
}

// page cuts one page of n rows out of a listing, by the call's batchSize and
// nextPageToken, scoped to the query.
func (s *Server) page(r *request, scope string, n int) (start, end int, next string, a answer, done bool) {
	bs, a, done := s.batchSize(r)
	if done {
		return 0, 0, "", a, true
	}
	off, valid := parsePageToken(r.params.Get("nextPageToken"), scope)
	if !valid {
		return 0, 0, "", fail("1003", "Invalid nextPageToken"), true
	}
	start, end, more := pageBounds(n, off, bs)
	if more {
		next = pageToken(scope, end)
	}
	return start, end, next, answer{}, false
}

// listRow is a static list as Get List(s) answer it.
func (s *Server) listRow(id int, l *simList) map[string]any {
	ts := l.created.UTC().Format(time.RFC3339)
	return map[string]any{"id": id, "name": l.name, "description": "", "programName": "", "workspaceName": "Default",
		"createdAt": ts, "updatedAt": ts}
}

// getList is Get List by Id; an unknown list answers 1013.
func (s *Server) getList(id int) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.lists[id]
	if l == nil {
		return fail("1013", "Static list not found")
	}
	return ok([]map[string]any{s.listRow(id, l)})
}

// getLists is Get Lists (lists.json), filtered by id, name, programName and
// workspaceName, paged; no match is an empty result.
func (s *Server) getLists(r *request) answer {
	ids, names := paramValues(r, "id"), paramValues(r, "name")
	programs, workspaces := paramValues(r, "programName"), paramValues(r, "workspaceName")
	s.mu.Lock()
	defer s.mu.Unlock()
	var rows []map[string]any
	for _, id := range slices.Sorted(maps.Keys(s.st.lists)) {
		l := s.st.lists[id]
		if selected(ids, strconv.Itoa(id)) && selected(names, l.name) && selected(programs, "") && selected(workspaces, "Default") {
			rows = append(rows, s.listRow(id, l))
		}
	}
	scope := "lists|" + strings.Join(ids, ",") + "|" + strings.Join(names, ",")
	start, end, next, a, done := s.page(r, scope, len(rows))
	if done {
		return a
	}
	a = ok(rows[start:end])
	a.next = next
	return a
}

// getCampaigns is Get Campaigns (campaigns.json): id, name, programName,
// workspaceName filters, and isTriggerable=true for the active trigger
// campaigns with a "Campaign is Requested" (Web Service API) trigger. Rows
// carry active, as swagger has it; isRequestable is the asset API's and is
// not here.
func (s *Server) getCampaigns(r *request) answer {
	ids, names, programs := paramValues(r, "id"), paramValues(r, "name"), paramValues(r, "programName")
	triggerable := strings.EqualFold(r.params.Get("isTriggerable"), "true")
	s.mu.Lock()
	defer s.mu.Unlock()
	var rows []map[string]any
	for _, id := range slices.Sorted(maps.Keys(s.st.campaigns)) {
		c := s.st.campaigns[id]
		if !selected(ids, strconv.Itoa(id)) || !selected(names, c.Name) || !selected(programs, c.ProgramName) {
			continue
		}
		if triggerable && (c.Type != "trigger" || !c.Active || !c.Requestable) {
			continue
		}
		rows = append(rows, map[string]any{"id": c.ID, "name": c.Name, "description": "", "type": c.Type,
			"programName": c.ProgramName, "programId": c.ProgramID, "workspaceName": "Default",
			"createdAt": s.epoch(), "updatedAt": s.epoch(), "active": c.Active})
	}
	scope := "campaigns|" + strings.Join(ids, ",") + "|" + strings.Join(names, ",") + "|" + strconv.FormatBool(triggerable)
	start, end, next, a, done := s.page(r, scope, len(rows))
	if done {
		return a
	}
	a = ok(rows[start:end])
	a.next = next
	return a
}

// epoch is the creation time the simulator gives what it was seeded with.
func (s *Server) epoch() string { return s.started.UTC().Format(time.RFC3339) }

// listCOTypes is List Custom Objects (customobjects.json?names=a,b): the
// named types (all without names) with their keys and relationships, and no
// fields (Describe has those). A name that does not exist is left out.
func (s *Server) listCOTypes(r *request) answer {
	names := paramValues(r, "names")
	s.mu.Lock()
	defer s.mu.Unlock()
	var rows []map[string]any
	for _, n := range slices.Sorted(maps.Keys(s.st.coTypes)) {
		if !selected(names, n) {
			continue
		}
		m := s.coMeta(s.st.coTypes[n])
		delete(m, "fields")
		rows = append(rows, m)
	}
	return ok(rows)
}

// usageToday is Get Daily Usage (stats/usage.json): always one day, today's
// in the quota zone, with its total (clients such as singer-io/tap-marketo
// read result[0].total) and the calls of the API user.
func (s *Server) usageToday() answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rollDay(s.opts.clock.Now())
	return ok([]map[string]any{s.usageDay(s.day, s.dayCount)})
}

// usageLast7 is Get Last 7 Days Usage: one entry per day, newest first.
func (s *Server) usageLast7() answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.clock.Now()
	s.rollDay(now)
	out := []map[string]any{s.usageDay(s.day, s.dayCount)}
	for i := 1; i < 7; i++ {
		d := now.In(s.loc).AddDate(0, 0, -i).Format(time.DateOnly)
		out = append(out, s.usageDay(d, s.usage[d]))
	}
	return ok(out)
}

func (s *Server) usageDay(day string, total int) map[string]any {
	users := []map[string]any{}
	if total > 0 {
		users = append(users, map[string]any{"userId": s.opts.apiUser, "count": total})
	}
	return map[string]any{"date": day, "total": total, "users": users}
}
