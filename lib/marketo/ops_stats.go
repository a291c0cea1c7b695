package marketo

import (
	"context"
	"net/http"
)

// GetUsage returns today's API usage of the instance (Get Daily Usage,
// stats/usage.json): the calls of every integration, counted by Marketo,
// against the subscription's daily quota. A day without calls may come back
// as an empty result; it reads as a zero total.
func (c *Client) GetUsage(ctx context.Context) (Usage, error) {
	k := &call{method: http.MethodGet, path: "/rest/v1/stats/usage.json", tmpl: "/rest/v1/stats/usage.json"}
	env, err := c.do(ctx, k)
	if err != nil {
		return Usage{}, err
	}
	var days []Usage
	if err := decodeResult(env, &days, k.tmpl); err != nil {
		return Usage{}, err
	}
	if len(days) == 0 {
		return Usage{}, nil
	}
	return days[0], nil
}
