package reliability

import (
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/demodata"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

// The status change the world's trigger job fires on.
const (
	TriggerFrom = "Invited"
	TriggerTo   = "Pre-Registered"
)

// Secret ids named by the world's connection (values never leave the
// secret source in a deployment; here the clients get them directly).
const (
	MarketoSecretID = "certain-marketo/rel/marketo"
	CertainSecretID = "certain-marketo/rel/certain"
)

// DemoConnection is the connection of the data set's account.
func DemoConnection(d *demodata.Dataset, certainURL string, fields certain.FieldNames, b config.Budget) config.Connection {
	return config.Connection{
		Account: d.Account, CertainBaseURL: certainURL, CertainSecret: CertainSecretID, MarketoSecret: MarketoSecretID,
		AllowHTTP: true, MarketoBudget: b, CertainFields: fields,
		FieldMapping: []config.FieldMap{
			{Certain: "email", Marketo: "email"}, {Certain: "firstName", Marketo: "firstName"},
			{Certain: "lastName", Marketo: "lastName"}, {Certain: "organization", Marketo: "company"},
			{Certain: "position", Marketo: "title"}, {Certain: "phone", Marketo: "phone"},
			{Certain: "address.city", Marketo: "city"}, {Certain: "address.country", Marketo: "country"},
		},
		Statuses: append(config.DefaultStatuses(), config.Status{Name: demodata.CustomStatus, Category: config.CategoryAccepted}),
	}
}

// DemoJobs are the five event jobs of the data set's main event.
func DemoJobs(d *demodata.Dataset) []config.Job {
	ev := d.Events[0]
	mk := func(id, typ string, p config.Params) config.Job {
		return config.Job{ID: id, Account: d.Account, Event: ev.Code, Type: typ, Name: id, Enabled: true,
			Schedule: config.Schedule{Interval: config.Duration(15 * time.Minute)}, Params: p}
	}
	return []config.Job{
		mk(JobImport, config.TypeImportLeads, config.Params{ListID: d.Marketo.List.ID, RegistrationStatus: TriggerFrom, AttendeeType: "Attendee"}),
		mk(JobSync, config.TypeSyncLeads, config.Params{Statuses: []string{"Invited", "Pre-Registered", "Attended", demodata.CustomStatus}}),
		mk(JobTrigger, config.TypeTriggerCampaign, config.Params{CampaignID: demodata.CampaignRegistered, FromStatus: TriggerFrom, ToStatus: TriggerTo,
			Tokens: []config.TokenSpec{{Name: "{{my.EventName}}", Value: ev.Name}, {Name: "{{my.RegistrationCode}}", Field: "registration.registrationCode"}}}),
		mk(JobEngagement, config.TypeEngagementMetrics, config.Params{CustomObject: demodata.EngagementObject,
			Fields:  map[string]string{jobs.MetricAvgSessionRating: "averageSessionRating"},
			Modules: []string{config.ModuleAgenda, config.ModuleEventViews, config.ModuleMobile, config.ModuleSSA, config.ModuleAppointmentMatching}}),
		mk(JobInterest, config.TypeInterestMetrics, config.Params{CustomObject: demodata.InterestObject,
			Fields: map[string]string{jobs.FieldPoints: "interestPoints"}, Include: []string{jobs.IncludeRegistered, jobs.IncludeAttended}}),
	}
}
