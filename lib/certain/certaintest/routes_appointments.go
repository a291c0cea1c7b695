package certaintest

// appointmentsRoute serves Appointments/{account}/{event}.
func (s *Server) appointmentsRoute(e *eventData, q map[string][]string) (any, *httpErr) {
	return s.collection(q, view{key: "appointments", recs: e.appointments})
}
