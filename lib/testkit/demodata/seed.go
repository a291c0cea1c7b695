package demodata

import (
	"fmt"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
)

// SeedCertain loads the Certain side into the simulator. Field names come
// from Options.Fields, which should match the simulator's WithFieldNames.
// It returns the simulator's seeding error, if any (a nil-t simulator
// collects them; a test simulator fails the test instead).
func (d *Dataset) SeedCertain(s *certaintest.Server) error {
	f := d.Options.Fields
	acct := d.Account
	for _, e := range d.Events {
		s.AddEvent(acct, map[string]any{"eventCode": e.Code, "eventName": e.Name,
			"startDate": e.Start.Format(certain.FilterTimeFormat), "endDate": e.End.Format(certain.FilterTimeFormat), "isActive": true})
	}
	for _, p := range d.Profiles {
		m := map[string]any{"pin": p.PIN, "email": p.Email, "firstName": p.FirstName, "lastName": p.LastName,
			"organization": p.Organization, "position": p.Position, "phone": p.Phone,
			"address":    map[string]any{"city": p.City, "country": p.Country},
			f.ExternalID: p.ExternalKey, f.Source: p.Source, "dateModified": p.Modified, "dateCreated": p.Modified}
		for k, v := range p.Answers.fields() {
			m[k] = v
		}
		s.AddProfile(acct, m)
	}
	for _, r := range d.Registrations {
		s.AddRegistration(acct, r.Event, r.PIN, map[string]any{"registrationCode": r.Code, "attendeeTypeCode": r.AttendeeType,
			f.RegistrationStatus: r.Status, "isActive": r.Active, f.Complete: r.Complete, "isAccepted": accepted(r.Status),
			"dateCreated": r.Created, "dateModified": r.Modified})
	}
	for _, a := range d.AgendaItems {
		m := map[string]any{"activityCode": a.Code, "name": a.Name, "isActive": true, f.Tags: a.Tags}
		if a.Points >= 0 {
			m[f.Points] = a.Points
		}
		s.AddAgendaItem(acct, a.Event, m)
	}
	for _, l := range d.AgendaLines {
		m := map[string]any{"registrationCode": l.RegCode, "activityCode": l.ActivityCode, "status": l.Status, f.AgendaRating: nil}
		if l.Rating > 0 {
			m[f.AgendaRating] = l.Rating
		}
		s.AddAgendaLine(acct, l.Event, m)
	}
	for _, x := range d.Sessions {
		s.AddSession(acct, x.Event, map[string]any{"instanceId": x.InstanceID, "sessionCode": x.Code, "sessionTitle": x.Title,
			f.Tags: x.Tags, f.Points: x.Points})
	}
	for _, l := range d.SessionLines {
		m := map[string]any{"registrationCode": l.RegCode, "registrationStatus": l.Status, f.SessionRating: nil}
		if l.Rating > 0 {
			m[f.SessionRating] = l.Rating
		}
		s.AddSessionLine(acct, l.Event, l.InstanceID, m)
	}
	regFirst := f.AppointmentRatingOrd[0] != "targetRegistration"
	for _, a := range d.Appointments {
		rating := []int{a.Rating[0], a.Rating[1]}
		if !regFirst {
			rating = []int{a.Rating[1], a.Rating[0]}
		}
		s.AddAppointment(acct, a.Event, map[string]any{"appointmentId": a.ID, "status": a.Status, "appointmentSource": a.Source,
			"appointmentType": "Meeting", "appointmentRating": rating,
			"registration":       map[string]any{"regCode": a.RegCode, "name": a.RegName},
			"targetRegistration": map[string]any{"regCode": a.Target, "name": a.TName}})
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("demodata: seed Certain: %w", err)
	}
	return nil
}
