package jobs

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// A run's failed records, counted by code and by reason, for the run's
// metrics (failures by code) and its notice (the most frequent reasons).
// Reasons are reduced to their pattern first: whatever may identify a
// person or a record (e-mail addresses, quoted values, anything holding a
// digit: ids, counts, dates, phone numbers) is masked, so that the failures
// of many records group under one reason and a notice carries no personal
// data.

// Bounds on what a run keeps: past them, new codes count under
// otherCode and new reasons of a known code under otherReason.
const (
	maxFailCodes   = 20
	maxFailReasons = 50
	otherCode      = "other"
	otherReason    = "(other reasons)"
	noCode         = "none"
)

// FailureReason is one reason records failed for in a run, with how many.
type FailureReason struct {
	Code    string `json:"code"`    // Marketo or Certain code; "none" when the failure has none
	Pattern string `json:"pattern"` // the reason with identifying values masked
	Count   int    `json:"count"`
}

// failTally counts a run's failed records; the Recorder guards it.
type failTally struct {
	byCode   map[string]int
	byReason map[FailureReason]int // Count unused in the key
}

func (f *failTally) add(code, reason string) {
	if f.byCode == nil {
		f.byCode, f.byReason = map[string]int{}, map[FailureReason]int{}
	}
	code = metricCode(code)
	if _, ok := f.byCode[code]; !ok && len(f.byCode) >= maxFailCodes {
		code = otherCode
	}
	f.byCode[code]++
	k := FailureReason{Code: code, Pattern: ReasonPattern(reason)}
	if _, ok := f.byReason[k]; !ok && len(f.byReason) >= maxFailReasons {
		k.Pattern = otherReason
	}
	f.byReason[k]++
}

// codes returns the failed-record counts by code (a copy).
func (f *failTally) codes() map[string]int {
	out := make(map[string]int, len(f.byCode))
	for k, v := range f.byCode {
		out[k] = v
	}
	return out
}

// top returns the n most frequent reasons, most frequent first (ties by
// code, then pattern).
func (f *failTally) top(n int) []FailureReason {
	out := make([]FailureReason, 0, len(f.byReason))
	for k, v := range f.byReason {
		k.Count = v
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b FailureReason) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Code, b.Code); c != 0 {
			return c
		}
		return cmp.Compare(a.Pattern, b.Pattern)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// metricCode makes a failure code fit to be a CloudWatch dimension value
// and a notice line: "none" when empty; letters, digits, '.', '_' and '-'
// kept, anything else replaced by '_'; at most 40 characters.
func metricCode(code string) string {
	code = strings.TrimSpace(code)
	if code == "" {
		return noCode
	}
	b := []byte(code)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}

var (
	emailRe  = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+`)
	quotedRe = regexp.MustCompile(`"[^"]*"|'[^']*'|“[^”]*”`)
	digitRe  = regexp.MustCompile(`[^\s"'()\[\]{},;:/]*[0-9][^\s"'()\[\]{},;:/]*`)
	listRe   = regexp.MustCompile(`\[(?:#|\s)*\]`)
	spaceRe  = regexp.MustCompile(`\s+`)
)

// maxPattern is the longest reason pattern kept, in characters.
const maxPattern = 160

// ReasonPattern reduces a per-record reason to what records failing for
// the same cause share: e-mail addresses become <email>, quoted values "…",
// every word (or path segment) holding a digit (ids, counts, dates, codes) "#", a list of
// those "[#]"; runs of white space become one space, and the result is cut
// to 160 characters. What it leaves is the product's own wording and the
// upstream error's words, never a value of a record.
func ReasonPattern(reason string) string {
	s := emailRe.ReplaceAllString(reason, "<email>")
	s = quotedRe.ReplaceAllString(s, `"…"`)
	s = digitRe.ReplaceAllString(s, "#")
	s = listRe.ReplaceAllString(s, "[#]")
	s = strings.TrimSpace(spaceRe.ReplaceAllString(s, " "))
	if s == "" {
		return "(no reason given)"
	}
	return truncateRunes(s, maxPattern)
}

// truncateRunes cuts s to at most n characters, marking a cut with "…".
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
