package demodata

import (
	"fmt"
	"strconv"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// Typed fields. The Marketo instance has custom lead fields of five types
// (a boolean, a date, a datetime, an integer and a float), and the Certain
// profiles answer matching questions in the forms Certain gives them (yes/no
// words, dates, "2026-03-01 09:30:00" date-times, digits): the jobs convert
// each to its Marketo type. About one profile in a hundred answers the
// yes/no question with something that is not a boolean, so sync-leads shows
// a per-record failure naming the field and its type.

// Answers are a profile's typed questions, as Certain gives them ("" =
// unanswered). They are derived from the profile's index, not drawn from
// the generator, so adding them left every other value of a seed as it was.
type Answers struct {
	AttendedBefore  string // "Yes", "No", "true", ...; occasionally "not sure"
	MemberSince     string // YYYY-MM-DD
	LastWebinarAt   string // YYYY-MM-DD hh:mm:ss, UTC
	SessionsPlanned string // a whole number
	EngagementIndex string // a number with two decimals
}

// UnfitAnswer is the answer to the yes/no question that no boolean fits.
const UnfitAnswer = "not sure"

func answersFor(i int, modified time.Time) Answers {
	var a Answers
	a.AttendedBefore = []string{"Yes", "No", "", "yes", "NO", "true"}[i%6]
	if i%97 == 13 {
		a.AttendedBefore = UnfitAnswer
	}
	if i%4 != 0 {
		a.MemberSince = modified.AddDate(0, 0, -(i%700)-30).Format(time.DateOnly)
	}
	if i%3 == 0 {
		a.LastWebinarAt = modified.Add(-time.Duration(i%72) * time.Hour).UTC().Format(time.DateTime)
	}
	if i%2 == 0 {
		a.SessionsPlanned = strconv.Itoa(i % 7)
	}
	if i%5 != 0 {
		a.EngagementIndex = fmt.Sprintf("%.2f", float64(i%100)/100)
	}
	return a
}

// fields returns the answered questions as Certain profile fields.
func (a Answers) fields() map[string]any {
	m := map[string]any{}
	for k, v := range map[string]string{"attendedBefore": a.AttendedBefore, "memberSince": a.MemberSince, "lastWebinarAt": a.LastWebinarAt,
		"sessionsPlanned": a.SessionsPlanned, "engagementIndex": a.EngagementIndex} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// TypedLeadFields are the instance's typed custom lead fields.
func TypedLeadFields() []marketo.LeadField {
	return []marketo.LeadField{
		{Name: "attendedBefore", DataType: "boolean"},
		{Name: "memberSince", DataType: "date"},
		{Name: "lastWebinarAt", DataType: "datetime"},
		{Name: "sessionsPlanned", DataType: "integer"},
		{Name: "engagementIndex", DataType: "float"},
	}
}

// DemoTypedMapping maps the profile questions to the typed lead fields.
func DemoTypedMapping() []config.FieldMap {
	return []config.FieldMap{
		{Certain: "attendedBefore", Marketo: "attendedBefore"},
		{Certain: "memberSince", Marketo: "memberSince"},
		{Certain: "lastWebinarAt", Marketo: "lastWebinarAt"},
		{Certain: "sessionsPlanned", Marketo: "sessionsPlanned"},
		{Certain: "engagementIndex", Marketo: "engagementIndex"},
	}
}

// typedLead adds typed values, as Marketo stores them, to the leads Certain
// does not know yet (the prospects the imports bring in).
func typedLead(l marketo.Lead, id int) {
	if id < 900000 {
		return
	}
	l["attendedBefore"] = id%2 == 0
	l["sessionsPlanned"] = id % 5
	l["memberSince"] = time.Date(2024, 1, 1+id%300, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
}
