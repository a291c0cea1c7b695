package limit

import "time"

// DailyUsage is a budget's count of the current quota day's Marketo calls
// (the day Marketo's quota counts: midnight of Config.QuotaZone), for the
// operators' metrics.
type DailyUsage struct {
	Day   string // the quota day, YYYY-MM-DD
	Calls int    // calls counted on Day: granted, less those given back unused
	Limit int    // the daily share (Config.Daily); 0: the budget has none of its own
	// Known is false while a Shared budget has not read its item yet: the
	// count is then unknown, not zero.
	Known bool
}

// Percent is Calls as a share of Limit, in percent; 0 without a Limit.
func (u DailyUsage) Percent() float64 {
	if u.Limit <= 0 {
		return 0
	}
	return float64(u.Calls) * 100 / float64(u.Limit)
}

// DailyUsage returns the day's count as of the budget's last read or write
// of its item, which every grant and Close makes: the calls of every Lambda
// of the instance, not only this one's. It makes no request.
func (d *Shared) DailyUsage(now time.Time) DailyUsage {
	d.mu.Lock()
	defer d.mu.Unlock()
	u := DailyUsage{Day: now.In(d.loc).Format(time.DateOnly), Limit: d.cfg.Daily, Known: d.haveCur}
	if d.haveCur && d.cur.Day == u.Day {
		u.Calls = d.cur.DayCount
	}
	return u
}

// DailyUsage returns the day's count of this process's calls. An InProcess
// budget counts them only when it has a daily limit: without one, Known is
// false.
func (b *InProcess) DailyUsage(now time.Time) DailyUsage {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := DailyUsage{Day: now.In(b.loc).Format(time.DateOnly), Limit: b.cfg.Daily, Known: b.cfg.Daily > 0}
	if b.day == u.Day {
		u.Calls = b.dayCount
	}
	return u
}
