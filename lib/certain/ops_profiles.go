package certain

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// FindProfiles searches profiles by one field ("email" or the external id
// field), oldest dateModified first. No match is an empty slice.
func (c *Client) FindProfiles(ctx context.Context, acct, field, value string) ([]Profile, error) {
	if err := required("FindProfiles", "account", acct, "search field", field, "search value", value); err != nil {
		return nil, err
	}
	v := url.Values{}
	v.Set(field, value)
	v.Set("orderBy", "dateModified_asc")
	return collect(pages(ctx, c, pageSpec{resource: "Profile", path: v1Base + seg("Profile", acct), query: v, key: "profiles"},
		func(_, m map[string]any) Profile { return c.decodeProfile(m) }))
}

// GetProfile reads one profile by pin.
func (c *Client) GetProfile(ctx context.Context, acct, pin string) (Profile, error) {
	if err := required("GetProfile", "account", acct, "pin", pin); err != nil {
		return Profile{}, err
	}
	body, err := c.do(ctx, call{method: http.MethodGet, resource: "Profile", path: v1Base + seg("Profile", acct, pin)})
	if err != nil {
		return Profile{}, err
	}
	m, err := decodeObject(http.MethodGet, "Profile", body)
	if err != nil {
		return Profile{}, err
	}
	return c.decodeProfile(m), nil
}

// CreateProfile creates a profile and returns it with its new pin.
func (c *Client) CreateProfile(ctx context.Context, acct string, fields map[string]any) (Profile, error) {
	if err := required("CreateProfile", "account", acct); err != nil {
		return Profile{}, err
	}
	if len(fields) == 0 {
		return Profile{}, errors.New("certain: CreateProfile: no fields given")
	}
	body, err := c.do(ctx, call{method: http.MethodPost, resource: "Profile", path: v1Base + seg("Profile", acct), body: fields, create: true})
	if err != nil {
		return Profile{}, err
	}
	m, err := decodeObject(http.MethodPost, "Profile", body)
	if err != nil {
		return Profile{}, err
	}
	p := c.decodeProfile(m)
	if p.PIN == "" {
		return p, errors.New("certain: POST Profile: response carries no pin")
	}
	return p, nil
}

// UpdateProfile sends only the given fields; other fields stay unchanged.
func (c *Client) UpdateProfile(ctx context.Context, acct, pin string, changed map[string]any) error {
	if err := required("UpdateProfile", "account", acct, "pin", pin); err != nil {
		return err
	}
	if len(changed) == 0 {
		return nil
	}
	_, err := c.do(ctx, call{method: http.MethodPost, resource: "Profile", path: v1Base + seg("Profile", acct, pin), body: changed})
	return err
}

// decodeProfile reads a profile object with the tenant's field names.
func (c *Client) decodeProfile(m map[string]any) Profile {
	f := c.cfg.Fields
	return Profile{
		PIN: getString(m, "pin"), Email: getString(m, "email"),
		ExternalID: getString(m, f.ExternalID), Source: getString(m, f.Source),
		Fields: m, DateModified: ParseTime(getString(m, "dateModified")),
	}
}
