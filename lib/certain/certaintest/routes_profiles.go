package certaintest

import (
	"net/http"
	"slices"
)

// profileRoute serves Profile/{account}[/{pin}]: search, read, create and
// partial update.
func (s *Server) profileRoute(a *account, acct string, rest []string, method string, q map[string][]string, body map[string]any) (any, *httpErr) {
	switch {
	case method == http.MethodGet && len(rest) == 0:
		return s.collection(q, view{key: "profiles", cacheKey: "P\x00" + acct, recs: a.profileList, index: a.findProfiles})
	case method == http.MethodGet && len(rest) == 1:
		p := a.profiles[rest[0]]
		if p == nil {
			return nil, notFound("profile %s not found", rest[0])
		}
		return render(p), nil
	case method == http.MethodPost && len(rest) == 0:
		if pin, _ := body["pin"].(string); pin != "" {
			return nil, badRequest("pin is assigned by Certain; POST to Profile/%s/%s to update", acct, pin)
		}
		r := s.newRec(body)
		s.addProfile(acct, r)
		return render(r), nil
	case method == http.MethodPost && len(rest) == 1:
		p := a.profiles[rest[0]]
		if p == nil {
			return nil, notFound("profile %s not found", rest[0])
		}
		s.gen++
		s.unindexProfile(a, p)
		merge(p, body, s.stamp(), "pin")
		s.indexProfile(a, p)
		return render(p), nil
	case method == http.MethodDelete && len(rest) == 1:
		return s.deleteProfile(a, rest[0])
	}
	return nil, notFound("no such Profile resource")
}

// deleteProfile removes a profile that no registration uses.
func (s *Server) deleteProfile(a *account, pin string) (any, *httpErr) {
	p := a.profiles[pin]
	if p == nil {
		return nil, notFound("profile %s not found", pin)
	}
	for code, e := range a.events {
		if c := e.registeredAs(pin); c != "" {
			return nil, badRequest("profile %s is registered for event %s (%s): delete the registration first", pin, code, c)
		}
	}
	s.gen++
	s.unindexProfile(a, p)
	delete(a.profiles, pin)
	a.profileList = slices.Delete(a.profileList, p.ord, p.ord+1)
	for i := p.ord; i < len(a.profileList); i++ {
		a.profileList[i].ord = i
	}
	return map[string]any{"pin": pin, "deleted": true}, nil
}
