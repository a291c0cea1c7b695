package marketo

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// tokenName is the form of a program token name: {{my.Name}}.
var tokenName = regexp.MustCompile(`^\{\{my\.[^{}]+\}\}$`)

// RequestCampaign asks Marketo to run a requestable trigger campaign for
// leadIDs, 100 per call; tokens apply to every lead. It returns the number of
// accepted calls (Marketo gives no per-lead outcome).
func (c *Client) RequestCampaign(ctx context.Context, campaignID int, leadIDs []int, tokens []Token) (int, error) {
	if err := CheckCampaignRequest(campaignID, leadIDs, tokens); err != nil {
		return 0, err
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

// GetCampaigns returns the smart campaigns with the given ids (all of them
// when ids is empty), following pages. With triggerable, Marketo returns only
// active trigger campaigns whose trigger is "Campaign is Requested" with
// source "Web Service API": those Request Campaign accepts.
func (c *Client) GetCampaigns(ctx context.Context, ids []int, triggerable bool) ([]Campaign, error) {
	q := url.Values{"batchSize": {strconv.Itoa(MaxBatch)}}
	if len(ids) > MaxBatch {
		return nil, fmt.Errorf("marketo: GetCampaigns: %d ids, at most %d", len(ids), MaxBatch)
	}
	if len(ids) > 0 {
		s := make([]string, len(ids))
		for i, id := range ids {
			s[i] = strconv.Itoa(id)
		}
		q.Set("id", strings.Join(s, ","))
	}
	if triggerable {
		q.Set("isTriggerable", "true")
	}
	var out []Campaign
	for page := 1; ; page++ {
		k := &call{method: http.MethodGet, path: "/rest/v1/campaigns.json", tmpl: "/rest/v1/campaigns.json", query: q}
		env, err := c.do(ctx, k)
		if err != nil {
			return nil, err
		}
		var rows []Campaign
		if err := decodeResult(env, &rows, k.tmpl); err != nil {
			return nil, err
		}
		out = append(out, rows...)
		more, err := nextPage(k.tmpl, q, env.NextPageToken, len(rows), page)
		if err != nil || !more {
			return out, err
		}
	}
}

// CheckCampaignRequest is what RequestCampaign refuses before sending
// anything: a campaign id or lead id that is not positive, more than
// MaxCampaignTokens tokens, a token name not of the form {{my.Name}}. A dry
// run's twin applies the same checks.
func CheckCampaignRequest(campaignID int, leadIDs []int, tokens []Token) error {
	if campaignID <= 0 {
		return fmt.Errorf("marketo: RequestCampaign: invalid campaign id %d", campaignID)
	}
	if len(tokens) > MaxCampaignTokens {
		return fmt.Errorf("marketo: RequestCampaign: %d tokens, at most %d", len(tokens), MaxCampaignTokens)
	}
	for _, t := range tokens {
		if !tokenName.MatchString(t.Name) {
			return fmt.Errorf("marketo: RequestCampaign: token name %q is not of the form {{my.Name}}", t.Name)
		}
	}
	for i, id := range leadIDs {
		if id <= 0 {
			return fmt.Errorf("marketo: RequestCampaign: lead id %d at index %d is invalid", id, i)
		}
	}
	return nil
}
