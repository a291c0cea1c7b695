package dryrun

import (
	"encoding/json"
	"testing"
)

func TestReadableNamesPlaceholders(t *testing.T) {
	for in, want := range map[string]string{
		"campaign 2001 requested for lead 2000000003 (Invited -> Registered)": "campaign 2001 requested for new lead #3 (Invited -> Registered)",
		"lead 500135 and 2000000012":                                          "lead 500135 and new lead #12",
		"lead 2000000000 is no placeholder":                                   "lead 2000000000 is no placeholder",
		"registration new-registration-4 for new-profile-2":                   "registration new registration #4 for new profile #2",
		"ids [1999999999 12000000001]":                                        "ids [1999999999 12000000001]",
	} {
		if got := Readable(in); got != want {
			t.Errorf("Readable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestChangesListOnlyWhatAWriteWouldChange(t *testing.T) {
	have := map[string]any{"email": "a@x.example", "city": "Berlin", "score": json.Number("3"), "optIn": false, "title": ""}
	sent := map[string]any{"email": "a@x.example", "city": "Berlin", "score": 3.0, "optIn": "true", "title": nil, "phone": "+1-555"}
	got := changes(have, sent, "email")
	if len(got) != 2 || got[0].Field != "optIn" || got[0].From != false || got[0].To != "true" || got[1].Field != "phone" || got[1].From != nil {
		t.Fatalf("changes = %+v, want optIn false->true and phone set", got)
	}
	if got := changes(nil, map[string]any{"city": "Porto", "title": nil}); len(got) != 1 || got[0].Field != "city" {
		t.Fatalf("changes of a new lead = %+v, want city only", got)
	}
	if Text(2000000001.0) != "2000000001" || Text(nil) != "" || Text(2.5) != "2.5" {
		t.Fatalf("Text: %q %q %q", Text(2000000001.0), Text(nil), Text(2.5))
	}
}
