package certain

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error is a Certain API failure: the HTTP status, the call and Certain's message.
type Error struct {
	Status   int
	Method   string
	Resource string
	Message  string
	user     string
}

// ErrBadCredentials is matched (errors.Is) by a 401 *Error.
var ErrBadCredentials = errors.New("certain: bad credentials")

func (e *Error) Error() string {
	if e.Status == http.StatusUnauthorized {
		return fmt.Sprintf("certain: bad credentials for API user %q (HTTP 401 on %s %s)", e.user, e.Method, e.Resource)
	}
	if e.Message == "" {
		return fmt.Sprintf("certain: %s %s: HTTP %d", e.Method, e.Resource, e.Status)
	}
	return fmt.Sprintf("certain: %s %s: HTTP %d: %s", e.Method, e.Resource, e.Status, e.Message)
}

// Is makes errors.Is(err, ErrBadCredentials) true for a 401.
func (e *Error) Is(target error) bool {
	return target == ErrBadCredentials && e.Status == http.StatusUnauthorized
}

// IsNotFound reports whether err is a Certain 404.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// errorMessage takes Certain's message from an error body: a known JSON
// field, or else the (trimmed, shortened) body itself.
func errorMessage(body []byte) string {
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		for _, k := range []string{"message", "Message", "error", "errorMessage"} {
			if s := getString(m, k); s != "" {
				return s
			}
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// retryable reports whether an answer with status (0: no answer) may be
// retried: 429 always, 5xx and transport errors only when cl is not a create.
func (cl call) retryable(status int) bool {
	return status == http.StatusTooManyRequests || (!cl.create && (status >= 500 || status == 0))
}
