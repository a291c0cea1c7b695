package demodata

import (
	"fmt"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
)

// SeedMarketo loads the Marketo side into the simulator. Lead ids must come
// back as the data set chose them, because Certain profiles already hold
// them in their External Profile ID; a simulator that assigns other ids is
// reported as an error rather than silently breaking the link.
func (d *Dataset) SeedMarketo(s *marketotest.Server) error {
	for _, f := range TypedLeadFields() {
		s.AddLeadField(f)
	}
	for _, l := range d.Marketo.Leads {
		lead := marketo.Lead{"id": l.ID, "email": l.Email, "firstName": l.FirstName, "lastName": l.LastName}
		if l.Company != "" {
			lead["company"] = l.Company
		}
		typedLead(lead, l.ID)
		if got := s.AddLead(lead); got != l.ID {
			return fmt.Errorf("demodata: seed Marketo: lead %d came back with id %d; the simulator must keep the given id", l.ID, got)
		}
	}
	s.AddList(d.Marketo.List.ID, d.Marketo.List.Name, d.Marketo.List.LeadIDs)
	for _, c := range d.Marketo.Campaigns {
		s.AddCampaign(marketotest.Campaign{ID: c.ID, Name: c.Name, Type: c.Type, Active: c.Active, Requestable: c.Requestable})
	}
	for _, co := range d.Marketo.CustomObjects {
		s.AddCustomObjectType(marketotest.CustomObjectType{Name: co.Name, DedupeFields: co.DedupeFields, Fields: co.Fields, LinkField: co.LinkField})
	}
	return nil
}
