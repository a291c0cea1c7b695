package certain

import (
	"context"
	"iter"
)

// AppointmentPages streams the event's appointments. Appointment.Rating is
// normalised to [given by registration, given by targetRegistration] whatever
// FieldNames.AppointmentRatingOrd says about the wire order.
func (c *Client) AppointmentPages(ctx context.Context, acct, event string, startIndex int) iter.Seq2[Page[Appointment], error] {
	if err := required("AppointmentPages", "account", acct, "event", event); err != nil {
		return func(yield func(Page[Appointment], error) bool) { yield(Page[Appointment]{}, err) }
	}
	swap := len(c.cfg.Fields.AppointmentRatingOrd) > 0 && c.cfg.Fields.AppointmentRatingOrd[0] == "targetRegistration"
	return pages(ctx, c, pageSpec{resource: "Appointments", path: c.v1() + seg("Appointments", acct, event), key: "appointments", start: startIndex,
		id: keyOf("appointmentId")},
		func(_, m map[string]any) Appointment {
			a := Appointment{ID: int(num(m["appointmentId"])), Status: getString(m, "status"), Source: getString(m, "appointmentSource"),
				RegCode: getString(m, "registration.regCode"), TargetCode: getString(m, "targetRegistration.regCode")}
			if r, ok := m["appointmentRating"].([]any); ok {
				for i := 0; i < len(r) && i < 2; i++ {
					a.Rating[i] = num(r[i])
				}
			}
			if swap {
				a.Rating[0], a.Rating[1] = a.Rating[1], a.Rating[0]
			}
			return a
		})
}
