package jobs

import (
	"context"
	"iter"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// Marketo is what the jobs use of the Marketo client (*marketo.Client).
type Marketo interface {
	DescribeLeads(ctx context.Context) ([]marketo.LeadField, error)
	GetLeadsByFilter(ctx context.Context, filterType string, values []string, fields []string) ([]marketo.Lead, error)
	GetLeadByID(ctx context.Context, id int, fields []string) (marketo.Lead, bool, error)
	SyncLeads(ctx context.Context, req marketo.SyncLeadsRequest) ([]marketo.SyncResult, error)
	GetList(ctx context.Context, listID int) (marketo.List, error)
	ListLeadsPage(ctx context.Context, listID int, fields []string, pageToken string, batchSize int) (marketo.ListPage, error)
	RequestCampaign(ctx context.Context, campaignID int, leadIDs []int, tokens []marketo.Token) (int, error)
	DescribeCustomObject(ctx context.Context, apiName string) (marketo.CustomObjectType, error)
	SyncCustomObjects(ctx context.Context, apiName string, req marketo.SyncCustomObjectsRequest) ([]marketo.CustomObjectResult, error)
	Stats() marketo.Stats
}

// Certain is what the jobs use of the Certain client (*certain.Client).
type Certain interface {
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

// Clients are the per-account API clients a run uses.
type Clients struct {
	Marketo Marketo
	Certain Certain
}

// Connector builds (or returns cached) clients for a connection.
type Connector interface {
	Connect(ctx context.Context, conn config.Connection) (Clients, error)
}
