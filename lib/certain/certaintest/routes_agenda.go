package certaintest

// agendaItemRoute serves AgendaItem/{account}/{event}[/{activityCode}].
func (s *Server) agendaItemRoute(e *eventData, rest []string, q map[string][]string) (any, *httpErr) {
	rend := s.tagRender(s.tagsWanted(q))
	if len(rest) == 1 {
		for _, r := range e.agendaItems {
			if r.f["activityCode"] == rest[0] {
				return rend(r), nil
			}
		}
		return nil, notFound("agenda item %s not found", rest[0])
	}
	return s.collection(q, view{key: "agendaItems", recs: e.agendaItems, render: rend})
}

// registrationAgendaRoute serves
// RegistrationAgenda/{account}/{event}[/{registrationCode}[/{activityCode}]].
func (s *Server) registrationAgendaRoute(e *eventData, rest []string, q map[string][]string) (any, *httpErr) {
	recs := e.agendaLines
	if len(rest) >= 1 {
		recs = filter(recs, "registrationCode", rest[0])
	}
	if len(rest) >= 2 {
		recs = filter(recs, "activityCode", rest[1])
	}
	return s.collection(q, view{key: "registrationAgendas", recs: recs})
}
