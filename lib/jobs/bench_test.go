package jobs_test

import (
	"fmt"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// Hot paths of every lead write: mapping a registration to a lead payload
// and fingerprinting it for the delta check. Compare two runs with
// benchstat:
//
//	go test -run '^$' -bench 'LeadPayload|PayloadHash|LeadBatch' -count 6 ./lib/jobs/ > new.txt

var benchMapping = []config.FieldMap{
	{Certain: "email", Marketo: "email"}, {Certain: "firstName", Marketo: "firstName"},
	{Certain: "lastName", Marketo: "lastName"}, {Certain: "organization", Marketo: "company"},
	{Certain: "position", Marketo: "title"}, {Certain: "phone", Marketo: "phone"},
	{Certain: "address.city", Marketo: "city"}, {Certain: "address.country", Marketo: "country"},
}

func benchRegistration(i int) certain.Registration {
	f := map[string]any{
		"email": fmt.Sprintf("lena.ortiz%d@northwind.example", i), "firstName": "Lena", "lastName": "Ortiz",
		"organization": "Northwind", "position": "CTO", "phone": "+1-555-0100",
		"address": map[string]any{"city": "Berlin", "country": "DE"},
	}
	return certain.Registration{Code: fmt.Sprintf("R-%07d", i), Status: "Pre-Registered", Active: true, Complete: true,
		Profile: certain.Profile{PIN: fmt.Sprintf("P-%06d", i), Email: f["email"].(string), Fields: f}}
}

func BenchmarkBuildLeadPayload(b *testing.B) {
	reg := benchRegistration(1)
	b.ReportAllocs()
	var lead marketo.Lead
	for b.Loop() {
		lead = jobs.BuildLeadPayload(benchMapping, reg)
	}
	if len(lead) != len(benchMapping) {
		b.Fatalf("payload %v has %d fields, want %d", lead, len(lead), len(benchMapping))
	}
}

func BenchmarkPayloadHash(b *testing.B) {
	lead := jobs.BuildLeadPayload(benchMapping, benchRegistration(1))
	b.ReportAllocs()
	var h string
	for b.Loop() {
		h = jobs.PayloadHash(lead)
	}
	if len(h) != 32 {
		b.Fatalf("hash %q", h)
	}
}

// BenchmarkLeadBatch300 builds and hashes one Sync Leads batch (300
// registrations); ns/op divided by 300 is the per-record CPU cost.
func BenchmarkLeadBatch300(b *testing.B) {
	regs := make([]certain.Registration, 300)
	for i := range regs {
		regs[i] = benchRegistration(i)
	}
	b.ReportAllocs()
	seen := map[string]bool{}
	for b.Loop() {
		clear(seen)
		for _, r := range regs {
			seen[jobs.PayloadHash(jobs.BuildLeadPayload(benchMapping, r))] = true
		}
	}
	if len(seen) != len(regs) {
		b.Fatalf("%d distinct hashes for %d distinct registrations", len(seen), len(regs))
	}
}
