package certain

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"
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

// errorMessage takes Certain's message from an error body for errors and
// run records: a known JSON field; the message of a servlet error page
// ("HTTP Status 400 -  <message>", docs/certain.md §3), which may be HTML;
// or else the body's text with any markup removed. At most 300 characters.
func errorMessage(body []byte) string {
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		for _, k := range []string{"message", "Message", "error", "errorMessage", "detail", "description"} {
			if s := getString(m, k); s != "" {
				return shorten(s)
			}
		}
	}
	s := string(body)
	if sm := servletRE.FindStringSubmatch(s); sm != nil && strings.TrimSpace(html.UnescapeString(sm[1])) != "" {
		return shorten(strings.Join(strings.Fields(html.UnescapeString(sm[1])), " "))
	}
	if strings.Contains(s, "<") && strings.Contains(s, ">") {
		s = invisibleRE.ReplaceAllString(s, " ")
		s = tagRE.ReplaceAllString(s, " ")
		s = html.UnescapeString(s)
	}
	return shorten(strings.Join(strings.Fields(s), " "))
}

var (
	// servletRE finds a servlet container's status line and its message,
	// which ends at the next tag or line.
	servletRE = regexp.MustCompile(`HTTP Status \d{3}\s*[-\x{2013}]\s*([^<\r\n]*)`)
	// invisibleRE matches elements whose text is not part of the message.
	invisibleRE = regexp.MustCompile(`(?is)<(head|style|script|title)\b.*?</(head|style|script|title)\s*>`)
	tagRE       = regexp.MustCompile(`(?s)<[^>]*>`)
)

// shorten cuts s to 300 characters (on a rune boundary).
func shorten(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= 300 {
		return s
	}
	cut := 300
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// retryable reports whether an answer with status (0: no answer) may be
// retried: 429 always, 5xx and transport errors only when cl is not a create.
func (cl call) retryable(status int) bool {
	return status == http.StatusTooManyRequests || (!cl.create && (status >= 500 || status == 0))
}

// ErrContract is matched (errors.Is) by a *ContractError: Certain answered
// in a way that contradicts the connection's settings (paging mode, page
// size, field names), so the read stopped rather than return part of the
// data.
var ErrContract = errors.New("Certain's answer contradicts the connection's settings")

// ErrCollectionChanged is matched by a read stopped because rows were
// removed from the collection while it was read.
var ErrCollectionChanged = errors.New("the collection changed during the read")

// ContractError is a mismatch between Certain's answers and the
// connection's settings: what was seen, and the likely cause with the
// setting to change.
type ContractError struct {
	Resource string
	What     string
	Cause    string
	Err      error // the Certain error behind it, if any
}

func (e *ContractError) Error() string {
	return fmt.Sprintf("certain: %s: %s: %s", e.Resource, e.What, e.Cause)
}

// Is makes errors.Is(err, ErrContract) true.
func (e *ContractError) Is(target error) bool { return target == ErrContract }

// Unwrap returns the Certain error behind the mismatch, if any.
func (e *ContractError) Unwrap() error { return e.Err }

// ErrorMessage is the message of an error body as run records show it:
// JSON, a servlet error page or any markup reduced to its text.
func ErrorMessage(body []byte) string { return errorMessage(body) }
