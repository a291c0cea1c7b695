package certaintest

import (
	"net/http"
	"slices"
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
	case method == http.MethodDelete && len(rest) == 1:
		return s.deleteRegistration(e, rest[0])
	}
	return nil, notFound("no such Registration resource")
}

// deleteRegistration removes a registration from its event.
func (s *Server) deleteRegistration(e *eventData, code string) (any, *httpErr) {
	r := e.regs[code]
	if r == nil {
		return nil, notFound("registration %s not found", code)
	}
	s.gen++
	pin, _ := r.f["profile"].(string)
	if set := e.byPin[pin]; set != nil {
		delete(set, r)
		if len(set) == 0 {
			delete(e.byPin, pin)
		}
	}
	delete(e.regs, code)
	e.regList = slices.Delete(e.regList, r.ord, r.ord+1)
	for i := r.ord; i < len(e.regList); i++ {
		e.regList[i].ord = i
	}
	return map[string]any{"registrationCode": code, "deleted": true}, nil
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
