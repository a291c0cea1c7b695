package certain

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// GetEvent reads one event; a 404 satisfies IsNotFound (an unknown event or
// account: Certain answers the same).
func (c *Client) GetEvent(ctx context.Context, acct, event string) (Event, error) {
	if err := required("GetEvent", "account", acct, "event", event); err != nil {
		return Event{}, err
	}
	body, err := c.do(ctx, call{method: http.MethodGet, resource: "Event", path: c.v1() + seg("Event", acct, event)})
	if err != nil {
		return Event{}, err
	}
	m, err := decodeObject(http.MethodGet, "Event", body)
	if err != nil {
		return Event{}, err
	}
	ev := Event{Code: getString(m, "eventCode"), Name: getString(m, "eventName"), Active: getBool(m, "isActive"), TimeZone: getString(m, "timezoneMapping")}
	loc := c.cfg.Contract.TimeZone
	if z, err := time.LoadLocation(ev.TimeZone); err == nil && ev.TimeZone != "" {
		loc = z
	}
	ev.StartDate, ev.EndDate = ParseTimeIn(getString(m, "startDate"), loc), ParseTimeIn(getString(m, "endDate"), loc)
	if ev.Code == "" {
		return ev, fmt.Errorf("certain: GET Event %s/%s: the answer carries no eventCode", acct, event)
	}
	return ev, nil
}

// ErrNoAccount is matched by CheckAccount's error for an account Certain
// does not know.
var ErrNoAccount = errors.New("certain: account not found")

// CheckAccount tells an account that exists from a mistyped one before an
// account-level job trusts an empty search. Certain answers 404 both for an
// empty search and for an unknown account, so it reads one profile of the
// account and, when that is a 404 (no profile yet, or no such account), one
// user: every account has the user the API signs in as. A 404 for both is
// ErrNoAccount; an account without a profile is not an error.
func (c *Client) CheckAccount(ctx context.Context, acct string) error {
	if err := required("CheckAccount", "account", acct); err != nil {
		return err
	}
	q := url.Values{}
	if c.cfg.PagingMode != PagingNone {
		first := 0
		if c.cfg.PagingMode != PagingOffset0 {
			first = 1
		}
		q.Set("start_index", fmt.Sprint(first))
		q.Set("max_results", "1")
	}
	_, err := c.do(ctx, call{method: http.MethodGet, resource: "Profile", path: c.v1() + seg("Profile", acct), query: q})
	if !IsNotFound(err) {
		return err
	}
	_, err = c.do(ctx, call{method: http.MethodGet, resource: "User", path: c.v1() + seg("User", acct), query: q})
	if IsNotFound(err) {
		return fmt.Errorf("%w: Certain answered 404 for the profiles and for the users of account %q", ErrNoAccount, acct)
	}
	if err != nil {
		return fmt.Errorf("account %q has no profile; reading its users to tell it from an unknown account: %w", acct, err)
	}
	return nil
}
