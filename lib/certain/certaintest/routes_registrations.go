package certaintest

import (
	"net/http"
	"strings"
)

// registrationRoute serves Registration/{account}/{event}[/{registrationCode}]:
// search, read, create and partial update.
func (s *Server) registrationRoute(a *account, acct, event string, e *eventData, rest []string, method string, q map[string][]string, body map[string]any) (any, *httpErr) {
	switch {
	case method == http.MethodGet && len(rest) == 0:
		return s.collection(q, s.registrationsView(a, acct, event, e))
	case method == http.MethodGet && len(rest) == 1:
		r := e.regs[rest[0]]
		if r == nil {
			return nil, notFound("registration %s not found", rest[0])
		}
		return s.renderReg(a, r), nil
	case method == http.MethodPost && len(rest) == 0:
		return s.createRegistration(a, acct, event, e, body)
	case method == http.MethodPost && len(rest) == 1:
		r := e.regs[rest[0]]
		if r == nil {
			return nil, notFound("registration %s not found", rest[0])
		}
		if _, ok := body["profile"]; ok {
			return nil, badRequest("the embedded profile cannot be updated through Registration; POST Profile/%s/{pin}", acct)
		}
		s.gen++
		merge(r, body, s.stamp(), "registrationCode", "eventCode", "accountCode")
		return s.renderReg(a, r), nil
	}
	return nil, notFound("no such Registration resource")
}

// registrationsView is an event's registrations as a searchable collection:
// "profile.x" filters and orders read the embedded profile.
func (s *Server) registrationsView(a *account, acct, event string, e *eventData) view {
	get := func(r *rec, name string) (string, bool) {
		if rest, ok := strings.CutPrefix(name, "profile."); ok {
			pin, _ := r.f["profile"].(string)
			if p := a.profiles[pin]; p != nil {
				return recGet(p, rest)
			}
			return "", false
		}
		if name == "profile" {
			return "", false
		}
		return recGet(r, name)
	}
	return view{key: "registrations", cacheKey: "R\x00" + acct + "\x00" + event, recs: e.regList, get: get,
		render: func(r *rec) map[string]any { return s.renderReg(a, r) }}
}

// createRegistration registers the body's profile (by pin, or inline without
// one, which creates the profile too) for the event, at most once per pin.
func (s *Server) createRegistration(a *account, acct, event string, e *eventData, body map[string]any) (any, *httpErr) {
	prof, _ := body["profile"].(map[string]any)
	if prof == nil {
		return nil, badRequest("profile is required")
	}
	pin, _ := prof["pin"].(string)
	if pin == "" {
		// An inline profile without pin creates the profile too.
		pin = s.addProfile(acct, s.newRec(prof))
	} else if a.profiles[pin] == nil {
		return nil, badRequest("profile %s not found", pin)
	}
	if c := e.registeredAs(pin); c != "" {
		return nil, badRequest("profile %s is already registered for event %s (%s)", pin, event, c)
	}
	if code, _ := body["registrationCode"].(string); code != "" {
		return nil, badRequest("registrationCode is assigned by Certain")
	}
	fields := make(map[string]any, len(body))
	for k, v := range body {
		if k != "profile" {
			fields[k] = v
		}
	}
	r := s.newRec(fields)
	s.addRegistration(acct, event, pin, r)
	return s.renderReg(a, r), nil
}
