package certain

import (
	"context"
	"iter"
	"net/url"
)

// AgendaItemPages streams the event's active agenda items with their tags.
func (c *Client) AgendaItemPages(ctx context.Context, acct, event string) iter.Seq2[Page[AgendaItem], error] {
	if err := required("AgendaItemPages", "account", acct, "event", event); err != nil {
		return func(yield func(Page[AgendaItem], error) bool) { yield(Page[AgendaItem]{}, err) }
	}
	v := url.Values{}
	v.Set(c.cfg.IncludeParam, "tags")
	v.Set("isActive", "true")
	f := c.cfg.Fields
	return pages(ctx, c, pageSpec{resource: "AgendaItem", path: c.v1() + seg("AgendaItem", acct, event), query: v, key: "agendaItems",
		id: keyOf("activityCode"), check: c.tagsCheck("AgendaItem")},
		func(_, m map[string]any) AgendaItem {
			tags, _ := getTags(m, f.Tags, f.TagNameKey)
			return AgendaItem{Code: getString(m, "activityCode"), Name: getString(m, "name"), Active: getBool(m, "isActive"),
				Tags: tags, Points: getNum(m, f.Points)}
		})
}

// RegistrationAgendaPages streams every agenda line of the event.
func (c *Client) RegistrationAgendaPages(ctx context.Context, acct, event string, startIndex int) iter.Seq2[Page[AgendaLine], error] {
	if err := required("RegistrationAgendaPages", "account", acct, "event", event); err != nil {
		return func(yield func(Page[AgendaLine], error) bool) { yield(Page[AgendaLine]{}, err) }
	}
	return pages(ctx, c, pageSpec{resource: "RegistrationAgenda", path: c.v1() + seg("RegistrationAgenda", acct, event), key: "registrationAgendas", start: startIndex,
		id: keyOf("registrationCode", "activityCode")}, c.decodeAgendaLine)
}

// RegistrationAgenda reads the agenda lines of one registration.
func (c *Client) RegistrationAgenda(ctx context.Context, acct, event, regCode string) ([]AgendaLine, error) {
	if err := required("RegistrationAgenda", "account", acct, "event", event, "registration code", regCode); err != nil {
		return nil, err
	}
	return collect(pages(ctx, c, pageSpec{resource: "RegistrationAgenda", path: c.v1() + seg("RegistrationAgenda", acct, event, regCode), key: "registrationAgendas",
		id: keyOf("registrationCode", "activityCode")}, c.decodeAgendaLine))
}

// decodeAgendaLine reads one RegistrationAgenda row.
func (c *Client) decodeAgendaLine(_, m map[string]any) AgendaLine {
	return AgendaLine{RegistrationCode: getString(m, "registrationCode"), ActivityCode: getString(m, "activityCode"),
		Status: getString(m, "status"), Rating: getNum(m, c.cfg.Fields.AgendaRating)}
}
