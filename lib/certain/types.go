package certain

import (
	"strings"
	"time"
)

// This file is the contract between lib/certain and its consumers. Data types
// only; *Client implements CONTRACT below.
//
// CONTRACT (methods of *Client, safe for concurrent use; acct = account code):
//
//	New(cfg Config) (*Client, error)
//	(*Client).Fields() FieldNames
//	(*Client).GetEvent(ctx, acct, event string) (Event, error)
//	(*Client).RegistrationPages(ctx, acct, event string, q RegistrationQuery) iter.Seq2[Page[Registration], error]
//	(*Client).GetRegistration(ctx, acct, event, regCode string) (Registration, error)   // 404 -> IsNotFound
//	(*Client).CreateRegistration(ctx, acct, event string, r NewRegistration) (Registration, error)
//	(*Client).UpdateRegistration(ctx, acct, event, regCode string, changed map[string]any) error
//	(*Client).FindProfiles(ctx, acct, field, value string) ([]Profile, error) // field "email" or the external id field; 404 = empty
//	(*Client).GetProfile(ctx, acct, pin string) (Profile, error)
//	(*Client).CreateProfile(ctx, acct string, fields map[string]any) (Profile, error)
//	(*Client).UpdateProfile(ctx, acct, pin string, changed map[string]any) error // sends only the given fields
//	(*Client).AgendaItemPages(ctx, acct, event string) iter.Seq2[Page[AgendaItem], error]          // includeList=tags&isActive=true
//	(*Client).RegistrationAgendaPages(ctx, acct, event string, startIndex int) iter.Seq2[Page[AgendaLine], error]
//	(*Client).SessionPages(ctx, acct, event string) iter.Seq2[Page[Session], error]               // 2.0, includeList=tags
//	(*Client).SessionRegistrations(ctx, acct, event string, instanceID int) ([]SessionLine, error) // 2.0, paged inside
//	(*Client).RegistrationSessions(ctx, acct, event, regCode string) ([]SessionLine, error)       // 2.0
//	(*Client).AppointmentPages(ctx, acct, event string, startIndex int) iter.Seq2[Page[Appointment], error]
//	(*Client).CheckAccount(ctx, acct string) error                                  // 404 for profiles and users -> ErrNoAccount
//	(*Client).DeleteRegistration(ctx, acct, event, regCode string) error             // cmctl probe-certain --write-test only
//	(*Client).DeleteProfile(ctx, acct, pin string) error                             // cmctl probe-certain --write-test only
//	(*Client).Stats() Stats
//
// Every Page carries the offset it started at and the offset of the next page,
// so a job can checkpoint and resume (q.StartIndex / startIndex).

// FieldNames are the Certain field names and values docs/certain.md leaves open
// (section 9). Zero values mean the documented defaults (see Defaults()).
//
// Names are field paths (fieldpath.go): dotted keys walk nested objects and
// selectors pick list elements, so a tenant that keeps External Profile ID
// or Source of Profile in a profile question is configured, not coded.
type FieldNames struct {
	RegistrationStatus string `json:"registrationStatusField,omitempty"`
	// RegistrationStatusWrite is where a registration create writes the
	// status, when it differs from where reads find it (default: the same).
	RegistrationStatusWrite string `json:"registrationStatusWriteField,omitempty"`
	Complete                string `json:"completeField,omitempty"`
	ExternalID              string `json:"externalIdField,omitempty"`
	// ExternalIDSearch is the query parameter a profile search by External
	// Profile ID sends (default: the externalIdField path itself).
	ExternalIDSearch   string `json:"externalIdSearchParam,omitempty"`
	Source             string `json:"sourceField,omitempty"`
	SourceValueMarketo string `json:"sourceValueMarketo,omitempty"`
	SourceValueImport  string `json:"sourceValueImport,omitempty"`
	Tags               string `json:"tagsField,omitempty"`
	// TagNameKey is the key holding a tag's name when tags are objects
	// (default "name"; "name" and "tagName" are always tried after it).
	TagNameKey           string   `json:"tagNameKey,omitempty"`
	Points               string   `json:"pointsField,omitempty"`
	AgendaRating         string   `json:"agendaRatingField,omitempty"`
	SessionRating        string   `json:"sessionRatingField,omitempty"`
	AgendaRegistered     string   `json:"agendaStatusRegistered,omitempty"`
	AgendaAttended       string   `json:"agendaStatusAttended,omitempty"`
	AgendaCancelled      string   `json:"agendaStatusCancelled,omitempty"`
	AgendaWaitlisted     string   `json:"agendaStatusWaitlisted,omitempty"`
	SessionRegistered    string   `json:"sessionStatusRegistered,omitempty"`
	SessionAttended      string   `json:"sessionStatusAttended,omitempty"`
	AppointmentSSA       []string `json:"appointmentSourceSSA,omitempty"`
	AppointmentMatched   []string `json:"appointmentSourceMatched,omitempty"`
	AppointmentAttended  []string `json:"appointmentAttended,omitempty"`
	AppointmentNotSched  []string `json:"appointmentNotScheduled,omitempty"`
	AppointmentRatingOrd []string `json:"appointmentRatingOrder,omitempty"` // [registration, targetRegistration]
}

// Defaults returns the documented default contract (docs/certain.md §9).
func Defaults() FieldNames {
	return FieldNames{
		RegistrationStatus: "registrationStatusLabel", Complete: "isConfirmed",
		ExternalID: "externalKey", Source: "sourceOfProfile",
		SourceValueMarketo: "Marketo", SourceValueImport: "Import",
		Tags: "tag", TagNameKey: "name", Points: "points", AgendaRating: "rating", SessionRating: "rating",
		AgendaRegistered: "REGISTERED", AgendaAttended: "ATTENDED", AgendaCancelled: "CANCELLED", AgendaWaitlisted: "WAITLISTED",
		SessionRegistered: "Registered", SessionAttended: "Attended",
		AppointmentSSA: []string{"SSA"}, AppointmentMatched: []string{"AME"},
		AppointmentAttended: []string{"Attended"}, AppointmentNotSched: []string{"Cancelled", "Declined"},
		AppointmentRatingOrd: []string{"registration", "targetRegistration"},
	}
}

// WithDefaults fills every empty setting of f from Defaults().
func (f FieldNames) WithDefaults() FieldNames {
	d := Defaults()
	set := func(dst *string, def string) {
		if *dst == "" {
			*dst = def
		}
	}
	setS := func(dst *[]string, def []string) {
		if len(*dst) == 0 {
			*dst = def
		}
	}
	set(&f.RegistrationStatus, d.RegistrationStatus)
	set(&f.RegistrationStatusWrite, f.RegistrationStatus)
	set(&f.Complete, d.Complete)
	set(&f.ExternalID, d.ExternalID)
	set(&f.ExternalIDSearch, f.ExternalID)
	set(&f.Source, d.Source)
	set(&f.SourceValueMarketo, d.SourceValueMarketo)
	set(&f.SourceValueImport, d.SourceValueImport)
	set(&f.Tags, d.Tags)
	set(&f.TagNameKey, d.TagNameKey)
	set(&f.Points, d.Points)
	set(&f.AgendaRating, d.AgendaRating)
	set(&f.SessionRating, d.SessionRating)
	set(&f.AgendaRegistered, d.AgendaRegistered)
	set(&f.AgendaAttended, d.AgendaAttended)
	set(&f.AgendaCancelled, d.AgendaCancelled)
	set(&f.AgendaWaitlisted, d.AgendaWaitlisted)
	set(&f.SessionRegistered, d.SessionRegistered)
	set(&f.SessionAttended, d.SessionAttended)
	setS(&f.AppointmentSSA, d.AppointmentSSA)
	setS(&f.AppointmentMatched, d.AppointmentMatched)
	setS(&f.AppointmentAttended, d.AppointmentAttended)
	setS(&f.AppointmentNotSched, d.AppointmentNotSched)
	setS(&f.AppointmentRatingOrd, d.AppointmentRatingOrd)
	return f
}

// Page is one page of a collection read.
type Page[T any] struct {
	Items      []T
	StartIndex int // offset (records) this page started at
	NextIndex  int // offset of the next page; == StartIndex+len(Items)
	Total      int // completeCollectionSize
	Last       bool
}

type RegistrationQuery struct {
	ModifiedAfter time.Time // zero: no filter
	ActiveOnly    bool      // isActive=true
	OrderBy       string    // default "dateModified_asc"
	StartIndex    int       // resume offset
	Filters       map[string]string
	// Keep, when set, names the raw fields the read keeps of each
	// registration: Fields and Profile.Fields then hold the top-level keys
	// of those paths, nothing else, and are nil when the row has none of
	// them (the fields the client decodes itself are in the struct). Each
	// row is cut down as it is decoded, so the fields nobody reads never
	// take a page's worth of memory (pagedecode.go).
	Keep *RawFields
}

// RawFields names raw fields by field path (fieldpath.go); only each
// path's first key counts.
type RawFields struct {
	Registration []string // of the registration ("attendeeTypeCode")
	Profile      []string // of its profile ("address.city")
}

type Event struct {
	Code string
	Name string
	// StartDate and EndDate are read in the event's own zone when it names
	// one (timezoneMapping, an IANA name), else in the tenant's.
	StartDate time.Time
	EndDate   time.Time
	Active    bool
	TimeZone  string // timezoneMapping, "" when absent
}

// Profile is an account-level attendee profile. Fields holds every field as
// decoded from JSON (nested objects such as address as map[string]any), so
// configurable names (field mapping, external id) are read with Get.
type Profile struct {
	PIN          string
	Email        string
	ExternalID   string // value of FieldNames.ExternalID
	Source       string // value of FieldNames.Source
	Fields       map[string]any
	DateModified time.Time
}

// Get returns a field's value as a trimmed string ("" when absent or null).
// Dotted names ("address.city") walk nested objects.
func (p Profile) Get(name string) string { return getString(p.Fields, name) }

type Registration struct {
	Code         string
	EventCode    string
	AccountCode  string
	AttendeeType string
	Status       string // value of FieldNames.RegistrationStatus
	Active       bool
	Complete     bool // value of FieldNames.Complete
	DateCreated  time.Time
	DateModified time.Time
	Profile      Profile
	Fields       map[string]any // the registration's own fields, raw
}

// Get returns a registration field as a string; "profile.x" reads the profile.
func (r Registration) Get(name string) string {
	if rest, ok := strings.CutPrefix(name, "profile."); ok {
		return r.Profile.Get(rest)
	}
	return getString(r.Fields, name)
}

type NewRegistration struct {
	PIN          string
	Status       string
	AttendeeType string
}

type AgendaItem struct {
	Code   string // activityCode
	Name   string
	Active bool
	Tags   []string
	Points float64
}

// AgendaLine is one RegistrationAgenda row.
type AgendaLine struct {
	RegistrationCode string
	ActivityCode     string
	Status           string
	Rating           float64 // 0 = not rated
}

type Session struct {
	InstanceID  int
	SessionCode string
	Title       string
	Tags        []string
	Points      float64
}

// SessionLine is one registration of a registration to a session instance.
type SessionLine struct {
	InstanceID       int
	SessionCode      string
	RegistrationCode string
	Status           string
	Rating           float64 // 0 = not rated
}

type Appointment struct {
	ID         int
	Status     string
	Source     string
	Rating     [2]float64 // in FieldNames.AppointmentRatingOrd order: [registration, target]; 0 = not rated
	RegCode    string     // registration.regCode
	TargetCode string     // targetRegistration.regCode
}

type Stats struct {
	Calls   int
	Retries int
	ByPath  map[string]int // per resource ("Registration", "Profile", ...) and verb: "GET Registration"
	ByCode  map[int]int    // HTTP statuses received

	// The adaptive limit (adaptive.go) and the budget: the limit now, the
	// calls sent and unanswered now and at most, the cuts on a 429/503 and on a
	// latency jump, the 429 and 503 answers, the time calls waited for a
	// Retry-After and for the budget, and the sum of the calls' round
	// trips (the mean calls in flight over a period is CallTime/period).
	Limit, InFlight, PeakInFlight int
	Cuts, LatencyCuts, Throttled  int
	Paused, BudgetWait, CallTime  time.Duration
}
