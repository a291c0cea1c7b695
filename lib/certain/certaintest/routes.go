package certaintest

import (
	"fmt"
	"net/http"
	"strings"
)

// httpErr is a route's failure: the status and plain-text message to answer.
type httpErr struct {
	status int
	msg    string
}

// notFound is a 404 with a message.
func notFound(format string, args ...any) *httpErr {
	return &httpErr{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

// badRequest is a 400 with a message.
func badRequest(format string, args ...any) *httpErr {
	return &httpErr{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// route runs with s.mu held.
func (s *Server) route(r *http.Request, body map[string]any) (any, *httpErr) {
	p := r.URL.Path
	var parts []string
	v2 := false
	switch {
	case strings.HasPrefix(p, v1Base):
		parts = strings.Split(strings.Trim(p[len(v1Base):], "/"), "/")
	case strings.HasPrefix(p, v2Base):
		parts = strings.Split(strings.Trim(p[len(v2Base):], "/"), "/")
		v2 = true
	default:
		return nil, notFound("no such API path %s", p)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost && (r.Method != http.MethodDelete || v2) {
		return nil, &httpErr{http.StatusMethodNotAllowed, "method " + r.Method + " not supported"}
	}
	if v2 {
		return s.routeV2(r, parts, r.URL.Query())
	}
	return s.routeV1(r, parts, body)
}

// routeV1 serves {Resource}/{account}[/{event}[/...]] below the v1 base.
func (s *Server) routeV1(r *http.Request, parts []string, body map[string]any) (any, *httpErr) {
	p, q := r.URL.Path, r.URL.Query()
	if len(parts) < 2 {
		return nil, notFound("no such resource %s", p)
	}
	a := s.accounts[parts[1]]
	if a == nil {
		return nil, notFound("account %s not found", parts[1])
	}
	get := r.Method == http.MethodGet
	switch {
	case parts[0] == "Event" && get && len(parts) <= 3:
		return s.eventRoute(a, parts[2:], q)
	case parts[0] == "Profile":
		return s.profileRoute(a, parts[1], parts[2:], r.Method, q, body)
	case parts[0] == "User" && get && len(parts) == 2:
		return s.collection(q, view{key: "users", recs: a.users})
	}
	if len(parts) < 3 {
		return nil, notFound("no such resource %s", p)
	}
	e := a.events[parts[2]]
	if e == nil {
		return nil, notFound("event %s not found", parts[2])
	}
	rest := parts[3:]
	switch {
	case parts[0] == "Registration":
		return s.registrationRoute(a, parts[1], parts[2], e, rest, r.Method, q, body)
	case parts[0] == "AgendaItem" && get:
		return s.agendaItemRoute(e, rest, q)
	case parts[0] == "RegistrationAgenda" && get:
		return s.registrationAgendaRoute(e, rest, q)
	case parts[0] == "Appointments" && get:
		return s.appointmentsRoute(e, q)
	}
	return nil, notFound("no such resource %s %s", r.Method, p)
}

// routeV2 serves accounts/{account}/events/{event}/... below the Standard
// 2.0 base: GET only.
func (s *Server) routeV2(r *http.Request, parts []string, q map[string][]string) (any, *httpErr) {
	if r.Method != http.MethodGet || len(parts) < 5 || parts[0] != "accounts" || parts[2] != "events" {
		return nil, notFound("no such API path %s", r.URL.Path)
	}
	a := s.accounts[parts[1]]
	if a == nil || a.events[parts[3]] == nil {
		return nil, notFound("account or event not found")
	}
	e := a.events[parts[3]]
	rest := parts[4:]
	switch {
	case len(rest) == 1 && rest[0] == "sessions":
		return s.sessionsRoute(e, q)
	case len(rest) == 3 && rest[0] == "sessions" && rest[2] == "registrations":
		return s.sessionRegistrationsRoute(e, rest[1], q)
	case len(rest) == 3 && rest[0] == "registrations" && rest[2] == "sessions":
		return s.registrationSessionsRoute(e, rest[1], q)
	}
	return nil, notFound("no such API path %s", r.URL.Path)
}
