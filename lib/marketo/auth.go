package marketo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// refreshMargin is how long before its expiry a cached token is replaced.
const refreshMargin = 30 * time.Second

// accessToken returns a token valid for a while yet. Refreshes are serialised
// so parallel calls share one identity round trip.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.token != "" && c.expiresAt.Sub(c.cfg.Now()) > refreshMargin {
		return c.token, nil
	}
	for try := 0; ; try++ {
		tok, expiresIn, err := c.fetchToken(ctx)
		if err != nil {
			return "", err
		}
		now := c.cfg.Now()
		// Identity hands back the current token with its remaining life; a
		// nearly dead token (or expires_in 0) means: wait for expiry, ask again.
		if expiresIn <= 5*time.Second && try < 3 {
			if err := c.cfg.Sleep(ctx, expiresIn+time.Second); err != nil {
				return "", fmt.Errorf("marketo auth: waiting for token expiry: %w", err)
			}
			continue
		}
		c.token, c.expiresAt = tok, now.Add(expiresIn)
		return tok, nil
	}
}

// dropToken forgets used if it is still the cached token, so that of many
// goroutines answered 601/602 only the first causes a refresh.
func (c *Client) dropToken(used string) {
	c.tokMu.Lock()
	if c.token == used {
		c.token = ""
	}
	c.tokMu.Unlock()
}

// identityAnswer is the identity endpoint's JSON answer.
type identityAnswer struct {
	AccessToken      string `json:"access_token"`
	ExpiresIn        *int   `json:"expires_in"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// fetchToken asks identity for a token, retrying 5xx and network errors.
func (c *Client) fetchToken(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.cfg.ClientID}, "client_secret": {c.cfg.ClientSecret}}
	var lastErr error
	for attempt := 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		if attempt > 1 {
			if err := c.backoff(ctx, attempt-1); err != nil {
				return "", 0, fmt.Errorf("marketo auth: %w (after %w)", err, lastErr)
			}
		}
		resp, body, err := c.identityExchange(ctx, form)
		if err != nil {
			if ctx.Err() != nil {
				return "", 0, fmt.Errorf("marketo auth: %w", ctx.Err())
			}
			lastErr = err
			continue
		}
		var a identityAnswer
		jerr := json.Unmarshal(body, &a)
		switch {
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden ||
			a.Error == "invalid_client" || a.Error == "unauthorized":
			return "", 0, &AuthError{ClientID: c.cfg.ClientID, HTTPStatus: resp.StatusCode, Reason: a.Error, Description: a.ErrorDescription}
		case resp.StatusCode >= 500:
			lastErr = fmt.Errorf("identity answered HTTP %d", resp.StatusCode)
			continue
		case resp.StatusCode != http.StatusOK:
			return "", 0, fmt.Errorf("marketo auth: identity answered HTTP %d for client id %q", resp.StatusCode, c.cfg.ClientID)
		case jerr != nil:
			return "", 0, fmt.Errorf("marketo auth: identity answer is not JSON: %w", jerr)
		case a.AccessToken == "" || a.ExpiresIn == nil:
			return "", 0, fmt.Errorf("marketo auth: identity answer for client id %q lacks access_token or expires_in (error %q)", c.cfg.ClientID, a.Error)
		}
		return a.AccessToken, time.Duration(*a.ExpiresIn) * time.Second, nil
	}
	return "", 0, fmt.Errorf("marketo auth: gave up after %d attempts: %w", c.cfg.MaxAttempts, lastErr)
}

// identityExchange posts the client-credentials form to identity and reads
// the answer, within CallTimeout.
func (c *Client) identityExchange(ctx context.Context, form url.Values) (*http.Response, []byte, error) {
	ictx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ictx, http.MethodPost, c.identity+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, fmt.Errorf("marketo auth: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	c.count(func(s *Stats) { s.Auths++ })
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("identity request: %w", redactURLError(err))
	}
	body, err := readBody(resp)
	if err != nil {
		return nil, nil, fmt.Errorf("identity answer: %w", err)
	}
	return resp, body, nil
}

// Authenticate makes sure the client holds a valid access token (asking
// identity when it has none) and returns when that token expires. Bad
// credentials are an *AuthError. It takes nothing from the budget.
func (c *Client) Authenticate(ctx context.Context) (time.Time, error) {
	if _, err := c.accessToken(ctx); err != nil {
		return time.Time{}, err
	}
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	return c.expiresAt, nil
}
