package marketotest

import (
	"regexp"
	"slices"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// reToken is the form of a program token name: {{my.Name}}.
var reToken = regexp.MustCompile(`^\{\{my\.[^{}]+\}\}$`)

// requestCampaign is Request Campaign: a trigger campaign for up to 100
// existing leads, with up to 100 tokens.
func (s *Server) requestCampaign(id int, r *request) answer {
	var b struct {
		Input struct {
			Leads []struct {
				ID int `json:"id"`
			} `json:"leads"`
			Tokens []marketo.Token `json:"tokens"`
		} `json:"input"`
	}
	if err := decodeJSON(r.body, &b); err != nil {
		return fail("609", "Invalid JSON: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, found := s.st.campaigns[id]
	switch {
	case !found:
		return fail("1013", "Campaign not found")
	case c.Type != "trigger":
		return fail("1003", "Trigger campaign '%d' is a batch campaign", id)
	case !c.Active || !c.Requestable:
		return fail("1003", "Campaign '%d' is not active or not requestable", id)
	case len(b.Input.Leads) == 0:
		return fail("1003", "input.leads is required")
	case len(b.Input.Leads) > 100:
		return fail(s.opts.capCode, "%d leads, at most 100", len(b.Input.Leads))
	case len(b.Input.Tokens) > 100:
		return fail(s.opts.capCode, "%d tokens, at most 100", len(b.Input.Tokens))
	}
	for _, t := range b.Input.Tokens {
		if !reToken.MatchString(t.Name) {
			return fail("1003", "Invalid token name '%s'", t.Name)
		}
	}
	req := CampaignRequest{CampaignID: id, Tokens: slices.Clone(b.Input.Tokens)}
	for _, l := range b.Input.Leads {
		if s.st.leads[l.ID] != nil {
			req.LeadIDs = append(req.LeadIDs, l.ID)
		}
	}
	s.st.campaignReqs = append(s.st.campaignReqs, req)
	return ok([]map[string]int{{"id": id}})
}
