package marketotest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// tokenRec is a minted access token: its expiry, and whether a 602 has been
// answered for it already (the next use gets 601).
type tokenRec struct {
	expires     time.Time
	expiredSeen bool
}

// ExpireToken expires the current token now: its next use gets 602.
func (s *Server) ExpireToken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.tokens[s.current]; r != nil {
		r.expires = s.opts.clock.Now()
	}
}

// identity is the OAuth client-credentials endpoint: it hands back the
// current token with its remaining life, or mints one when it has expired.
func (s *Server) identity(w http.ResponseWriter, r *http.Request, body []byte, log *CallLog) {
	params := r.URL.Query()
	if r.Method == http.MethodPost {
		if f, err := url.ParseQuery(string(body)); err == nil {
			for k, v := range f {
				params[k] = v
			}
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		log.HTTPStatus = http.StatusMethodNotAllowed
		writeJSON(w, r, log.HTTPStatus, map[string]string{"error": "invalid_request", "error_description": "GET or POST only"})
		return
	}
	if params.Get("grant_type") != "client_credentials" {
		log.HTTPStatus = http.StatusBadRequest
		writeJSON(w, r, log.HTTPStatus, map[string]string{"error": "unsupported_grant_type", "error_description": "grant_type must be client_credentials"})
		return
	}
	if params.Get("client_id") != s.opts.clientID || params.Get("client_secret") != s.opts.clientSecret {
		log.HTTPStatus = http.StatusUnauthorized
		writeJSON(w, r, log.HTTPStatus, map[string]string{"error": "unauthorized", "error_description": "Bad client credentials"})
		return
	}
	s.mu.Lock()
	now := s.opts.clock.Now()
	cur := s.tokens[s.current]
	if cur == nil || !cur.expires.After(now) {
		s.current = newToken()
		cur = &tokenRec{expires: now.Add(s.opts.tokenLifetime)}
		s.tokens[s.current] = cur
	}
	tok := s.current
	left := int(cur.expires.Sub(now) / time.Second)
	s.mu.Unlock()
	log.HTTPStatus = http.StatusOK
	writeJSON(w, r, http.StatusOK, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": left, "scope": s.opts.apiUser})
}

// IssuedTokens returns every access token the simulator has minted, for
// tests that check no token ever reaches a log, an error or a URL.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens))
	for t := range s.tokens {
		out = append(out, t)
	}
	return out
}

// newToken returns a random access token.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + ":sj"
}

// authenticate answers 603 (or, with WithMissingTokenCode, 600) for a call
// without a token, and 601/602 for an unknown, query-parameter or expired
// one; done is false when the token is good.
func (s *Server) authenticate(r *http.Request) (answer, bool) {
	if r.URL.Query().Has("access_token") {
		return fail("601", "Access token invalid"), true
	}
	h := r.Header.Get("Authorization")
	if strings.TrimSpace(h) == "" {
		if s.opts.missingTokenCode == "600" {
			return fail("600", "Empty access token"), true
		}
		return fail(s.opts.missingTokenCode, "Access denied"), true
	}
	tok, found := strings.CutPrefix(h, "Bearer ")
	if !found || tok == "" {
		return fail("601", "Access token invalid"), true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.tokens[tok]
	if rec == nil {
		return fail("601", "Access token invalid"), true
	}
	if !rec.expires.After(s.opts.clock.Now()) {
		if rec.expiredSeen {
			return fail("601", "Access token invalid"), true
		}
		rec.expiredSeen = true
		return fail("602", "Access token expired"), true
	}
	return answer{}, false
}
