package marketotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// SeedFile is the JSON seed of a simulated instance (infra/marketo-sim
// -seed, docs/examples/marketo-sim-seed.json): custom lead fields with their
// types, leads, static lists, campaigns and custom object types.
type SeedFile struct {
	// LeadFields are custom lead fields, typed: a value that does not fit
	// its dataType (or is longer than length) is refused with 1003.
	LeadFields []struct {
		Name     string `json:"name"`
		DataType string `json:"dataType"`
		Length   int    `json:"length"`
		ReadOnly bool   `json:"readOnly"`
	} `json:"leadFields"`
	Leads []marketo.Lead `json:"leads"`
	Lists []struct {
		ID      int    `json:"id"`
		Name    string `json:"name"`
		LeadIDs []int  `json:"leadIds"`
	} `json:"lists"`
	Campaigns []struct {
		ID          int    `json:"id"`
		Name        string `json:"name"`
		Type        string `json:"type"`
		Active      bool   `json:"active"`
		Requestable bool   `json:"requestable"`
		ProgramName string `json:"programName"`
	} `json:"campaigns"`
	CustomObjects []struct {
		Name         string   `json:"name"`
		DedupeFields []string `json:"dedupeFields"`
		LinkField    string   `json:"linkField"`
		Fields       []struct {
			Name     string `json:"name"`
			DataType string `json:"dataType"`
			Length   int    `json:"length"`
		} `json:"fields"`
	} `json:"customObjects"`
}

// LoadSeedFile reads a SeedFile (unknown keys are errors) and seeds the
// simulator with it.
func (s *Server) LoadSeedFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	var sd SeedFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sd); err != nil {
		return fmt.Errorf("seed %s: %w", path, err)
	}
	for _, f := range sd.LeadFields {
		s.AddLeadField(marketo.LeadField{Name: f.Name, DataType: f.DataType, MaxLength: f.Length, ReadOnly: f.ReadOnly})
	}
	for _, l := range sd.Leads {
		s.AddLead(l)
	}
	for _, l := range sd.Lists {
		s.AddList(l.ID, l.Name, l.LeadIDs)
	}
	for _, c := range sd.Campaigns {
		s.AddCampaign(Campaign{ID: c.ID, Name: c.Name, Type: c.Type, Active: c.Active, Requestable: c.Requestable, ProgramName: c.ProgramName})
	}
	for _, co := range sd.CustomObjects {
		t := CustomObjectType{Name: co.Name, DedupeFields: co.DedupeFields, LinkField: co.LinkField}
		for _, f := range co.Fields {
			t.Fields = append(t.Fields, marketo.CustomObjectField{Name: f.Name, DataType: f.DataType, Updatable: true, Length: f.Length})
		}
		s.AddCustomObjectType(t)
	}
	return nil
}
