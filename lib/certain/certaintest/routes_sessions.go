package certaintest

import (
	"strconv"
)

// sessionsRoute serves accounts/{account}/events/{event}/sessions.
func (s *Server) sessionsRoute(e *eventData, q map[string][]string) (any, *httpErr) {
	return s.collection(q, view{key: "sessions", recs: e.sessions, render: s.tagRender(s.tagsWanted(q))})
}

// sessionRegistrationsRoute serves .../sessions/{instanceId}/registrations:
// the registrations of one session instance.
func (s *Server) sessionRegistrationsRoute(e *eventData, instanceID string, q map[string][]string) (any, *httpErr) {
	id, err := strconv.Atoi(instanceID)
	if err != nil {
		return nil, badRequest("instanceId %q is not a number", instanceID)
	}
	var recs []*rec
	code := ""
	for _, l := range e.sessionLines {
		if int(toFloat(l.f["instanceId"])) == id {
			code, _ = l.f["sessionCode"].(string)
			recs = append(recs, l)
		}
	}
	out, herr := s.collection(q, view{key: "registrations", recs: recs, render: func(r *rec) map[string]any {
		m := render(r)
		delete(m, "instanceId")
		delete(m, "sessionCode")
		return m
	}})
	if herr == nil {
		out["instanceId"] = id
		out["sessionCode"] = code
	}
	return out, herr
}

// registrationSessionsRoute serves .../registrations/{registrationCode}/sessions:
// the session instances of one registration.
func (s *Server) registrationSessionsRoute(e *eventData, regCode string, q map[string][]string) (any, *httpErr) {
	out, herr := s.collection(q, view{key: "instances", recs: filter(e.sessionLines, "registrationCode", regCode), render: func(r *rec) map[string]any {
		m := render(r)
		delete(m, "registrationCode")
		return m
	}})
	if herr == nil {
		out["registrationCode"] = regCode
	}
	return out, herr
}
