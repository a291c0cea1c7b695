package marketo

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Error is a response-level Marketo failure (success:false, or an HTTP status
// the client does not recover from). Code is the Marketo code as a string
// ("1013"), or "" when only HTTPStatus is meaningful.
type Error struct {
	Code       string
	Message    string
	RequestID  string
	Path       string
	HTTPStatus int
}

func (e *Error) Error() string {
	switch {
	case e.Code != "" && e.RequestID != "":
		return fmt.Sprintf("marketo %s: code %s: %s (requestId %s)", e.Path, e.Code, e.Message, e.RequestID)
	case e.Code != "":
		return fmt.Sprintf("marketo %s: code %s: %s", e.Path, e.Code, e.Message)
	default:
		return fmt.Sprintf("marketo %s: HTTP %d: %s", e.Path, e.HTTPStatus, e.Message)
	}
}

// ErrDailyQuota is matched (errors.Is) by every *QuotaError.
var ErrDailyQuota = errors.New("marketo daily API quota reached")

// ErrBadCredentials is matched (errors.Is) by every *AuthError.
var ErrBadCredentials = errors.New("marketo rejected the client credentials")

// QuotaError reports Marketo's 607 (or an exhausted local daily budget).
// ResetAt is when calls may resume: the next midnight of the configured
// QuotaZone (QuotaZone.ResumeAfter607 for Marketo's own 607).
type QuotaError struct {
	ResetAt   time.Time
	RequestID string
	Local     bool // true when the local budget refused before calling Marketo
}

func (e *QuotaError) Error() string {
	src := "Marketo answered 607"
	if e.Local {
		src = "local daily budget exhausted"
	}
	return fmt.Sprintf("%s: %s; resets at %s", ErrDailyQuota, src, e.ResetAt.Format(time.RFC3339))
}

func (e *QuotaError) Is(target error) bool { return target == ErrDailyQuota }

// AuthError reports that identity refused the client id/secret. It names the
// client id and never carries the secret.
type AuthError struct {
	ClientID    string
	HTTPStatus  int
	Reason      string // identity's "error" value, e.g. "unauthorized"
	Description string
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%s: client id %q: HTTP %d %s %s", ErrBadCredentials, e.ClientID, e.HTTPStatus, e.Reason, e.Description)
}

func (e *AuthError) Is(target error) bool { return target == ErrBadCredentials }

// IsNotFound reports whether err is Marketo's 1013 "Object not found" (an
// unknown list, campaign or custom object type).
func IsNotFound(err error) bool { return HasCode(err, "1013") }

// HasCode reports whether err wraps a *Error with the given Marketo code.
func HasCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// class is the retry class of a response (docs/marketo.md §7).
type class int

const (
	classFatal   class = iota
	classWait          // back off and retry
	classAuth          // drop token, re-authenticate, resend once
	classStop          // daily quota
	classLimited       // 611: retry a few times only
	classEmpty         // 702: no data, treat as an empty result
	classUnknown       // unknown code: wait a bounded number of tries, then fatal
)

// classify returns the retry class of a Marketo code.
func classify(code string) class {
	switch code {
	case "600", "601", "602":
		// 600 "Empty access token" (deprecated in 2022 for 603, which is
		// fatal): the token did not arrive, so a fresh one is sent once.
		return classAuth
	case "604", "606", "608", "614", "615", "713", "719":
		return classWait
	case "607":
		return classStop
	case "611":
		return classLimited
	case "702":
		return classEmpty
	case "603", "605", "609", "610", "612", "613", "616", "701", "704", "709",
		"1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009", "1010", "1011", "1026", "1013", "1036":
		return classFatal
	}
	return classUnknown
}

// redactURLError drops the URL from a *url.Error so nothing from a request
// line reaches logs; the identity call carries its secret in the body anyway.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// invalidValueTail matches what Marketo appends to a 1003 "Invalid value for
// field '<name>'" reason since 2021: " and value '<the value sent>'".
var invalidValueTail = regexp.MustCompile(`(?s)^(Invalid value for field '[^']*') and value '.*'$`)

// SafeMessage returns a record reason's message without the personal data
// Marketo may echo: the value of a 1003 "Invalid value for field 'x' and
// value 'y'" (the longer form recorded since 2021) is cut, leaving the field.
func SafeMessage(r Reason) string {
	if m := invalidValueTail.FindStringSubmatch(r.Message); m != nil {
		return m[1] + " (value withheld)"
	}
	return r.Message
}
