package certaintest

// eventRoute serves Event/{account} (the events) and Event/{account}/{event}.
func (s *Server) eventRoute(a *account, rest []string, q map[string][]string) (any, *httpErr) {
	if len(rest) == 0 {
		recs := make([]*rec, 0, len(a.eventIDs))
		for _, c := range a.eventIDs {
			recs = append(recs, a.events[c].ev)
		}
		return s.collection(q, view{key: "events", recs: recs})
	}
	e := a.events[rest[0]]
	if e == nil {
		return nil, notFound("event %s not found", rest[0])
	}
	return render(e.ev), nil
}
