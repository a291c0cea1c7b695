package dryrun

import (
	"context"
	"errors"
	"iter"
	"maps"
	"strconv"
	"strings"
	"sync"

	"github.com/certain-marketo/certain-marketo/lib/certain"
)

// CertainAPI is the Certain client a twin wraps: the calls the jobs make
// (jobs.Certain), all of which *certain.Client has.
type CertainAPI interface {
	Fields() certain.FieldNames
	GetEvent(ctx context.Context, acct, event string) (certain.Event, error)
	CheckAccount(ctx context.Context, acct string) error
	RegistrationPages(ctx context.Context, acct, event string, q certain.RegistrationQuery) iter.Seq2[certain.Page[certain.Registration], error]
	GetRegistration(ctx context.Context, acct, event, regCode string) (certain.Registration, error)
	CreateRegistration(ctx context.Context, acct, event string, r certain.NewRegistration) (certain.Registration, error)
	FindProfiles(ctx context.Context, acct, field, value string) ([]certain.Profile, error)
	CountProfiles(ctx context.Context, acct string) (certain.ProfileCollection, error)
	ProfilePages(ctx context.Context, acct string) iter.Seq2[certain.Page[certain.Profile], error]
	GetProfile(ctx context.Context, acct, pin string) (certain.Profile, error)
	CreateProfile(ctx context.Context, acct string, fields map[string]any) (certain.Profile, error)
	UpdateProfile(ctx context.Context, acct, pin string, changed map[string]any) error
	AgendaItemPages(ctx context.Context, acct, event string) iter.Seq2[certain.Page[certain.AgendaItem], error]
	RegistrationAgendaPages(ctx context.Context, acct, event string, startIndex int) iter.Seq2[certain.Page[certain.AgendaLine], error]
	SessionPages(ctx context.Context, acct, event string) iter.Seq2[certain.Page[certain.Session], error]
	SessionRegistrations(ctx context.Context, acct, event string, instanceID int) ([]certain.SessionLine, error)
	AppointmentPages(ctx context.Context, acct, event string, startIndex int) iter.Seq2[certain.Page[certain.Appointment], error]
	Stats() certain.Stats
}

// NewProfilePrefix starts the placeholder pin of a profile the plan
// created; NewRegistrationPrefix the placeholder code of a registration.
const (
	NewProfilePrefix      = "new-profile-"
	NewRegistrationPrefix = "new-registration-"
)

// NewProfileNumber returns the plan's number of a placeholder pin, and
// whether pin is one.
func NewProfileNumber(pin string) (int, bool) {
	s, ok := strings.CutPrefix(pin, NewProfilePrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// Certain is the Certain twin: reads go to the real client, writes are
// recorded and answered (a created profile or registration gets a
// placeholder pin or code), and profile reads show what the plan wrote.
// Safe for concurrent use.
type Certain struct {
	inner CertainAPI
	log   *Log

	mu       sync.Mutex
	profiles []certain.Profile         // created by the plan, by number-1
	updated  map[string]map[string]any // pin -> fields the plan set
	regs     int
}

// NewCertain returns a twin of inner recording into log.
func NewCertain(inner CertainAPI, log *Log) *Certain {
	return &Certain{inner: inner, log: log, updated: map[string]map[string]any{}}
}

// Fields is the real client's.
func (c *Certain) Fields() certain.FieldNames { return c.inner.Fields() }

// Stats are the real client's: the plan's reads.
func (c *Certain) Stats() certain.Stats { return c.inner.Stats() }

// GetEvent reads through.
func (c *Certain) GetEvent(ctx context.Context, acct, event string) (certain.Event, error) {
	return c.inner.GetEvent(ctx, acct, event)
}

// CheckAccount reads through.
func (c *Certain) CheckAccount(ctx context.Context, acct string) error {
	return c.inner.CheckAccount(ctx, acct)
}

// RegistrationPages reads through.
func (c *Certain) RegistrationPages(ctx context.Context, acct, event string, q certain.RegistrationQuery) iter.Seq2[certain.Page[certain.Registration], error] {
	return c.inner.RegistrationPages(ctx, acct, event, q)
}

// GetRegistration reads through; its profile shows what the plan wrote.
func (c *Certain) GetRegistration(ctx context.Context, acct, event, regCode string) (certain.Registration, error) {
	r, err := c.inner.GetRegistration(ctx, acct, event, regCode)
	if err == nil {
		c.mu.Lock()
		r.Profile = c.overlay(r.Profile)
		c.mu.Unlock()
	}
	return r, err
}

// AgendaItemPages reads through.
func (c *Certain) AgendaItemPages(ctx context.Context, acct, event string) iter.Seq2[certain.Page[certain.AgendaItem], error] {
	return c.inner.AgendaItemPages(ctx, acct, event)
}

// RegistrationAgendaPages reads through.
func (c *Certain) RegistrationAgendaPages(ctx context.Context, acct, event string, startIndex int) iter.Seq2[certain.Page[certain.AgendaLine], error] {
	return c.inner.RegistrationAgendaPages(ctx, acct, event, startIndex)
}

// SessionPages reads through.
func (c *Certain) SessionPages(ctx context.Context, acct, event string) iter.Seq2[certain.Page[certain.Session], error] {
	return c.inner.SessionPages(ctx, acct, event)
}

// SessionRegistrations reads through.
func (c *Certain) SessionRegistrations(ctx context.Context, acct, event string, instanceID int) ([]certain.SessionLine, error) {
	return c.inner.SessionRegistrations(ctx, acct, event, instanceID)
}

// AppointmentPages reads through.
func (c *Certain) AppointmentPages(ctx context.Context, acct, event string, startIndex int) iter.Seq2[certain.Page[certain.Appointment], error] {
	return c.inner.AppointmentPages(ctx, acct, event, startIndex)
}

// FindProfiles reads through, shows the plan's updates on what Certain
// returns, and adds the profiles the plan created whose field matches
// (e-mail case-insensitively).
func (c *Certain) FindProfiles(ctx context.Context, acct, field, value string) ([]certain.Profile, error) {
	ps, err := c.inner.FindProfiles(ctx, acct, field, value)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]certain.Profile, 0, len(ps))
	for _, p := range ps {
		out = append(out, c.overlay(p))
	}
	for _, p := range c.profiles {
		v, _ := certain.LookupPath(p.Fields, field)
		if have := scalar(v); have == value || (field == "email" && strings.EqualFold(have, value)) {
			out = append(out, c.overlay(p))
		}
	}
	return out, nil
}

// CountProfiles reads through and counts the profiles the plan created.
func (c *Certain) CountProfiles(ctx context.Context, acct string) (certain.ProfileCollection, error) {
	pc, err := c.inner.CountProfiles(ctx, acct)
	if err != nil || pc.Total < 0 {
		return pc, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// ProfilePages adds them to Certain's last page: no call more, but an
	// empty account's read is still one call.
	if n := len(c.profiles); n > 0 {
		pc.Total += n
		pc.Pages = max(pc.Pages, 1)
	}
	return pc, nil
}

// ProfilePages reads through, shows the plan's updates on what Certain
// returns, and ends with the profiles the plan created (the newest).
func (c *Certain) ProfilePages(ctx context.Context, acct string) iter.Seq2[certain.Page[certain.Profile], error] {
	return func(yield func(certain.Page[certain.Profile], error) bool) {
		for page, err := range c.inner.ProfilePages(ctx, acct) {
			if err != nil {
				yield(page, err)
				return
			}
			c.mu.Lock()
			for i, p := range page.Items {
				page.Items[i] = c.overlay(p)
			}
			last := page.Last
			var created []certain.Profile
			if last {
				for _, p := range c.profiles {
					created = append(created, c.overlay(p))
				}
			}
			c.mu.Unlock()
			page.Items = append(page.Items, created...)
			page.Total += len(created)
			page.NextIndex += len(created)
			if !yield(page, nil) || last {
				return
			}
		}
	}
}

// GetProfile reads through, or answers for a profile the plan created.
func (c *Certain) GetProfile(ctx context.Context, acct, pin string) (certain.Profile, error) {
	if n, ok := NewProfileNumber(pin); ok {
		c.mu.Lock()
		defer c.mu.Unlock()
		if n < 1 || n > len(c.profiles) {
			return certain.Profile{}, &certain.Error{Status: 404, Method: "GET", Resource: "Profile"}
		}
		return c.overlay(c.profiles[n-1]), nil
	}
	p, err := c.inner.GetProfile(ctx, acct, pin)
	if err == nil {
		c.mu.Lock()
		p = c.overlay(p)
		c.mu.Unlock()
	}
	return p, err
}

// overlay returns p with the fields the plan set on it. mu held.
func (c *Certain) overlay(p certain.Profile) certain.Profile {
	set := c.updated[p.PIN]
	if len(set) == 0 {
		return p
	}
	fields := maps.Clone(p.Fields)
	if fields == nil {
		fields = map[string]any{}
	}
	for k, v := range set {
		if err := certain.SetPath(fields, k, v); err != nil {
			fields[k] = v
		}
	}
	return c.profileOf(p.PIN, fields, p)
}

// profileOf decodes a profile's well-known fields from fields, as the
// client does, keeping base's other members.
func (c *Certain) profileOf(pin string, fields map[string]any, base certain.Profile) certain.Profile {
	f := c.inner.Fields().WithDefaults()
	get := func(name string) string {
		v, _ := certain.LookupPath(fields, name)
		return strings.TrimSpace(scalar(v))
	}
	base.PIN, base.Fields = pin, fields
	base.Email, base.ExternalID, base.Source = get("email"), get(f.ExternalID), get(f.Source)
	return base
}

// CreateProfile records the create and answers with a placeholder pin.
func (c *Certain) CreateProfile(_ context.Context, acct string, fields map[string]any) (certain.Profile, error) {
	if acct == "" || len(fields) == 0 {
		return certain.Profile{}, errors.New("certain: CreateProfile: account and fields are required")
	}
	expanded, err := certain.ExpandPaths(fields)
	if err != nil {
		return certain.Profile{}, err
	}
	c.mu.Lock()
	n := len(c.profiles) + 1
	pin := NewProfilePrefix + strconv.Itoa(n)
	p := c.profileOf(pin, expanded, certain.Profile{})
	c.profiles = append(c.profiles, p)
	c.mu.Unlock()
	c.log.add(func(w *Writes) {
		w.Profiles = append(w.Profiles, ProfileWrite{Create: true, New: n, Fields: maps.Clone(fields)})
		w.Calls.ProfileCreates++
	})
	return p, nil
}

// UpdateProfile records the update; later reads of the profile show it.
func (c *Certain) UpdateProfile(_ context.Context, acct, pin string, changed map[string]any) error {
	if acct == "" || pin == "" {
		return errors.New("certain: UpdateProfile: account and pin are required")
	}
	if len(changed) == 0 {
		return nil
	}
	c.mu.Lock()
	set := c.updated[pin]
	if set == nil {
		set = map[string]any{}
		c.updated[pin] = set
	}
	maps.Copy(set, changed)
	c.mu.Unlock()
	w := ProfileWrite{PIN: pin, Fields: maps.Clone(changed)}
	if n, ok := NewProfileNumber(pin); ok {
		w.PIN, w.New = "", n
	}
	c.log.add(func(ws *Writes) {
		ws.Profiles = append(ws.Profiles, w)
		ws.Calls.ProfileUpdates++
	})
	return nil
}

// CreateRegistration records the create and answers with a placeholder
// code.
func (c *Certain) CreateRegistration(_ context.Context, acct, event string, r certain.NewRegistration) (certain.Registration, error) {
	if acct == "" || event == "" || r.PIN == "" {
		return certain.Registration{}, errors.New("certain: CreateRegistration: account, event and pin are required")
	}
	c.mu.Lock()
	c.regs++
	code := NewRegistrationPrefix + strconv.Itoa(c.regs)
	c.mu.Unlock()
	w := RegistrationWrite{Event: event, PIN: r.PIN, Status: r.Status, AttendeeType: r.AttendeeType}
	if n, ok := NewProfileNumber(r.PIN); ok {
		w.PIN, w.NewProfile = "", n
	}
	c.log.add(func(ws *Writes) {
		ws.Registrations = append(ws.Registrations, w)
		ws.Calls.RegistrationCreates++
	})
	return certain.Registration{Code: code, EventCode: event, AccountCode: acct, Status: r.Status, AttendeeType: r.AttendeeType,
		Active: true, Profile: certain.Profile{PIN: r.PIN}}, nil
}
