package certain

import (
	"context"
	"net/http"
)

// GetEvent reads one event.
func (c *Client) GetEvent(ctx context.Context, acct, event string) (Event, error) {
	if err := required("GetEvent", "account", acct, "event", event); err != nil {
		return Event{}, err
	}
	body, err := c.do(ctx, call{method: http.MethodGet, resource: "Event", path: v1Base + seg("Event", acct, event)})
	if err != nil {
		return Event{}, err
	}
	m, err := decodeObject(http.MethodGet, "Event", body)
	if err != nil {
		return Event{}, err
	}
	return Event{
		Code: getString(m, "eventCode"), Name: getString(m, "eventName"),
		StartDate: ParseTime(getString(m, "startDate")), EndDate: ParseTime(getString(m, "endDate")),
		Active: getBool(m, "isActive"),
	}, nil
}
