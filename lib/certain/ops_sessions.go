package certain

import (
	"context"
	"iter"
	"net/url"
	"strconv"
)

// SessionPages streams the event's session instances (Standard 2.0) with tags.
func (c *Client) SessionPages(ctx context.Context, acct, event string) iter.Seq2[Page[Session], error] {
	if err := required("SessionPages", "account", acct, "event", event); err != nil {
		return func(yield func(Page[Session], error) bool) { yield(Page[Session]{}, err) }
	}
	v := url.Values{}
	v.Set(c.cfg.IncludeParam, "tags")
	f := c.cfg.Fields
	return pages(ctx, c, pageSpec{resource: "Session", path: c.v2() + seg("accounts", acct, "events", event, "sessions"), query: v, key: "sessions",
		id: keyOf("instanceId"), check: c.tagsCheck("Session")},
		func(_, m map[string]any) Session {
			tags, _ := getTags(m, f.Tags, f.TagNameKey)
			return Session{InstanceID: int(num(m["instanceId"])), SessionCode: getString(m, "sessionCode"), Title: getString(m, "sessionTitle"),
				Tags: tags, Points: getNum(m, f.Points)}
		})
}

// SessionRegistrations reads all registrations of one session instance.
func (c *Client) SessionRegistrations(ctx context.Context, acct, event string, instanceID int) ([]SessionLine, error) {
	if err := required("SessionRegistrations", "account", acct, "event", event); err != nil {
		return nil, err
	}
	f := c.cfg.Fields
	return collect(pages(ctx, c, pageSpec{resource: "SessionRegistration",
		path: c.v2() + seg("accounts", acct, "events", event, "sessions", strconv.Itoa(instanceID), "registrations"), key: "registrations",
		id: keyOf("registrationCode")},
		func(env, m map[string]any) SessionLine {
			return SessionLine{InstanceID: instanceID, SessionCode: firstNonEmpty(getString(m, "sessionCode"), getString(env, "sessionCode")),
				RegistrationCode: getString(m, "registrationCode"), Status: getString(m, "registrationStatus"), Rating: getNum(m, f.SessionRating)}
		}))
}

// RegistrationSessions reads the session instances of one registration.
func (c *Client) RegistrationSessions(ctx context.Context, acct, event, regCode string) ([]SessionLine, error) {
	if err := required("RegistrationSessions", "account", acct, "event", event, "registration code", regCode); err != nil {
		return nil, err
	}
	f := c.cfg.Fields
	return collect(pages(ctx, c, pageSpec{resource: "RegistrationSession",
		path: c.v2() + seg("accounts", acct, "events", event, "registrations", regCode, "sessions"), key: "instances",
		id: keyOf("instanceId")},
		func(_, m map[string]any) SessionLine {
			return SessionLine{InstanceID: int(num(m["instanceId"])), SessionCode: getString(m, "sessionCode"),
				RegistrationCode: regCode, Status: getString(m, "registrationStatus"), Rating: getNum(m, f.SessionRating)}
		}))
}
