package certaintest

import (
	"errors"
	"fmt"
)

// Err returns the seeding errors collected when the server has no testing.TB.
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.seedErrs...)
}

// seedFail reports a seeding error to the test, or keeps it for Err.
func (s *Server) seedFail(format string, args ...any) {
	err := fmt.Errorf("certaintest: "+format, args...)
	if s.t != nil {
		s.t.Helper()
		s.t.Error(err)
		return
	}
	s.seedErrs = append(s.seedErrs, err)
}

// AddAccount makes an account exist (seeding anything into it does too);
// requests for an unknown account get 404.
func (s *Server) AddAccount(acct string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acct(acct)
}

// AddEvent adds or replaces an event. fields must carry eventCode; eventName,
// startDate, endDate, isActive are the fields the jobs read.
func (s *Server) AddEvent(acct string, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	code, _ := fields["eventCode"].(string)
	if acct == "" || code == "" {
		s.seedFail("AddEvent: account and eventCode are required")
		return
	}
	e := s.event(acct, code)
	r := s.newRec(fields)
	r.f["accountCode"] = acct
	if _, ok := r.f["isActive"]; !ok {
		r.f["isActive"] = true
	}
	e.ev = r
}

// AddProfile adds an account-level profile and returns its pin (taken from
// fields["pin"] or generated as "P-nnnnnn").
func (s *Server) AddProfile(acct string, fields map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if acct == "" {
		s.seedFail("AddProfile: account is required")
		return ""
	}
	return s.addProfile(acct, s.newRec(fields))
}

// AddRegistration registers profile pin for an event and returns the
// registration code (fields["registrationCode"] or generated "R-nnnnnn").
// isActive defaults to true; the status lives in the tenant's status field.
func (s *Server) AddRegistration(acct, event, pin string, fields map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if acct == "" || event == "" {
		s.seedFail("AddRegistration: account and event are required")
		return ""
	}
	if _, ok := s.acct(acct).profiles[pin]; !ok {
		s.seedFail("AddRegistration: profile %q does not exist in account %q", pin, acct)
		return ""
	}
	return s.addRegistration(acct, event, pin, s.newRec(fields))
}

// AddAgendaItem adds an agenda item; fields must carry activityCode. Tags go
// in the tenant's tags field ([]string), points in its points field.
func (s *Server) AddAgendaItem(acct, event string, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code, _ := fields["activityCode"].(string); acct == "" || event == "" || code == "" {
		s.seedFail("AddAgendaItem: account, event and activityCode are required")
		return
	}
	r := s.newRec(fields)
	if _, ok := r.f["isActive"]; !ok {
		r.f["isActive"] = true
	}
	e := s.event(acct, event)
	e.agendaItems = append(e.agendaItems, r)
}

// AddAgendaLine adds a RegistrationAgenda row; fields must carry
// registrationCode and activityCode, and usually status and rating.
func (s *Server) AddAgendaLine(acct, event string, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rc, _ := fields["registrationCode"].(string)
	ac, _ := fields["activityCode"].(string)
	if acct == "" || event == "" || rc == "" || ac == "" {
		s.seedFail("AddAgendaLine: account, event, registrationCode and activityCode are required")
		return
	}
	r := s.newRec(fields)
	r.f["eventCode"] = event
	e := s.event(acct, event)
	e.agendaLines = append(e.agendaLines, r)
}

// AddSession adds a session instance and returns its instanceId (from fields
// or generated). Useful fields: sessionCode, sessionTitle, tags, points.
func (s *Server) AddSession(acct, event string, fields map[string]any) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if acct == "" || event == "" {
		s.seedFail("AddSession: account and event are required")
		return 0
	}
	r := s.newRec(fields)
	id := s.numericID(r, "instanceId", 5000)
	e := s.event(acct, event)
	e.sessions = append(e.sessions, r)
	return id
}

// AddSessionLine registers a registration to a session instance; fields carry
// registrationCode, registrationStatus ("Registered"/"Attended") and the
// tenant's session rating field.
func (s *Server) AddSessionLine(acct, event string, instanceID int, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.event(acct, event)
	var sess *rec
	for _, x := range e.sessions {
		if int(toFloat(x.f["instanceId"])) == instanceID {
			sess = x
		}
	}
	rc, _ := fields["registrationCode"].(string)
	if sess == nil || rc == "" {
		s.seedFail("AddSessionLine: session %d of %s/%s does not exist or registrationCode is missing", instanceID, acct, event)
		return
	}
	r := s.newRec(fields)
	r.f["instanceId"] = float64(instanceID)
	r.f["sessionCode"] = sess.f["sessionCode"]
	e.sessionLines = append(e.sessionLines, r)
}

// AddAppointment adds an appointment and returns its appointmentId (from
// fields or generated). Fields: status, appointmentSource, appointmentRating
// ([]int or []float64), registration and targetRegistration
// ({"regCode":…,"name":…}).
func (s *Server) AddAppointment(acct, event string, fields map[string]any) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if acct == "" || event == "" {
		s.seedFail("AddAppointment: account and event are required")
		return 0
	}
	r := s.newRec(fields)
	id := s.numericID(r, "appointmentId", 80000)
	r.f["eventCode"] = event
	e := s.event(acct, event)
	e.appointments = append(e.appointments, r)
	return id
}

// SetRegistrationStatus changes a registration's status and bumps its
// dateModified, as a status change in the Certain UI would.
func (s *Server) SetRegistrationStatus(acct, event, regCode, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[acct]
	var r *rec
	if a != nil && a.events[event] != nil {
		r = a.events[event].regs[regCode]
	}
	if r == nil {
		s.seedFail("SetRegistrationStatus: registration %s/%s/%s does not exist", acct, event, regCode)
		return
	}
	r.f[s.fields.RegistrationStatus] = status
	r.modified = s.stamp()
	s.gen++
}

// Profiles returns the account's profiles as the API renders them, in
// creation order.
func (s *Server) Profiles(acct string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[acct]
	if a == nil {
		return nil
	}
	out := make([]map[string]any, 0, len(a.profileList))
	for _, r := range a.profileList {
		out = append(out, render(r))
	}
	return out
}

// Registrations returns an event's registrations (with embedded profiles) in
// creation order.
func (s *Server) Registrations(acct, event string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[acct]
	if a == nil || a.events[event] == nil {
		return nil
	}
	e := a.events[event]
	out := make([]map[string]any, 0, len(e.regList))
	for _, r := range e.regList {
		out = append(out, s.renderReg(a, r))
	}
	return out
}
