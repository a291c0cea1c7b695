package certain

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strings"
)

// FindProfiles searches profiles by one field ("email" or the External
// Profile ID path), oldest dateModified first. No match is an empty slice.
// A search by External Profile ID sends FieldNames.ExternalIDSearch as the
// parameter. Every profile returned must carry the value searched for: one
// that does not shows that Certain ignored or read the parameter
// differently, and trusting it would link a lead to a stranger's profile,
// so the search stops with a *ContractError naming the setting.
func (c *Client) FindProfiles(ctx context.Context, acct, field, value string) ([]Profile, error) {
	if err := required("FindProfiles", "account", acct, "search field", field, "search value", value); err != nil {
		return nil, err
	}
	param, setting := field, ""
	if field == c.cfg.Fields.ExternalID {
		param, setting = c.cfg.Fields.ExternalIDSearch, "certainFields.externalIdSearchParam (or externalIdField)"
	}
	v := url.Values{}
	v.Set(param, value)
	v.Set(c.cfg.Contract.OrderByParam, "dateModified_asc")
	c.includeQuestions(v)
	check := func(m map[string]any) error {
		got := getString(m, field)
		if got == value || (field == "email" && strings.EqualFold(got, strings.TrimSpace(value))) {
			return nil
		}
		if setting == "" {
			setting = "the search field " + field
		}
		return &ContractError{Resource: "Profile",
			What:  fmt.Sprintf("the search %s=%s returned profile %q whose %s is %q", param, value, getString(m, "pin"), field, got),
			Cause: "Certain ignores or reads this search parameter differently: check " + setting}
	}
	return collect(pages(ctx, c, pageSpec{resource: "Profile", path: c.v1() + seg("Profile", acct), query: v, key: "profiles",
		id: keyOf("pin"), check: check},
		func(_, m map[string]any) Profile { return c.decodeProfile(m) }))
}

// ProfileCollection is what the first page of a read of an account's
// profiles says of the whole collection.
type ProfileCollection struct {
	// Total is the envelope's completeCollectionSize; -1 when the
	// envelope does not carry it.
	Total int
	// Pages is how many pages ProfilePages takes to read Total profiles at
	// the page size in use (0 when Total is unknown or 0).
	Pages int
}

// CountProfiles reads the first page of the account's profiles with one
// row (start_index at the first page, max_results=1) for the envelope's
// completeCollectionSize: one call, whatever the account's size, and no
// page fetched ahead. A 404 is an empty collection (the caller has checked
// the account). The envelope is checked as every page is (its size
// against its rows).
func (c *Client) CountProfiles(ctx context.Context, acct string) (ProfileCollection, error) {
	if err := required("CountProfiles", "account", acct); err != nil {
		return ProfileCollection{}, err
	}
	r, err := c.newReader(c.profileSpec(acct))
	if err != nil {
		return ProfileCollection{}, err
	}
	r.pages++
	var env map[string]any
	if r.mode == PagingNone {
		env, err = r.fetch(ctx, 0, 0)
	} else {
		env, _, err = r.fetchFirst(ctx)
	}
	if IsNotFound(err) {
		return ProfileCollection{}, nil
	}
	if err != nil {
		return ProfileCollection{}, err
	}
	items, err := r.rows(env)
	if err != nil {
		return ProfileCollection{}, err
	}
	total, ok := envInt(env, "completeCollectionSize")
	switch {
	case !ok && r.mode == PagingNone:
		total = len(items)
	case !ok:
		return ProfileCollection{Total: -1}, nil
	case total < len(items) || total < 0:
		return ProfileCollection{}, r.contract(fmt.Sprintf("completeCollectionSize %d but the page holds %d rows", total, len(items)),
			"the envelope differs from what this product expects; run cmctl probe-certain")
	}
	pc := ProfileCollection{Total: total}
	size := r.size
	if n, known := c.pageSize("Profile"); known && n > 0 {
		size = n
	}
	switch {
	case total == 0:
	case r.mode == PagingNone:
		pc.Pages = 1
	default:
		pc.Pages = (total + size - 1) / size
	}
	return pc, nil
}

// ProfilePages streams every profile of the account, oldest dateModified
// first (the order of FindProfiles), with the checks of every paged read
// (paging.go): a read that ends before completeCollectionSize, overlapping
// pages or a shrinking collection stop it with an error, never a shorter
// result. A profile changed during the read comes back as a further row
// with its newer dateModified.
func (c *Client) ProfilePages(ctx context.Context, acct string) iter.Seq2[Page[Profile], error] {
	if err := required("ProfilePages", "account", acct); err != nil {
		return func(yield func(Page[Profile], error) bool) { yield(Page[Profile]{}, err) }
	}
	return pages(ctx, c, c.profileSpec(acct), func(_, m map[string]any) Profile { return c.decodeProfile(m) })
}

// profileSpec is the read of an account's whole profile collection.
func (c *Client) profileSpec(acct string) pageSpec {
	v := url.Values{}
	v.Set(c.cfg.Contract.OrderByParam, "dateModified_asc")
	c.includeQuestions(v)
	return pageSpec{resource: "Profile", path: c.v1() + seg("Profile", acct), query: v, key: "profiles", id: keyOf("pin")}
}

// GetProfile reads one profile by pin.
func (c *Client) GetProfile(ctx context.Context, acct, pin string) (Profile, error) {
	if err := required("GetProfile", "account", acct, "pin", pin); err != nil {
		return Profile{}, err
	}
	q := url.Values{}
	c.includeQuestions(q)
	body, err := c.do(ctx, call{method: http.MethodGet, resource: "Profile", path: c.v1() + seg("Profile", acct, pin), query: q})
	if err != nil {
		return Profile{}, err
	}
	m, err := decodeObject(http.MethodGet, "Profile", body)
	if err != nil {
		return Profile{}, err
	}
	return c.decodeProfile(m), nil
}

// CreateProfile creates a profile and returns it with its new pin. Keys of
// fields that are field paths are written nested (fieldpath.go).
func (c *Client) CreateProfile(ctx context.Context, acct string, fields map[string]any) (Profile, error) {
	if err := required("CreateProfile", "account", acct); err != nil {
		return Profile{}, err
	}
	if len(fields) == 0 {
		return Profile{}, errors.New("certain: CreateProfile: no fields given")
	}
	b, err := ExpandPaths(fields)
	if err != nil {
		return Profile{}, fmt.Errorf("certain: CreateProfile: %w", err)
	}
	body, err := c.do(ctx, call{method: http.MethodPost, resource: "Profile", path: c.v1() + seg("Profile", acct), body: b, create: true})
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
// Keys that are field paths are written nested, so a profile question's
// answer is sent as that question alone.
func (c *Client) UpdateProfile(ctx context.Context, acct, pin string, changed map[string]any) error {
	if err := required("UpdateProfile", "account", acct, "pin", pin); err != nil {
		return err
	}
	if len(changed) == 0 {
		return nil
	}
	b, err := ExpandPaths(changed)
	if err != nil {
		return fmt.Errorf("certain: UpdateProfile: %w", err)
	}
	_, err = c.do(ctx, call{method: http.MethodPost, resource: "Profile", path: c.v1() + seg("Profile", acct, pin), body: b})
	return err
}

// DeleteProfile deletes a profile (the probe's write test cleans up with it).
func (c *Client) DeleteProfile(ctx context.Context, acct, pin string) error {
	if err := required("DeleteProfile", "account", acct, "pin", pin); err != nil {
		return err
	}
	_, err := c.do(ctx, call{method: http.MethodDelete, resource: "Profile", path: c.v1() + seg("Profile", acct, pin)})
	return err
}

// decodeProfile reads a profile object with the tenant's field names.
func (c *Client) decodeProfile(m map[string]any) Profile {
	f := c.cfg.Fields
	return Profile{
		PIN: getString(m, "pin"), Email: getString(m, "email"),
		ExternalID: getString(m, f.ExternalID), Source: getString(m, f.Source),
		Fields: m, DateModified: c.parseTime(getString(m, "dateModified")),
	}
}

// includeQuestions asks for profile questions when a configured profile
// field lives in one (its path starts with profileQuestions): Certain leaves
// them out unless the include list names profile_questions.
func (c *Client) includeQuestions(q url.Values) {
	f := c.cfg.Fields
	for _, p := range []string{f.ExternalID, f.Source} {
		if strings.HasPrefix(p, "profileQuestions") {
			addInclude(q, c.cfg.IncludeParam, "profile_questions")
			return
		}
	}
}

// addInclude adds item to the comma-separated include list param.
func addInclude(q url.Values, param, item string) {
	cur := q.Get(param)
	for _, x := range strings.Split(cur, ",") {
		if x == item {
			return
		}
	}
	if cur == "" {
		q.Set(param, item)
		return
	}
	q.Set(param, cur+","+item)
}
