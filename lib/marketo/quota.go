package marketo

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // Lambda images may lack zoneinfo; the quota day is Central Time's.
)

// QuotaZone is the clock on which Marketo's daily quota resets at midnight.
// Adobe's pages say "resets daily at 12:00AM CST" and link "Central Time" to
// the zone, which follows daylight saving time; none says which applies in
// summer (docs/marketo.md §11, item 12). The product therefore lets the
// connection choose, and the simulator offers both.
type QuotaZone string

const (
	// QuotaZoneChicago is midnight America/Chicago: 06:00 UTC in winter,
	// 05:00 UTC in summer. The default: the zone Adobe's link names.
	QuotaZoneChicago QuotaZone = "America/Chicago"
	// QuotaZoneUTCMinus6 is midnight at the fixed offset UTC-6 (Central
	// Standard Time all year): 06:00 UTC every day.
	QuotaZoneUTCMinus6 QuotaZone = "UTC-6"
	// DefaultQuotaZone is the zone used when none is configured.
	DefaultQuotaZone = QuotaZoneChicago
)

// quotaGrace is how long after the configured midnight a 607 is taken to
// mean that Marketo's day has not turned yet (the other zone's midnight is
// at most an hour later).
const quotaGrace = 2 * time.Hour

// ParseQuotaZone reads a quotaZone setting: "America/Chicago" or "UTC-6"
// ("" is the default). Anything else is an error naming both.
func ParseQuotaZone(s string) (QuotaZone, error) {
	switch z := QuotaZone(strings.TrimSpace(s)); z {
	case "":
		return DefaultQuotaZone, nil
	case QuotaZoneChicago, QuotaZoneUTCMinus6:
		return z, nil
	}
	return "", fmt.Errorf("quota zone %q: want %q (midnight Central Time, following daylight saving) or %q (midnight at the fixed offset UTC-6)",
		s, QuotaZoneChicago, QuotaZoneUTCMinus6)
}

// OrDefault returns z, or DefaultQuotaZone when z is empty.
func (z QuotaZone) OrDefault() QuotaZone {
	if z == "" {
		return DefaultQuotaZone
	}
	return z
}

// Location returns the zone's clock.
func (z QuotaZone) Location() *time.Location {
	if z.OrDefault() == QuotaZoneUTCMinus6 {
		return time.FixedZone("UTC-6", -6*60*60)
	}
	return ChicagoLocation()
}

// other is the zone of the other reading of "12:00AM CST".
func (z QuotaZone) other() QuotaZone {
	if z.OrDefault() == QuotaZoneUTCMinus6 {
		return QuotaZoneChicago
	}
	return QuotaZoneUTCMinus6
}

// Day returns the quota day of t in the zone ("2006-01-02").
func (z QuotaZone) Day(t time.Time) string { return t.In(z.Location()).Format(time.DateOnly) }

// NextReset returns the first midnight in the zone strictly after t.
func (z QuotaZone) NextReset(t time.Time) time.Time { return NextDailyReset(t, z.Location()) }

// ResumeAfter607 is when calls may resume after Marketo answered 607 at t:
// the zone's next midnight, except shortly after the zone's midnight, when a
// 607 means Marketo's day has not turned yet; then it is the other reading's
// midnight if that is still to come within quotaGrace. So a summer run that
// resumes at 00:00 CDT on an instance resetting at 00:00 CST (an hour later)
// retries at 01:00 CDT instead of losing 23 hours.
func (z QuotaZone) ResumeAfter607(t time.Time) time.Time {
	next := z.NextReset(t)
	lt := t.In(z.Location())
	midnight := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, z.Location())
	if t.Sub(midnight) >= quotaGrace {
		return next
	}
	if alt := z.other().NextReset(t); alt.After(t) && alt.Before(next) && !alt.After(midnight.Add(quotaGrace)) {
		return alt
	}
	return next
}

// ChicagoLocation returns America/Chicago, where Marketo's daily quota resets
// at midnight. If the zone cannot be loaded it falls back to fixed CST (-6h).
func ChicagoLocation() *time.Location {
	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		return time.FixedZone("CST", -6*60*60)
	}
	return loc
}

// NextDailyReset returns the first 00:00 in loc strictly after t.
func NextDailyReset(t time.Time, loc *time.Location) time.Time {
	lt := t.In(loc)
	return time.Date(lt.Year(), lt.Month(), lt.Day()+1, 0, 0, 0, 0, loc)
}
