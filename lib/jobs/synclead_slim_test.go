package jobs

import (
	"maps"
	"slices"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
)

// A buffered registration keeps only the raw fields sync-leads reads (the
// first key of every mapped name, of Source of Profile and of External
// Profile ID), and the payload built from it is the one built from the
// whole registration.
func TestSlimRegistrationKeepsWhatTheMappingReads(t *testing.T) {
	mapping := []config.FieldMap{{Certain: "email", Marketo: "email"}, {Certain: "address.city", Marketo: "city"},
		{Certain: "customFields[name=Tier].value", Marketo: "tier"}, {Certain: "registration.attendeeTypeCode", Marketo: "attendeeType"}}
	f := certain.FieldNames{Source: "sourceOfProfile", ExternalID: "ids.marketo"}
	keys := syncRawKeys(mapping, f)
	r := certain.Registration{Code: "R-1", Status: "Registered",
		Fields: map[string]any{"attendeeTypeCode": "VIP", "notes": "long text", "agenda": []any{"a", "b"}},
		Profile: certain.Profile{PIN: "P-1", Email: "a@example.org", Fields: map[string]any{
			"email": "a@example.org", "address": map[string]any{"city": "Oslo", "street": "x"},
			"customFields": []any{map[string]any{"name": "Tier", "value": "Gold"}}, "sourceOfProfile": "Marketo",
			"ids": map[string]any{"marketo": "1001"}, "biography": "long text", "phone": "123"}}}
	slim := keys.slim(r)
	if got, want := slices.Sorted(maps.Keys(slim.Profile.Fields)), []string{"address", "customFields", "email", "ids", "sourceOfProfile"}; !slices.Equal(got, want) {
		t.Errorf("profile keys %v, want %v", got, want)
	}
	if got := slices.Sorted(maps.Keys(slim.Fields)); !slices.Equal(got, []string{"attendeeTypeCode"}) {
		t.Errorf("registration keys %v, want [attendeeTypeCode]", got)
	}
	if a, b := BuildLeadPayload(mapping, r), BuildLeadPayload(mapping, slim); !maps.Equal(a, b) || len(a) != 4 {
		t.Errorf("payload from the slim registration %v, from the whole %v; want the same 4 fields", b, a)
	}
	if _, ok := rawField(slim.Profile, f.ExternalID); !ok || slim.Code != "R-1" || slim.Profile.PIN != "P-1" {
		t.Errorf("slim registration lost its decoded fields or the External Profile ID: %+v", slim)
	}
	if r.Profile.Fields["biography"] != "long text" {
		t.Error("slim changed the registration it was given")
	}
	if s := keys.slim(certain.Registration{}); s.Fields != nil || s.Profile.Fields != nil {
		t.Errorf("nil maps became %v %v", s.Fields, s.Profile.Fields)
	}
}
