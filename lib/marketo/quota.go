package marketo

import (
	"time"
	_ "time/tzdata" // Lambda images may lack zoneinfo; the quota day is Chicago's.
)

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
