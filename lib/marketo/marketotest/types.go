package marketotest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The field layer: every value written to a lead or a custom object record is
// checked against the field's dataType, as Marketo does (docs/marketo.md
// §12): a value that does not fit skips the record with 1003 "Invalid value
// for field '<name>'" and the rest of the batch goes on. Accepted values are
// stored typed and read back typed: booleans and numbers as JSON booleans and
// numbers, datetimes in UTC without fractions ("2026-04-01T08:03:11Z"),
// dates as YYYY-MM-DD, and a boolean never set (or set to null) as false.
//
// Recorded from a real instance: a word in a boolean, "bademail" in an email
// field, 14.1 in an integer, "14c" in a float, "yesterday" in a datetime,
// "100%" in a percent. The rest follows Adobe's field-type page; where it is
// silent the simulator makes a choice and an option offers the other:
//
//   - strings in typed fields ("true", "5"): refused by default;
//     WithLenientTypes accepts the canonical text of a typed value;
//   - a string longer than its length (255 for string, email, url, phone;
//     30,000 bytes of text): refused by default; WithStringOverflow truncates;
//   - custom object fields: checked like lead fields by default (Adobe
//     documents nothing); WithCustomObjectTypeCheck(false) accepts anything.
//
// An empty string clears a field, like null.

// StringOverflow is what the simulator does with a string longer than its
// field (Marketo's behaviour is not documented).
type StringOverflow int

const (
	// OverflowRefuse skips the record with 1003 (the default).
	OverflowRefuse StringOverflow = iota
	// OverflowTruncate stores the first length characters.
	OverflowTruncate
)

// textMaxBytes is a text area's capacity (Adobe: "up to 30,000 bytes").
const textMaxBytes = 30000

// fieldSpec is what the field layer needs of a field.
type fieldSpec struct {
	name     string
	dataType string
	length   int
}

// invalid is the 1003 reason of a value that does not fit: the short form
// recorded in 2020, or the form with the value recorded since 2021.
func (s *Server) invalid(name string, raw any) (code, msg string) {
	if s.opts.legacy1003 {
		return "1003", fmt.Sprintf("Invalid value for field '%s'", name)
	}
	return "1003", fmt.Sprintf("Invalid value for field '%s' and value '%s'", name, rawText(raw))
}

// rawText renders a value as sent, for the 1003 message.
func rawText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case nil:
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// typedValue checks raw (as decoded with UseNumber) against f and returns
// the value to store; ok is false when it does not fit.
func (s *Server) typedValue(f fieldSpec, raw any) (stored any, ok bool) {
	switch x := raw.(type) {
	case nil:
		return nil, true
	case string:
		if x == "" {
			return nil, true
		}
	case map[string]any, []any:
		return nil, false
	}
	switch f.dataType {
	case "string", "email", "url", "phone", "text", "textarea":
		return s.textValue(f, raw)
	case "boolean":
		return s.boolValue(raw)
	case "integer", "score", "percent":
		return s.intValue(raw)
	case "float", "currency":
		return s.floatValue(raw)
	case "date":
		return s.dateValue(raw)
	case "datetime":
		return datetimeValue(raw)
	case "reference", "link":
		return referenceValue(raw)
	}
	return normalize(raw), true // a type the simulator does not know: kept as sent
}

// textValue checks a string-like value: its length, and the form of an
// email or URL.
func (s *Server) textValue(f fieldSpec, raw any) (any, bool) {
	str, isStr := raw.(string)
	if !isStr {
		if !s.opts.lenientTypes {
			return nil, false
		}
		str = scalar(raw)
	}
	switch f.dataType {
	case "email":
		if !plausibleEmail(str) {
			return nil, false
		}
	case "url":
		if u, err := url.Parse(str); err != nil || u.Scheme == "" || u.Host == "" {
			return nil, false
		}
	}
	return s.fitLength(f, str)
}

// emailRE is an address with one @, a non-empty local part and a dotted
// domain, without spaces.
var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$`)

// plausibleEmail: Marketo refuses "bademail" (recorded) and any non-ASCII
// address (Adobe: "only ASCII characters are supported").
func plausibleEmail(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return emailRE.MatchString(s)
}

// fitLength applies the field's length (characters; bytes for text) and the
// overflow option.
func (s *Server) fitLength(f fieldSpec, str string) (any, bool) {
	switch {
	case f.dataType == "text" || f.dataType == "textarea":
		if len(str) <= textMaxBytes {
			return str, true
		}
		if s.opts.overflow != OverflowTruncate {
			return nil, false
		}
		cut := textMaxBytes
		for cut > 0 && !utf8.RuneStart(str[cut]) {
			cut--
		}
		return str[:cut], true
	case f.length > 0 && utf8.RuneCountInString(str) > f.length:
		if s.opts.overflow != OverflowTruncate {
			return nil, false
		}
		return string([]rune(str)[:f.length]), true
	}
	return str, true
}

func (s *Server) boolValue(raw any) (any, bool) {
	switch x := raw.(type) {
	case bool:
		return x, true
	case string:
		if s.opts.lenientTypes {
			if b, err := strconv.ParseBool(strings.TrimSpace(x)); err == nil {
				return b, true
			}
		}
	case json.Number:
		if s.opts.lenientTypes && (x == "0" || x == "1") {
			return x == "1", true
		}
	}
	return nil, false
}

// intValue accepts an integral JSON number within Java's int range (a
// fraction is refused: 14.1 recorded), or with WithLenientTypes its text.
func (s *Server) intValue(raw any) (any, bool) {
	n, ok := s.number(raw)
	if !ok || n != math.Trunc(n) || n > math.MaxInt32 || n < math.MinInt32 {
		return nil, false
	}
	return int(n), true
}

func (s *Server) floatValue(raw any) (any, bool) {
	n, ok := s.number(raw)
	if !ok {
		return nil, false
	}
	return normalize(n), true
}

// number reads a JSON number, or with WithLenientTypes a numeric string.
func (s *Server) number(raw any) (float64, bool) {
	var text string
	switch x := raw.(type) {
	case json.Number:
		text = x.String()
	case float64:
		return x, !math.IsInf(x, 0) && !math.IsNaN(x)
	case int:
		return float64(x), true
	case string:
		if !s.opts.lenientTypes {
			return 0, false
		}
		text = strings.TrimSpace(x)
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// dateValue accepts YYYY-MM-DD (with WithLenientTypes also a datetime, whose
// UTC date is kept).
func (s *Server) dateValue(raw any) (any, bool) {
	str, isStr := raw.(string)
	if !isStr {
		return nil, false
	}
	if t, err := time.Parse(time.DateOnly, str); err == nil {
		return t.Format(time.DateOnly), true
	}
	if s.opts.lenientTypes {
		if t, ok := parseW3C(str); ok {
			return t.UTC().Format(time.DateOnly), true
		}
	}
	return nil, false
}

// datetimeValue accepts the W3C forms of ISO 8601 Adobe's field-type page
// names (a date, or a time with its zone designator) and stores UTC without
// fraction: "2020-08-30T05:49:48.000Z" reads back "2020-08-30T05:49:48Z".
func datetimeValue(raw any) (any, bool) {
	str, isStr := raw.(string)
	if !isStr {
		return nil, false
	}
	t, ok := parseW3C(str)
	if !ok {
		return nil, false
	}
	return t.UTC().Truncate(time.Second).Format(time.RFC3339), true
}

// w3cLayouts are the W3C date and time forms with a zone designator.
var w3cLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", time.DateOnly}

func parseW3C(s string) (time.Time, bool) {
	for _, l := range w3cLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// referenceValue accepts an id: an integral number or a string.
func referenceValue(raw any) (any, bool) {
	switch x := raw.(type) {
	case string:
		return x, true
	case json.Number:
		if n, err := strconv.Atoi(x.String()); err == nil {
			return n, true
		}
	case int:
		return x, true
	case float64:
		if x == math.Trunc(x) {
			return int(x), true
		}
	}
	return nil, false
}

// readValue is a stored value as a read answers it: an unset boolean reads
// false (recorded), anything else as stored (null when unset).
func readValue(dataType string, v any) any {
	if v == nil && dataType == "boolean" {
		return false
	}
	return v
}
