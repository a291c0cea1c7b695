package certain

import (
	"fmt"
	"strings"
	"time"
)

// Contract is the part of a tenant's API conventions that nothing public
// settles and that is not a field name (docs/certain.md §9). Zero values
// take the defaults.
type Contract struct {
	// OrderByParam is the sort parameter's name: "orderBy" (default) or
	// "order_by"; both are seen in public code.
	OrderByParam string
	// FilterTimeFormat is the Go layout of dateModified_after and friends
	// (default "2006-01-02T15:04:05").
	FilterTimeFormat string
	// TimeZone is the tenant's zone: filters are written in it, and dates
	// Certain sends without a zone are read in it (default UTC).
	TimeZone *time.Location
	// APIBasePath is the v1 family's base path, which Certain calls
	// "API 2.0" (default "/certainExternal/service/v1").
	APIBasePath string
	// StandardBasePath is the Standard 2.0 family's base path, used for
	// sessions (default "/api/standard/2.0").
	StandardBasePath string
}

// Defaults of Contract.
const (
	DefaultOrderByParam     = "orderBy"
	DefaultAPIBasePath      = "/certainExternal/service/v1"
	DefaultStandardBasePath = "/api/standard/2.0"
)

// validate checks the settings that have a fixed vocabulary.
func (k Contract) validate() error {
	switch k.OrderByParam {
	case "", "orderBy", "order_by":
	default:
		return fmt.Errorf("certain: config: OrderByParam %q is not orderBy or order_by", k.OrderByParam)
	}
	if f := k.FilterTimeFormat; f != "" && time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC).Format(f) == f {
		return fmt.Errorf("certain: config: FilterTimeFormat %q is not a Go time layout", f)
	}
	for _, p := range []string{k.APIBasePath, k.StandardBasePath} {
		if p != "" && (!strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#")) {
			return fmt.Errorf("certain: config: base path %q must start with / and carry no query", p)
		}
	}
	return nil
}

// withDefaults fills every zero setting.
func (k Contract) withDefaults() Contract {
	if k.OrderByParam == "" {
		k.OrderByParam = DefaultOrderByParam
	}
	if k.FilterTimeFormat == "" {
		k.FilterTimeFormat = FilterTimeFormat
	}
	if k.TimeZone == nil {
		k.TimeZone = time.UTC
	}
	if k.APIBasePath == "" {
		k.APIBasePath = DefaultAPIBasePath
	}
	if k.StandardBasePath == "" {
		k.StandardBasePath = DefaultStandardBasePath
	}
	k.APIBasePath = strings.TrimRight(k.APIBasePath, "/") + "/"
	k.StandardBasePath = strings.TrimRight(k.StandardBasePath, "/") + "/"
	return k
}

// v1 is the v1 family's base path, ending in "/".
func (c *Client) v1() string { return c.cfg.Contract.APIBasePath }

// v2 is the Standard 2.0 family's base path, ending in "/".
func (c *Client) v2() string { return c.cfg.Contract.StandardBasePath }

// parseTime reads a Certain date; one without a zone is in the tenant's.
func (c *Client) parseTime(s string) time.Time { return ParseTimeIn(s, c.cfg.Contract.TimeZone) }

// filterTime writes t as a filter value: in the tenant's zone and format.
func (c *Client) filterTime(t time.Time) string {
	return t.In(c.cfg.Contract.TimeZone).Format(c.cfg.Contract.FilterTimeFormat)
}

// Contract returns the effective contract settings (defaults filled in).
func (c *Client) Contract() Contract { return c.cfg.Contract }

// rememberPageSize keeps the page size a page1 server showed for resource,
// so that a read resumed later in this process can use it.
func (c *Client) rememberPageSize(resource string, n int) { c.sizes.Store(resource, n) }

// pageSize returns the remembered page size of resource.
func (c *Client) pageSize(resource string) (int, bool) {
	v, ok := c.sizes.Load(resource)
	if !ok {
		return 0, false
	}
	return v.(int), true
}
