// Package fieldtype is the one place where values cross between Certain and
// Marketo types: Certain gives strings, booleans and numbers; Marketo checks
// every written value against its field's dataType and skips a record whose
// value does not fit (1003, docs/marketo.md §12). The jobs convert each value
// with Convert before sending, so a value that cannot be converted fails its
// own record with a reason naming the field, the value's shape (never the
// value) and the Marketo type, and the rest of the batch goes.
//
// It also knows the types of the Certain fields the documentation names
// (CertainKind), Marketo's standard lead fields (StandardLeadField), and
// which Certain kinds can fit which Marketo types (Fits), for the mapping
// checks of cmctl validate, the jobs and cmctl probe-marketo.
//
// The conversions (README, "Type conversion"):
//
//	boolean                  true/false, yes/no, y/n, 1/0 (any case), a JSON boolean, the numbers 1 and 0
//	integer, score           a whole number: 42, "42", "+42", "42.0" (no fraction, no separators; 32-bit)
//	float                    a number: 4.5, "4.5", "-1e3"
//	currency                 a number, optionally with a leading $ € £ ¥ and comma thousands: "$1,234.50"
//	percent                  a whole number, optionally with a trailing %: 30, "30", "30%"
//	date                     YYYY-MM-DD, or a date-time whose date (as written) is kept
//	datetime                 YYYY-MM-DD[(T| )hh:mm[:ss[.f]]][Z|±hh:mm]; no zone means UTC (as Certain
//	                         writes it); sent in UTC without fraction: 2026-04-01T08:03:11Z
//	string, phone            text; numbers and booleans as their text; over the field's length: Overflow
//	text (text area)         as string, up to 30,000 bytes
//	email                    text, ASCII only, one @ and a dotted domain; never truncated
//	url                      text with a scheme and a host (https://example.com); never truncated
//	reference, link          a whole number as a number, anything else as text
//	any other type           the value as given
package fieldtype

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

// Marketo data types (the dataType of a describe).
const (
	String    = "string"
	Text      = "text"
	Email     = "email"
	Phone     = "phone"
	URL       = "url"
	Boolean   = "boolean"
	Integer   = "integer"
	Float     = "float"
	Currency  = "currency"
	Percent   = "percent"
	Score     = "score"
	Date      = "date"
	Datetime  = "datetime"
	Reference = "reference"
	Link      = "link" // a custom object's link field
)

// TextMaxBytes is a Marketo text area's capacity ("up to 30,000 bytes").
const TextMaxBytes = 30000

// Overflow is what Convert does with a string longer than its field. Marketo
// does not document whether it truncates or refuses, so it is a setting
// (the connection's stringOverflow).
type Overflow string

const (
	// OverflowRefuse fails the record, naming the field and its length (the
	// default: nothing is changed without the operator choosing it).
	OverflowRefuse Overflow = "refuse"
	// OverflowTruncate sends the first length characters (string, phone and
	// text fields; e-mails and URLs are never cut).
	OverflowTruncate Overflow = "truncate"
)

// ParseOverflow reads a stringOverflow setting ("" is OverflowRefuse).
func ParseOverflow(s string) (Overflow, error) {
	switch o := Overflow(strings.TrimSpace(s)); o {
	case "":
		return OverflowRefuse, nil
	case OverflowRefuse, OverflowTruncate:
		return o, nil
	}
	return "", fmt.Errorf("string overflow %q: want %q or %q", s, OverflowRefuse, OverflowTruncate)
}

// Field is the target of a conversion: a Marketo field's name, dataType and
// length (0 when describe gives none).
type Field struct {
	Name     string
	DataType string
	Length   int
}

// Error is a value that cannot be converted to its field's type. It names
// the field, the type and the value's shape, never the value.
type Error struct {
	Field    string // Marketo field
	DataType string
	Shape    string // Shape(value)
	Why      string
}

func (e *Error) Error() string {
	return fmt.Sprintf("Marketo field %q (%s) cannot take a value shaped %s: %s", e.Field, e.DataType, e.Shape, e.Why)
}

// Convert returns v as Marketo's field f expects it (see the package
// documentation); nil stays nil. An *Error says why it cannot.
func Convert(v any, f Field, o Overflow) (any, error) {
	if v == nil {
		return nil, nil
	}
	if n, isNum := v.(json.Number); isNum {
		v = string(n)
	}
	fail := func(why string) (any, error) {
		return nil, &Error{Field: f.Name, DataType: f.DataType, Shape: Shape(v), Why: why}
	}
	var out any
	var why string
	switch strings.ToLower(f.DataType) {
	case Boolean:
		out, why = toBool(v)
	case Integer, Score:
		out, why = toInt(v, false)
	case Percent:
		out, why = toInt(v, true)
	case Float:
		out, why = toFloat(v, false)
	case Currency:
		out, why = toFloat(v, true)
	case Date:
		out, why = toDate(v)
	case Datetime:
		out, why = toDatetime(v)
	case Email, URL, String, Phone, Text, "textarea":
		out, why = toText(v, f, o)
	case Reference, Link:
		out, why = toReference(v)
	default:
		out = v
		if s, isStr := v.(string); isStr {
			out = strings.TrimSpace(s)
		}
	}
	if why != "" {
		return fail(why)
	}
	return out, nil
}

// text renders a Certain value as text: strings trimmed, numbers in their
// shortest form, booleans as true/false.
func text(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x), true
	case bool:
		return strconv.FormatBool(x), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return "", false
		}
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

var boolWords = map[string]bool{"true": true, "yes": true, "y": true, "1": true, "false": false, "no": false, "n": false, "0": false}

func toBool(v any) (any, string) {
	if b, isBool := v.(bool); isBool {
		return b, ""
	}
	s, _ := text(v)
	if b, known := boolWords[strings.ToLower(s)]; known {
		return b, ""
	}
	return nil, "not a boolean (true/false, yes/no, y/n or 1/0)"
}

// decimalRE is a plain decimal number: no separators, no hex, no Inf/NaN.
var decimalRE = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)

// thousandsRE is a number with comma thousands separators.
var thousandsRE = regexp.MustCompile(`^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$`)

// number reads v as a float64: a Go number, or a decimal string. money
// also strips a leading currency sign and comma thousands separators;
// percent a trailing %.
func number(v any, money, percent bool) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, !math.IsInf(x, 0) && !math.IsNaN(x)
	case string:
		s := strings.TrimSpace(x)
		if percent {
			s = strings.TrimSpace(strings.TrimSuffix(s, "%"))
		}
		if money {
			s = strings.TrimSpace(strings.TrimLeft(s, "$€£¥"))
			if thousandsRE.MatchString(s) {
				s = strings.ReplaceAll(s, ",", "")
			}
		}
		if !decimalRE.MatchString(s) {
			return 0, false
		}
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil && !math.IsInf(f, 0)
	}
	return 0, false
}

func toInt(v any, percent bool) (any, string) {
	f, isNum := number(v, false, percent)
	switch {
	case !isNum && percent:
		return nil, "not a whole-number percentage (30 or 30%)"
	case !isNum:
		return nil, "not a whole number"
	case f != math.Trunc(f):
		return nil, "has a fraction; the field holds whole numbers"
	case f > math.MaxInt32 || f < math.MinInt32:
		return nil, "out of the field's range (32-bit)"
	}
	return int(f), ""
}

func toFloat(v any, money bool) (any, string) {
	f, isNum := number(v, money, false)
	if !isNum {
		return nil, "not a number"
	}
	return f, ""
}

// dateLayouts are the Certain date and date-time forms Convert reads.
var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	time.DateOnly,
}

// parseDate reads a date or date-time ("T" or a space between them); a
// date-time without zone is UTC.
func parseDate(v any) (time.Time, bool, bool) {
	s, isStr := v.(string)
	if !isStr {
		return time.Time{}, false, false
	}
	s = strings.Replace(strings.TrimSpace(s), " ", "T", 1)
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, l == time.DateOnly, true
		}
	}
	return time.Time{}, false, false
}

func toDate(v any) (any, string) {
	t, _, isDate := parseDate(v)
	if !isDate {
		return nil, "not a date (YYYY-MM-DD)"
	}
	return t.Format(time.DateOnly), "" // the date as written, in its own zone
}

func toDatetime(v any) (any, string) {
	t, _, isDate := parseDate(v)
	if !isDate {
		return nil, "not a date-time (YYYY-MM-DDThh:mm:ss with an optional zone)"
	}
	return t.UTC().Truncate(time.Second).Format(time.RFC3339), ""
}

// emailRE is an address with one @, a local part and a dotted domain, no
// spaces.
var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$`)

func toText(v any, f Field, o Overflow) (any, string) {
	s, isText := text(v)
	if !isText {
		return nil, "not a text value"
	}
	dt := strings.ToLower(f.DataType)
	switch dt {
	case Email:
		if !isASCII(s) {
			return nil, "an e-mail address must be ASCII"
		}
		if !emailRE.MatchString(s) {
			return nil, "not an e-mail address"
		}
	case URL:
		if u, err := url.Parse(s); err != nil || u.Scheme == "" || u.Host == "" {
			return nil, "not a URL with a scheme and host (https://…)"
		}
	}
	return fitLength(s, f, dt, o)
}

// fitLength applies the field's length: characters, or bytes for a text
// area (30,000 when describe gives no length).
func fitLength(s string, f Field, dt string, o Overflow) (any, string) {
	if dt == Text || dt == "textarea" {
		limit := TextMaxBytes
		if f.Length > 0 {
			limit = f.Length
		}
		if len(s) <= limit {
			return s, ""
		}
		if o != OverflowTruncate {
			return nil, fmt.Sprintf("%d bytes, longer than the field's %d (stringOverflow: refuse)", len(s), limit)
		}
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut], ""
	}
	n := utf8.RuneCountInString(s)
	if f.Length <= 0 || n <= f.Length {
		return s, ""
	}
	if o != OverflowTruncate || dt == Email || dt == URL {
		return nil, fmt.Sprintf("%d characters, longer than the field's %d (stringOverflow: %s)", n, f.Length, o.orRefuse())
	}
	return string([]rune(s)[:f.Length]), ""
}

func (o Overflow) orRefuse() Overflow {
	if o == "" {
		return OverflowRefuse
	}
	return o
}

func toReference(v any) (any, string) {
	if f, isNum := number(v, false, false); isNum && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f), ""
	}
	s, isText := text(v)
	if !isText {
		return nil, "not an id"
	}
	return s, ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Shape describes a value without revealing it: letters become a (A when
// upper case), digits 9, other letters of any script ? , ASCII punctuation
// and spaces stay; long values are cut, with their length. "yesterday" is
// "aaaaaaaaa", "14c" "99a", "100%" "999%", 14.1 "number 99.9".
func Shape(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case int, int64, float64:
		s, _ := text(x)
		return "number " + mask(s)
	case string:
		n := utf8.RuneCountInString(x)
		if n == 0 {
			return `""`
		}
		m := mask(x)
		if n > 24 {
			m = string([]rune(m)[:24]) + "…"
		}
		return fmt.Sprintf("%q (%d characters)", m, n)
	}
	return fmt.Sprintf("%T", v)
}

func mask(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteByte('a')
		case r >= 'A' && r <= 'Z':
			b.WriteByte('A')
		case r >= '0' && r <= '9':
			b.WriteByte('9')
		case r < utf8.RuneSelf && r >= ' ':
			b.WriteRune(r)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// ToCertain returns a Marketo value as a Certain profile field of kind k
// takes it (the import's reverse mapping): a boolean for a boolean field,
// text for everything else (numbers in their shortest form, booleans as
// true/false, dates and date-times as Marketo gives them). nil stays nil.
func ToCertain(v any, k Kind) any {
	if v == nil {
		return nil
	}
	if n, isNum := v.(json.Number); isNum {
		v = string(n)
	}
	if k == KindBoolean {
		if b, why := toBool(v); why == "" {
			return b
		}
	}
	if s, isText := text(v); isText {
		return s
	}
	return v
}
