package demodata

import (
	"slices"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

// The account-level profile import reads a second static list: prospects
// Marketo knows and Certain does not (the data set's list for the event
// holds only a few of them), plus a few leads already linked to a profile.
const (
	ProfilesListID   = 1002
	ProfilesListName = "Newsletter subscribers"
)

// Secret ids of the connection (the in-process harness serves them from a static secret source).
const (
	MarketoSecretID = "certain-marketo/local/marketo"
	CertainSecretID = "certain-marketo/local/certain"
)

// Demo job ids.
const (
	JobImportLeads    = "hs-import-invitees"
	JobImportProfiles = "acme-import-subscribers"
	JobSyncLeads      = "hs-sync-leads"
	JobTrigger        = "hs-registered-campaign"
	JobEngagement     = "hs-engagement"
	JobInterest       = "hs-interest"
)

// Demo trigger settings: Invited -> Pre-Registered requests the event's
// "Registered" campaign.
const (
	TriggerFrom = "Invited"
	TriggerTo   = "Pre-Registered"
)

// ProfilesListLeads returns the lead ids of the profile-import list.
func ProfilesListLeads(d *Dataset) []int {
	var ids, linked []int
	for _, l := range d.Marketo.Leads {
		switch {
		case l.ID >= 900000 && !slices.Contains(d.Marketo.List.LeadIDs, l.ID):
			ids = append(ids, l.ID)
		case l.ID < 500000 && len(linked) < 3:
			linked = append(linked, l.ID)
		}
	}
	return append(ids, linked...)
}

// DemoMapping is the connection's field mapping (the "Marketo plugin"
// mapping: Certain field -> Marketo REST name).
func DemoMapping() []config.FieldMap {
	return []config.FieldMap{
		{Certain: "email", Marketo: "email"},
		{Certain: "firstName", Marketo: "firstName"},
		{Certain: "lastName", Marketo: "lastName"},
		{Certain: "organization", Marketo: "company"},
		{Certain: "position", Marketo: "title"},
		{Certain: "phone", Marketo: "phone"},
		{Certain: "address.city", Marketo: "city"},
		{Certain: "address.country", Marketo: "country"},
	}
}

// DemoConnection is the connection of the data set's account: the standard
// status vocabulary plus the data set's custom status, and the default
// Marketo budget share written out.
func DemoConnection(d *Dataset, certainURL string, fields certain.FieldNames) config.Connection {
	return config.Connection{
		Account:        d.Account,
		CertainBaseURL: certainURL,
		CertainSecret:  CertainSecretID,
		MarketoSecret:  MarketoSecretID,
		AllowHTTP:      true,
		MarketoBudget:  config.Budget{CallsPer20s: config.DefaultCallsPer20s, Concurrent: config.DefaultConcurrent, Daily: config.DefaultDaily},
		FieldMapping:   append(DemoMapping(), DemoTypedMapping()...),
		CertainFields:  fields,
		Statuses:       append(config.DefaultStatuses(), config.Status{Name: CustomStatus, Category: config.CategoryAccepted}),
	}
}

// DemoJobs are one job of each type for the data set's main event (and the
// account-level profile import), with the settings a marketing-operations
// user would pick.
func DemoJobs(d *Dataset) []config.Job {
	ev := d.Events[0]
	every := func(m time.Duration) config.Schedule { return config.Schedule{Interval: config.Duration(m)} }
	job := func(id, typ, name string, p config.Params) config.Job {
		return config.Job{ID: id, Account: d.Account, Event: ev.Code, Type: typ, Name: name, Enabled: true, Schedule: every(15 * time.Minute), Params: p}
	}
	profiles := job(JobImportProfiles, config.TypeImportProfiles, "Import newsletter subscribers as profiles",
		config.Params{ListID: ProfilesListID})
	profiles.Event = ""
	profiles.Schedule = every(24 * time.Hour)
	return []config.Job{
		job(JobImportLeads, config.TypeImportLeads, ev.Name+": import invitees",
			config.Params{ListID: d.Marketo.List.ID, RegistrationStatus: "Invited", AttendeeType: "Attendee"}),
		profiles,
		job(JobSyncLeads, config.TypeSyncLeads, ev.Name+": create or update leads",
			config.Params{Statuses: []string{"Invited", "Pre-Registered", "Attended", CustomStatus}}),
		job(JobTrigger, config.TypeTriggerCampaign, ev.Name+": registered campaign", config.Params{
			CampaignID: CampaignRegistered, FromStatus: TriggerFrom, ToStatus: TriggerTo,
			Tokens: []config.TokenSpec{
				{Name: "{{my.EventName}}", Value: ev.Name},
				{Name: "{{my.RegistrationCode}}", Field: "registration.registrationCode"},
				{Name: "{{my.Company}}", Field: "organization"},
			}}),
		job(JobEngagement, config.TypeEngagementMetrics, ev.Name+": engagement metrics", config.Params{
			CustomObject: EngagementObject,
			// The data set's object spells one metric differently.
			Fields: map[string]string{jobs.MetricAvgSessionRating: "averageSessionRating"},
			Modules: []string{config.ModuleAgenda, config.ModuleEventViews, config.ModuleMobile,
				config.ModuleSSA, config.ModuleAppointmentMatching}}),
		job(JobInterest, config.TypeInterestMetrics, ev.Name+": interest points", config.Params{
			CustomObject: InterestObject,
			Fields:       map[string]string{jobs.FieldPoints: "interestPoints"},
			Include:      []string{jobs.IncludeRegistered, jobs.IncludeAttended}}),
	}
}
