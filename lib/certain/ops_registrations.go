package certain

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
)

// FilterTimeFormat is the default layout of dateModified_after and friends
// (Contract.FilterTimeFormat, written in Contract.TimeZone).
const FilterTimeFormat = "2006-01-02T15:04:05"

// RegistrationPages streams an event's registrations page by page.
func (c *Client) RegistrationPages(ctx context.Context, acct, event string, q RegistrationQuery) iter.Seq2[Page[Registration], error] {
	if err := required("RegistrationPages", "account", acct, "event", event); err != nil {
		return func(yield func(Page[Registration], error) bool) { yield(Page[Registration]{}, err) }
	}
	v := url.Values{}
	for k, val := range q.Filters {
		v.Set(k, val)
	}
	if !q.ModifiedAfter.IsZero() {
		v.Set("dateModified_after", c.filterTime(q.ModifiedAfter))
	}
	if q.ActiveOnly {
		v.Set("isActive", "true")
	}
	order := q.OrderBy
	if order == "" {
		order = "dateModified_asc"
	}
	v.Set(c.cfg.Contract.OrderByParam, order)
	c.includeQuestions(v)
	keep := c.keepOf(q.Keep)
	return pages(ctx, c, pageSpec{resource: "Registration", path: c.v1() + seg("Registration", acct, event), query: v, key: "registrations", start: q.StartIndex,
		id: keyOf("registrationCode"), keep: keep.row()},
		func(_, m map[string]any) Registration { return keep.decoded(c.decodeRegistration(m)) })
}

// registrationKeep is what a read with RegistrationQuery.Keep keeps of a
// registration: as each row is decoded, the fields Keep names and those
// decodeRegistration and decodeProfile read (row); once it is decoded,
// only those Keep names (decoded), since the decoded ones are in the struct
// and a map entry per field is most of what a registration waiting in a
// job's batch weighs. Values are shared, not copied.
type registrationKeep struct {
	rowReg, rowProfile map[string]bool
	reg, profile       map[string]bool
}

// keepOf returns the keep of k; nil keeps everything.
func (c *Client) keepOf(k *RawFields) *registrationKeep {
	if k == nil {
		return nil
	}
	f := c.cfg.Fields
	return &registrationKeep{
		rowReg: firstKeys(append([]string{"registrationCode", "eventCode", "accountCode", "attendeeTypeCode", f.RegistrationStatus,
			"isActive", f.Complete, "dateCreated", "dateModified", "profile"}, k.Registration...)),
		rowProfile: firstKeys(append([]string{"pin", "email", f.ExternalID, f.Source, "dateModified"}, k.Profile...)),
		reg:        firstKeys(k.Registration),
		profile:    firstKeys(k.Profile),
	}
}

// row is the reader's cut of a row (pageSpec.keep); nil for no keep.
func (k *registrationKeep) row() func(map[string]any) map[string]any {
	if k == nil {
		return nil
	}
	return func(m map[string]any) map[string]any {
		out := keepKeys(m, k.rowReg)
		if p, ok := out["profile"].(map[string]any); ok {
			out["profile"] = keepKeys(p, k.rowProfile)
		}
		return out
	}
}

// decoded cuts a decoded registration's raw fields down to Keep's.
func (k *registrationKeep) decoded(r Registration) Registration {
	if k == nil {
		return r
	}
	r.Fields = keepKeys(r.Fields, k.reg)
	r.Profile.Fields = keepKeys(r.Profile.Fields, k.profile)
	return r
}

// firstKeys is the set of the top keys of paths.
func firstKeys(paths []string) map[string]bool {
	set := make(map[string]bool, len(paths))
	for _, p := range paths {
		if k := TopKey(p); k != "" {
			set[k] = true
		}
	}
	return set
}

// keepKeys returns the members of m whose key is in keep, in a map of
// their size (nil when there are none: a registration waiting in a batch
// holds many of these maps, and a map sized for keys it never gets takes
// room for them).
func keepKeys(m map[string]any, keep map[string]bool) map[string]any {
	n := 0
	for key := range keep {
		if _, ok := m[key]; ok {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make(map[string]any, n)
	for key := range keep {
		if v, ok := m[key]; ok {
			out[key] = v
		}
	}
	return out
}

// GetRegistration reads one registration; a 404 satisfies IsNotFound.
func (c *Client) GetRegistration(ctx context.Context, acct, event, regCode string) (Registration, error) {
	if err := required("GetRegistration", "account", acct, "event", event, "registration code", regCode); err != nil {
		return Registration{}, err
	}
	q := url.Values{}
	c.includeQuestions(q)
	body, err := c.do(ctx, call{method: http.MethodGet, resource: "Registration", path: c.v1() + seg("Registration", acct, event, regCode), query: q})
	if err != nil {
		return Registration{}, err
	}
	m, err := decodeObject(http.MethodGet, "Registration", body)
	if err != nil {
		return Registration{}, err
	}
	return c.decodeRegistration(m), nil
}

// CreateRegistration registers an existing profile (by pin) for an event.
func (c *Client) CreateRegistration(ctx context.Context, acct, event string, r NewRegistration) (Registration, error) {
	if err := required("CreateRegistration", "account", acct, "event", event, "profile pin", r.PIN); err != nil {
		return Registration{}, err
	}
	b := map[string]any{"profile": map[string]any{"pin": r.PIN}}
	if r.AttendeeType != "" {
		b["attendeeTypeCode"] = r.AttendeeType
	}
	if r.Status != "" {
		b[c.cfg.Fields.RegistrationStatusWrite] = r.Status
	}
	b, err := ExpandPaths(b)
	if err != nil {
		return Registration{}, fmt.Errorf("certain: CreateRegistration: %w", err)
	}
	body, err := c.do(ctx, call{method: http.MethodPost, resource: "Registration", path: c.v1() + seg("Registration", acct, event), body: b, create: true})
	if err != nil {
		return Registration{}, err
	}
	m, err := decodeObject(http.MethodPost, "Registration", body)
	if err != nil {
		return Registration{}, err
	}
	reg := c.decodeRegistration(m)
	if reg.Code == "" {
		return reg, fmt.Errorf("certain: POST Registration: response carries no registrationCode")
	}
	return reg, nil
}

// UpdateRegistration sends only the given fields to the registration.
func (c *Client) UpdateRegistration(ctx context.Context, acct, event, regCode string, changed map[string]any) error {
	if err := required("UpdateRegistration", "account", acct, "event", event, "registration code", regCode); err != nil {
		return err
	}
	if len(changed) == 0 {
		return nil
	}
	b, err := ExpandPaths(changed)
	if err != nil {
		return fmt.Errorf("certain: UpdateRegistration: %w", err)
	}
	_, err = c.do(ctx, call{method: http.MethodPost, resource: "Registration", path: c.v1() + seg("Registration", acct, event, regCode), body: b})
	return err
}

// DeleteRegistration deletes a registration (the probe's write test cleans
// up with it).
func (c *Client) DeleteRegistration(ctx context.Context, acct, event, regCode string) error {
	if err := required("DeleteRegistration", "account", acct, "event", event, "registration code", regCode); err != nil {
		return err
	}
	_, err := c.do(ctx, call{method: http.MethodDelete, resource: "Registration", path: c.v1() + seg("Registration", acct, event, regCode)})
	return err
}

// decodeRegistration reads a registration object, with its embedded
// profile, with the tenant's field names.
func (c *Client) decodeRegistration(m map[string]any) Registration {
	f := c.cfg.Fields
	r := Registration{
		Code: getString(m, "registrationCode"), EventCode: getString(m, "eventCode"), AccountCode: getString(m, "accountCode"),
		AttendeeType: getString(m, "attendeeTypeCode"), Status: getString(m, f.RegistrationStatus),
		Active: getBool(m, "isActive"), Complete: getBool(m, f.Complete),
		DateCreated: c.parseTime(getString(m, "dateCreated")), DateModified: c.parseTime(getString(m, "dateModified")),
		Fields: m,
	}
	if p, ok := m["profile"].(map[string]any); ok {
		r.Profile = c.decodeProfile(p)
	}
	return r
}
