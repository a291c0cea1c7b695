package marketo

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
)

// tokenName is the form of a program token name: {{my.Name}}.
var tokenName = regexp.MustCompile(`^\{\{my\.[^{}]+\}\}$`)

// RequestCampaign asks Marketo to run a requestable trigger campaign for
// leadIDs, 100 per call; tokens apply to every lead. It returns the number of
// accepted calls (Marketo gives no per-lead outcome).
func (c *Client) RequestCampaign(ctx context.Context, campaignID int, leadIDs []int, tokens []Token) (int, error) {
	if campaignID <= 0 {
		return 0, fmt.Errorf("marketo: RequestCampaign: invalid campaign id %d", campaignID)
	}
	if len(tokens) > MaxCampaignTokens {
		return 0, fmt.Errorf("marketo: RequestCampaign: %d tokens, at most %d", len(tokens), MaxCampaignTokens)
	}
	for _, t := range tokens {
		if !tokenName.MatchString(t.Name) {
			return 0, fmt.Errorf("marketo: RequestCampaign: token name %q is not of the form {{my.Name}}", t.Name)
		}
	}
	for i, id := range leadIDs {
		if id <= 0 {
			return 0, fmt.Errorf("marketo: RequestCampaign: lead id %d at index %d is invalid", id, i)
		}
	}
	type leadRef struct {
		ID int `json:"id"`
	}
	type input struct {
		Leads  []leadRef `json:"leads"`
		Tokens []Token   `json:"tokens,omitempty"`
	}
	calls := 0
	for _, chunk := range chunks(leadIDs, MaxCampaignLeads) {
		refs := make([]leadRef, len(chunk))
		for i, id := range chunk {
			refs[i] = leadRef{id}
		}
		k := &call{method: http.MethodPost, path: fmt.Sprintf("/rest/v1/campaigns/%d/trigger.json", campaignID), tmpl: "/rest/v1/campaigns/{id}/trigger.json",
			body: struct {
				Input input `json:"input"`
			}{input{refs, tokens}}}
		if _, err := c.do(ctx, k); err != nil {
			return calls, err
		}
		calls++
	}
	return calls, nil
}
