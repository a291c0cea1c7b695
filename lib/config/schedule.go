package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Next returns the first run time strictly after `after`, honouring the
// start/end window; false when the schedule has no further run.
//
//   - At: runs once at At.
//   - Interval: runs at Start, Start+Interval, ... when Start is set;
//     otherwise Interval after `after` (the previous run).
//   - Cron: the next minute matching the 5-field expression in Timezone
//     (UTC when empty). Minutes skipped by a DST jump do not run; a repeated
//     hour runs once.
//
// An invalid schedule has no next run; Validate reports why.
func (s Schedule) Next(after time.Time) (time.Time, bool) {
	var t time.Time
	switch {
	case s.At != nil:
		if !s.At.After(after) {
			return time.Time{}, false
		}
		t = *s.At
	case s.Interval > 0:
		iv := time.Duration(s.Interval)
		if s.Start == nil {
			t = after.Add(iv)
		} else if after.Before(*s.Start) {
			t = *s.Start
		} else {
			k := after.Sub(*s.Start)/iv + 1
			t = s.Start.Add(k * iv)
		}
	case s.Cron != "":
		c, err := parseCron(s.Cron)
		if err != nil {
			return time.Time{}, false
		}
		loc := time.UTC
		if s.Timezone != "" {
			if loc, err = time.LoadLocation(s.Timezone); err != nil {
				return time.Time{}, false
			}
		}
		from := after
		if s.Start != nil && s.Start.After(after) {
			from = s.Start.Add(-time.Nanosecond)
		}
		var ok bool
		if t, ok = c.next(from, loc); !ok {
			return time.Time{}, false
		}
	default:
		return time.Time{}, false
	}
	if s.Start != nil && t.Before(*s.Start) {
		return time.Time{}, false
	}
	if s.End != nil && t.After(*s.End) {
		return time.Time{}, false
	}
	return t, true
}

// cronSpec is a parsed 5-field cron expression as bit sets. A small parser
// is written here rather than importing one: the jobs need only the
// standard five fields, and owning the DST rule keeps it documented above.
type cronSpec struct {
	minute, hour, dom, month, dow uint64
	domStar, dowStar              bool
}

var (
	monthNames = map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
	dowNames   = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
)

func parseCron(expr string) (cronSpec, error) {
	f := strings.Fields(expr)
	if len(f) != 5 {
		return cronSpec{}, fmt.Errorf("cron %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", expr, len(f))
	}
	var c cronSpec
	var err error
	parts := []struct {
		name     string
		dst      *uint64
		lo, hi   int
		names    map[string]int
		fieldStr string
	}{
		{"minute", &c.minute, 0, 59, nil, f[0]},
		{"hour", &c.hour, 0, 23, nil, f[1]},
		{"day-of-month", &c.dom, 1, 31, nil, f[2]},
		{"month", &c.month, 1, 12, monthNames, f[3]},
		{"day-of-week", &c.dow, 0, 7, dowNames, f[4]},
	}
	for _, p := range parts {
		if *p.dst, err = parseCronField(p.fieldStr, p.lo, p.hi, p.names); err != nil {
			return cronSpec{}, fmt.Errorf("cron %q: %s: %w", expr, p.name, err)
		}
	}
	if c.dow&(1<<7) != 0 { // 7 is Sunday too
		c.dow |= 1
	}
	c.domStar = f[2] == "*" || f[2] == "?"
	c.dowStar = f[4] == "*" || f[4] == "?"
	return c, nil
}

func parseCronField(s string, lo, hi int, names map[string]int) (uint64, error) {
	var bits uint64
	num := func(v string) (int, error) {
		if n, ok := names[strings.ToLower(v)]; ok {
			return n, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("bad value %q", v)
		}
		if n < lo || n > hi {
			return 0, fmt.Errorf("value %d out of range %d-%d", n, lo, hi)
		}
		return n, nil
	}
	for _, item := range strings.Split(s, ",") {
		rng, stepStr, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("bad step %q", stepStr)
			}
			step = n
		}
		var a, b int
		switch {
		case rng == "*" || rng == "?":
			a, b = lo, hi
		case strings.Contains(rng, "-"):
			x, y, _ := strings.Cut(rng, "-")
			var err error
			if a, err = num(x); err != nil {
				return 0, err
			}
			if b, err = num(y); err != nil {
				return 0, err
			}
			if a > b {
				return 0, fmt.Errorf("range %q is backwards", rng)
			}
		default:
			n, err := num(rng)
			if err != nil {
				return 0, err
			}
			a, b = n, n
			if hasStep {
				b = hi
			}
		}
		for v := a; v <= b; v += step {
			bits |= 1 << uint(v)
		}
	}
	return bits, nil
}

func (c cronSpec) dayMatches(t time.Time) bool {
	dom := c.dom&(1<<uint(t.Day())) != 0
	dow := c.dow&(1<<uint(t.Weekday())) != 0
	switch {
	case c.domStar && c.dowStar:
		return true
	case c.domStar:
		return dow
	case c.dowStar:
		return dom
	default: // both restricted: either matches (classic cron)
		return dom || dow
	}
}

// next returns the first matching minute strictly after `after`, searching
// at most five years ahead (an expression such as "0 0 30 2 *" never runs).
func (c cronSpec) next(after time.Time, loc *time.Location) (time.Time, bool) {
	t := after.In(loc).Truncate(time.Minute).Add(time.Minute)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		prev := t
		switch {
		case c.month&(1<<uint(t.Month())) == 0:
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
		case !c.dayMatches(t):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
		case c.hour&(1<<uint(t.Hour())) == 0:
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc)
		case c.minute&(1<<uint(t.Minute())) == 0:
			t = t.Add(time.Minute)
		default:
			return t, true
		}
		if !t.After(prev) { // a DST fold mapped us backwards: step forward
			t = prev.Truncate(time.Hour).Add(time.Hour)
		}
	}
	return time.Time{}, false
}
