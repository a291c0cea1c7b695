package jobs

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/config"
)

// A registration sync-leads reads keeps only the raw fields it uses (the
// first key of every mapped name, of Source of Profile and of External
// Profile ID), and the payload and decoded fields are the ones of the whole
// registration.
func TestKeptRegistrationHoldsWhatTheMappingReads(t *testing.T) {
	mapping := []config.FieldMap{{Certain: "email", Marketo: "email"}, {Certain: "address.city", Marketo: "city"},
		{Certain: "customFields[name=Tier].value", Marketo: "tier"}, {Certain: "registration.attendeeTypeCode", Marketo: "attendeeType"}}
	srv := certaintest.NewServer(t)
	srv.AddEvent("ACME", map[string]any{"eventCode": "HS26", "eventName": "Horizon Summit"})
	pin := srv.AddProfile("ACME", map[string]any{"email": "a@example.org", "address": map[string]any{"city": "Oslo", "street": "x"},
		"customFields": []any{map[string]any{"name": "Tier", "value": "Gold"}}, "sourceOfProfile": "Marketo",
		"externalKey": "1001", "biography": "long text", "phone": "123"})
	srv.AddRegistration("ACME", "HS26", pin, map[string]any{"registrationStatusLabel": "Registered", "attendeeTypeCode": "VIP", "notes": "long text"})
	c, err := certain.New(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	f := c.Fields()
	read := func(keep *certain.RawFields) certain.Registration {
		t.Helper()
		for p, err := range c.RegistrationPages(context.Background(), "ACME", "HS26", certain.RegistrationQuery{Keep: keep}) {
			if err != nil || len(p.Items) != 1 {
				t.Fatalf("read: %d registrations, %v", len(p.Items), err)
			}
			return p.Items[0]
		}
		t.Fatal("no page")
		return certain.Registration{}
	}
	whole, kept := read(nil), read(syncRawFields(mapping, f))

	for _, key := range []string{"biography", "phone"} {
		if _, ok := whole.Profile.Fields[key]; !ok {
			t.Fatalf("the simulator's profile lacks %q: %v", key, whole.Profile.Fields)
		}
		if _, ok := kept.Profile.Fields[key]; ok {
			t.Errorf("kept profile holds %q, which nothing reads", key)
		}
	}
	if got := slices.Sorted(maps.Keys(kept.Fields)); !slices.Equal(got, []string{"attendeeTypeCode"}) {
		t.Errorf("kept registration keys %v, want [attendeeTypeCode]", got)
	}
	want := slices.Sorted(slices.Values([]string{"address", "customFields", "email", f.Source, f.ExternalID}))
	if got := slices.Sorted(maps.Keys(kept.Profile.Fields)); !slices.Equal(got, want) {
		t.Errorf("kept profile keys %v, want %v", got, want)
	}
	if a, b := BuildLeadPayload(mapping, whole), BuildLeadPayload(mapping, kept); !maps.Equal(a, b) || len(a) != 4 {
		t.Errorf("payload from the kept registration %v, from the whole %v; want the same 4 fields", b, a)
	}
	if id, ok := rawField(kept.Profile, f.ExternalID); !ok || id != "1001" {
		t.Errorf("External Profile ID %q, %v; want 1001", id, ok)
	}
	w, k := whole, kept
	w.Fields, w.Profile.Fields, k.Fields, k.Profile.Fields = nil, nil, nil, nil
	if !reflect.DeepEqual(w, k) {
		t.Errorf("decoded fields differ:\nwhole %+v\nkept  %+v", w, k)
	}
	// A mapping that reads no registration field keeps no map for them.
	if r := read(syncRawFields(mapping[:1], f)); r.Fields != nil || len(r.Profile.Fields) != 3 {
		t.Errorf("mapping of email only: registration fields %v, profile fields %v; want none, and email, %s, %s", r.Fields, r.Profile.Fields, f.Source, f.ExternalID)
	}
}
