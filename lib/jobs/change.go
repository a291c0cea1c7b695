package jobs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ChangeVersion is the registration-change message version this code
// produces and accepts.
const ChangeVersion = 1

// MaxChangeBytes bounds an encoded change message; real ones are ~300 bytes.
const MaxChangeBytes = 8 << 10

// maxChangeField bounds every string field of a change message.
const maxChangeField = 256

// ChangeMessage is the registration-change message (version 1) that the
// change detector sends to the queue and trigger-campaign consumes. Any other
// producer (a webhook bridge, an operator replaying a change) may send it.
//
// Wire format, a JSON object with exactly these members (names are
// case-sensitive; unknown or repeated members are rejected so a typo is an
// error, not a silent no-op):
//
//	{"version":1,                         // required, must be 1
//	 "changeId":"c-5f0c2a9e71b44d0e",      // required: the producer's id of this change (for logs)
//	 "account":"ACME",                     // required: Certain account code
//	 "event":"HS26",                       // required: Certain event code
//	 "registrationCode":"R-100231",        // required
//	 "previousStatus":"Invited",           // optional: "" or absent for a new registration
//	 "newStatus":"Pre-Registered",         // required, differs from previousStatus
//	 "changedAt":"2026-04-01T08:03:11Z"}   // required, RFC 3339: the registration's dateModified
//
// Strings are 1-256 characters without control characters or surrounding
// spaces. Consumers deduplicate on the business key (job, registration, new
// status, changedAt), not on changeId, so two producers reporting the same
// change trigger once. A new version number will be used for any change of
// meaning; version 1 consumers reject other versions (to the DLQ).
type ChangeMessage struct {
	Version          int       `json:"version"`
	ChangeID         string    `json:"changeId"`
	Account          string    `json:"account"`
	Event            string    `json:"event"`
	RegistrationCode string    `json:"registrationCode"`
	PreviousStatus   string    `json:"previousStatus,omitempty"`
	NewStatus        string    `json:"newStatus"`
	ChangedAt        time.Time `json:"changedAt"`
}

// NewChange builds a version-1 message with a change id derived from its
// content, so the same change detected twice carries the same id.
func NewChange(account, event, regCode, previous, next string, changedAt time.Time) ChangeMessage {
	c := ChangeMessage{Version: ChangeVersion, Account: account, Event: event, RegistrationCode: regCode,
		PreviousStatus: previous, NewStatus: next, ChangedAt: changedAt.UTC()}
	sum := sha256.Sum256([]byte(strings.Join([]string{account, event, regCode, previous, next, c.ChangedAt.Format(time.RFC3339Nano)}, "\x00")))
	c.ChangeID = "c-" + hex.EncodeToString(sum[:8])
	return c
}

// Encode returns the message's JSON after validating it.
func (c ChangeMessage) Encode() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(c)
}

// Validate checks a message's fields (DecodeChange calls it).
func (c ChangeMessage) Validate() error {
	if c.Version != ChangeVersion {
		return fmt.Errorf("change message: version %d is not supported (want %d)", c.Version, ChangeVersion)
	}
	for _, f := range []struct {
		name, v  string
		required bool
	}{
		{"changeId", c.ChangeID, true}, {"account", c.Account, true}, {"event", c.Event, true},
		{"registrationCode", c.RegistrationCode, true}, {"previousStatus", c.PreviousStatus, false},
		{"newStatus", c.NewStatus, true},
	} {
		if err := checkChangeString(f.name, f.v, f.required); err != nil {
			return err
		}
	}
	if c.ChangedAt.IsZero() {
		return errors.New("change message: changedAt is required")
	}
	if y := c.ChangedAt.Year(); y < 2000 || y > 9998 {
		return fmt.Errorf("change message: changedAt %s is out of range", c.ChangedAt.Format(time.RFC3339))
	}
	if normStatus(c.PreviousStatus) == normStatus(c.NewStatus) {
		return fmt.Errorf("change message: newStatus %q equals previousStatus: not a change", c.NewStatus)
	}
	return nil
}

func checkChangeString(name, v string, required bool) error {
	switch {
	case v == "" && required:
		return fmt.Errorf("change message: %s is required", name)
	case v == "":
		return nil
	case !utf8.ValidString(v):
		return fmt.Errorf("change message: %s is not valid UTF-8", name)
	case len(v) > maxChangeField:
		return fmt.Errorf("change message: %s is longer than %d bytes", name, maxChangeField)
	case strings.TrimSpace(v) != v:
		return fmt.Errorf("change message: %s %q has surrounding spaces", name, v)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return fmt.Errorf("change message: %s contains control characters", name)
	}
	return nil
}

// DecodeChange parses and validates one registration-change message. It
// accepts exactly the documented members (case-sensitive, each once), of the
// documented JSON types, and nothing after the object. Every rejection says
// what is wrong; it never panics.
func DecodeChange(data []byte) (ChangeMessage, error) {
	var c ChangeMessage
	if len(data) > MaxChangeBytes {
		return c, fmt.Errorf("change message: %d bytes, more than the %d allowed", len(data), MaxChangeBytes)
	}
	if !utf8.Valid(data) {
		return c, errors.New("change message: not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return c, fmt.Errorf("change message: not JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return c, errors.New("change message: not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return c, fmt.Errorf("change message: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return c, errors.New("change message: malformed object key")
		}
		if seen[key] {
			return c, fmt.Errorf("change message: member %q repeats", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return c, fmt.Errorf("change message: member %q: %w", key, err)
		}
		if err := c.setMember(key, raw); err != nil {
			return c, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return c, fmt.Errorf("change message: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return c, errors.New("change message: trailing data after the JSON object")
	}
	if !seen["version"] {
		return c, errors.New("change message: version is required")
	}
	if !seen["changedAt"] {
		return c, errors.New("change message: changedAt is required")
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

func (c *ChangeMessage) setMember(key string, raw json.RawMessage) error {
	str := func(dst *string) error {
		if len(raw) == 0 || raw[0] != '"' {
			return fmt.Errorf("change message: %s must be a string", key)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("change message: %s: %w", key, err)
		}
		return nil
	}
	switch key {
	case "version":
		var n json.Number
		if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
			return errors.New("change message: version must be a number")
		}
		v, err := n.Int64()
		if err != nil || v < 0 || v > 1<<20 {
			return fmt.Errorf("change message: version %s is not a small whole number", n)
		}
		c.Version = int(v)
		return nil
	case "changeId":
		return str(&c.ChangeID)
	case "account":
		return str(&c.Account)
	case "event":
		return str(&c.Event)
	case "registrationCode":
		return str(&c.RegistrationCode)
	case "previousStatus":
		if string(raw) == "null" {
			return nil
		}
		return str(&c.PreviousStatus)
	case "newStatus":
		return str(&c.NewStatus)
	case "changedAt":
		var s string
		if err := str(&s); err != nil {
			return err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("change message: changedAt %q is not an RFC 3339 time", truncate(s, 40))
		}
		c.ChangedAt = t.UTC()
		return nil
	}
	return fmt.Errorf("change message: unknown member %q (version 1 members: version, changeId, account, event, registrationCode, previousStatus, newStatus, changedAt)", truncate(key, 40))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// normStatus compares status names case-insensitively after trimming.
func normStatus(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
