package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
)

// Defaults of the Certain settings of a connection (docs/certain.md §9).
const (
	DefaultIncludeParam     = "includeList"
	DefaultWatermarkOverlap = 2 * time.Minute
)

// CertainConfig is the Certain client configuration a connection stands
// for, with the given credentials (from the connection's secret). lib/app
// builds every Lambda's client with it, and cmctl probe-certain and the
// test harness theirs, so all read a tenant the same way.
func (c Connection) CertainConfig(username, password string) (certain.Config, error) {
	loc := time.UTC
	if c.FilterTimeZone != "" {
		var err error
		if loc, err = time.LoadLocation(c.FilterTimeZone); err != nil {
			return certain.Config{}, fmt.Errorf("connection %q: filterTimeZone: %w", c.Account, err)
		}
	}
	return certain.Config{
		BaseURL: c.CertainBaseURL, Username: username, Password: password, AllowHTTP: c.AllowHTTP,
		Fields: c.CertainFields, PagingMode: c.PagingMode, PageSize: c.PageSize, MaxInFlight: c.WithDefaults().MaxInFlight,
		IncludeParam: c.IncludeParam,
		Contract: certain.Contract{OrderByParam: c.OrderByParam, FilterTimeFormat: c.FilterTimeFormat, TimeZone: loc,
			APIBasePath: c.APIBasePath, StandardBasePath: c.StandardBasePath},
	}, nil
}

// Overlap is the detector's re-read before its watermark.
func (c Connection) Overlap() time.Duration {
	if c.WatermarkOverlap > 0 {
		return time.Duration(c.WatermarkOverlap)
	}
	return DefaultWatermarkOverlap
}

// validateCertain checks the Certain settings of a connection.
func (c Connection) validateCertain(l *errList) {
	if c.PageSize < 0 || c.PageSize > 1000 {
		l.add("pageSize", "must be between 1 and 1000 (0 = default %d), got %d", DefaultPageSize, c.PageSize)
	}
	if c.PagingMode != "" && !slices.Contains(certain.PagingModes(), c.PagingMode) {
		l.add("pagingMode", "must be one of %s, got %q (cmctl probe-certain infers it)", strings.Join(certain.PagingModes(), ", "), c.PagingMode)
	}
	cb := c.CertainBudget
	if cb.Concurrent < 0 || cb.Concurrent > MaxCertainConcurrent {
		l.add("certainBudget.concurrent", "must be between 1 and %d (0 = default %d), got %d", MaxCertainConcurrent, DefaultCertainConcurrent, cb.Concurrent)
	}
	if cb.CallsPerSecond < 0 || cb.CallsPerSecond > MaxCertainCallsPerSecond {
		l.add("certainBudget.callsPerSecond", "must be between 1 and %d (0 = default %d), got %d", MaxCertainCallsPerSecond, DefaultCertainCallsPerSecond, cb.CallsPerSecond)
	}
	if c.MaxInFlight < 0 || c.MaxInFlight > MaxCertainConcurrent {
		l.add("maxInFlight", "must be between 1 and %d (0 = certainBudget.concurrent), got %d", MaxCertainConcurrent, c.MaxInFlight)
	}
	oneOf(l, "includeParam", c.IncludeParam, "includeList", "include_list")
	oneOf(l, "orderByParam", c.OrderByParam, "orderBy", "order_by")
	if f := c.FilterTimeFormat; f != "" && time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC).Format(f) == f {
		l.add("filterTimeFormat", "%q is not a Go time layout (for example 2006-01-02T15:04:05)", f)
	}
	if z := c.FilterTimeZone; z != "" {
		if _, err := time.LoadLocation(z); err != nil {
			l.add("filterTimeZone", "unknown time zone %q (an IANA name such as Europe/London)", z)
		}
	}
	if c.WatermarkOverlap < 0 {
		l.add("watermarkOverlap", "must not be negative")
	}
	if v := time.Duration(c.LeadIDTrust); v < 0 || v > MaxLeadIDTrust {
		l.add("leadIdTrust", "must be between 0s (check every time, the default) and %s, got %s", Duration(MaxLeadIDTrust), c.LeadIDTrust)
	}
	for _, b := range [][2]string{{"apiBasePath", c.APIBasePath}, {"standardBasePath", c.StandardBasePath}} {
		if p := b[1]; p != "" && (!strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# ")) {
			l.add(b[0], "must be a path starting with / (no query), got %q", p)
		}
	}
	validateFieldPaths(l, c.CertainFields)
}

// oneOf adds an error when v is set and not one of allowed.
func oneOf(l *errList, field, v string, allowed ...string) {
	if v != "" && !slices.Contains(allowed, v) {
		l.add(field, "must be %s, got %q", strings.Join(allowed, " or "), v)
	}
}

// validateFieldPaths checks that every configured Certain field name is a
// field path (docs/certain.md §9), and that the ones written end in a key.
func validateFieldPaths(l *errList, f certain.FieldNames) {
	paths := []struct {
		name, path string
		written    bool
	}{
		{"registrationStatusField", f.RegistrationStatus, false},
		{"registrationStatusWriteField", f.RegistrationStatusWrite, true},
		{"completeField", f.Complete, false},
		{"externalIdField", f.ExternalID, true},
		{"sourceField", f.Source, true},
		{"tagsField", f.Tags, false},
		{"pointsField", f.Points, false},
		{"agendaRatingField", f.AgendaRating, false},
		{"sessionRatingField", f.SessionRating, false},
	}
	for _, p := range paths {
		if p.path == "" {
			continue
		}
		if err := certain.ParsePath(p.path); err != nil {
			l.add("certainFields."+p.name, "%v", err)
			continue
		}
		if p.written {
			if err := certain.SetPath(map[string]any{}, p.path, ""); err != nil {
				l.add("certainFields."+p.name, "%v", err)
			}
		}
	}
}
