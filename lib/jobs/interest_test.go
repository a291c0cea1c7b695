package jobs

import (
	"reflect"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
)

func TestInterestSelectionByStatus(t *testing.T) {
	f := certain.Defaults()
	tests := []struct {
		include  []string
		sessions bool
		status   string
		want     bool
	}{
		{[]string{IncludeRegistered}, false, "REGISTERED", true},
		{[]string{IncludeRegistered}, false, "ATTENDED", false},
		{[]string{IncludeAttended}, false, "ATTENDED", true},
		{[]string{IncludeAttended}, false, "registered", false},
		{[]string{IncludeRegistered, IncludeAttended}, false, "attended", true},
		{[]string{IncludeRegistered, IncludeAttended}, false, "CANCELLED", false},
		{[]string{IncludeRegistered, IncludeAttended}, false, "WAITLISTED", false},
		{[]string{IncludeRegistered}, true, "Registered", true},
		{[]string{IncludeAttended}, true, "Attended", true},
		{[]string{IncludeAttended}, true, "Registered", false},
	}
	for _, tc := range tests {
		p := config.Params{Include: tc.include}
		if tc.sessions {
			p.Modules = []string{config.ModuleSpeakerSession}
		}
		r := newInterestRules(f, p)
		if got := r.selected(tc.status); got != tc.want {
			t.Errorf("include %v sessions %v status %q: selected %v, want %v", tc.include, tc.sessions, tc.status, got, tc.want)
		}
	}
}

func TestInterestPointsPerTag(t *testing.T) {
	r := newInterestRules(certain.Defaults(), config.Params{Include: []string{IncludeRegistered}, TagAllowList: []string{"security", "Cloud"}})
	a := r.item([]string{"Security", "Cloud", "AI", "security", " "}, 15)
	if !reflect.DeepEqual(a.Tags, []string{"Security", "Cloud"}) {
		t.Errorf("tags %v, want the allowed ones once each: [Security Cloud]", a.Tags)
	}
	b := r.item([]string{"Cloud"}, 2.505)
	c := r.item([]string{"AI"}, 100) // not allowed: no tags
	p := interestPoints{}
	p.add(a)
	p.add(b)
	p.add(c)
	tags, pts := p.positive()
	if !reflect.DeepEqual(tags, []string{"Cloud", "Security"}) {
		t.Errorf("tags %v, want [Cloud Security]", tags)
	}
	if pts["Cloud"] != 17.51 || pts["Security"] != 15 {
		t.Errorf("points %v, want Cloud 15+2.505 = 17.51 (two decimals), Security 15", pts)
	}
	if r.item([]string{"Cloud"}, -3).Points != 0 {
		t.Error("negative points should count as 0")
	}
}

func TestRegistrationCriteria(t *testing.T) {
	conn := config.Connection{Account: "ACME"}
	cats := includedCategories(config.Params{})
	reg := func(status string, active, complete bool) certain.Registration {
		return certain.Registration{Code: "R", Status: status, Active: active, Complete: complete}
	}
	tests := []struct {
		name             string
		r                certain.Registration
		interest, engage bool
		known            bool
	}{
		{"accepted complete active", reg("Pre-Registered", true, true), true, true, true},
		{"pending complete active", reg("Invited", true, true), true, true, true},
		{"incomplete", reg("Pre-Registered", true, false), false, true, true},
		{"inactive", reg("Attended", false, true), false, false, true},
		{"cancelled", reg("Cancelled", true, true), false, false, true},
		{"declined", reg("Declined Invitation", true, true), false, false, true},
		{"denied", reg("Request Denied", true, true), false, false, true},
		{"status case and spaces", reg("  pre-registered ", true, true), true, true, true},
		{"unknown status", reg("Lost", true, true), false, false, false},
	}
	for _, tc := range tests {
		gotI, knownI := interestEligible(conn, cats, tc.r)
		gotE, knownE := engagementEligible(conn, cats, tc.r)
		if gotI != tc.interest || gotE != tc.engage || knownI != tc.known || knownE != tc.known {
			t.Errorf("%s: interest %v engagement %v known %v/%v, want %v %v %v", tc.name, gotI, gotE, knownI, knownE, tc.interest, tc.engage, tc.known)
		}
	}
	// Categories are configurable: accepted only.
	if ok, _ := engagementEligible(conn, includedCategories(config.Params{Categories: []string{config.CategoryAccepted}}), reg("Invited", true, true)); ok {
		t.Error("categories [accepted]: a pending registration was included")
	}
}

func TestInterestManifestRoundTrip(t *testing.T) {
	m := interestManifest{3107: {"Security", "Cloud"}, 42: nil}
	enc := m.encode()
	if enc != `{"3107":["Cloud","Security"]}` {
		t.Errorf("encode = %s", enc)
	}
	back, err := parseManifest(enc)
	if err != nil || !reflect.DeepEqual(back, interestManifest{3107: {"Cloud", "Security"}}) || back.size() != 2 {
		t.Errorf("parse = %v, %v", back, err)
	}
	if (interestManifest{}).encode() != "" {
		t.Error("an empty manifest should encode as empty (deleted)")
	}
	if _, err := parseManifest(`{"x":["A"]}`); err == nil {
		t.Error("a non-numeric lead id should not parse")
	}
}
