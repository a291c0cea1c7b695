package fieldtype

import (
	"errors"
	"strings"
	"testing"
)

// Every Marketo type with a value already in Marketo's form (valid), a
// Certain form that converts (convertible) and one that cannot (invalid),
// including the values recorded as refused by a real instance: "other" in a
// boolean, "bademail", 14.1 in an integer, "14c" in a float, "yesterday" in
// a datetime, "100%"... in a percent it converts, "12.5%" does not.
func TestConvertEveryType(t *testing.T) {
	type c struct {
		in   any
		want any // nil with bad: an *Error
		bad  bool
	}
	cases := map[string][]c{
		Boolean: {{true, true, false}, {"Yes", true, false}, {"no", false, false}, {"TRUE", true, false}, {"0", false, false},
			{"y", true, false}, {1.0, true, false}, {"other", nil, true}, {"maybe", nil, true}, {2, nil, true}},
		Integer: {{5, 5, false}, {"42", 42, false}, {"+7", 7, false}, {"42.0", 42, false}, {" 3 ", 3, false},
			{14.1, nil, true}, {"14.1", nil, true}, {"1,200", nil, true}, {"0x10", nil, true}, {"9999999999", nil, true}, {"five", nil, true}},
		Score: {{"10", 10, false}, {"ten", nil, true}},
		Float: {{5.4, 5.4, false}, {"5.4", 5.4, false}, {"-1e3", -1000.0, false}, {"14c", nil, true}, {"NaN", nil, true}, {"Inf", nil, true}},
		Currency: {{34.66, 34.66, false}, {"$1,234.50", 1234.5, false}, {"€10", 10.0, false}, {"10.40", 10.4, false},
			{"1.234,50", nil, true}, {"ten dollars", nil, true}},
		Percent: {{99, 99, false}, {"30", 30, false}, {"100%", 100, false}, {"12.5%", nil, true}, {"a lot", nil, true}},
		Date: {{"2020-08-30", "2020-08-30", false}, {"2026-04-01T23:30:00-05:00", "2026-04-01", false}, {"2026-04-01 08:00:00", "2026-04-01", false},
			{"yesterday", nil, true}, {"04/01/2026", nil, true}, {"2026-02-30", nil, true}, {true, nil, true}},
		Datetime: {{"2020-08-30T05:49:48.000Z", "2020-08-30T05:49:48Z", false}, {"2026-04-01 08:03:11", "2026-04-01T08:03:11Z", false},
			{"2026-04-01T08:03:11-05:00", "2026-04-01T13:03:11Z", false}, {"2026-04-01", "2026-04-01T00:00:00Z", false},
			{"2026-04-01T08:03", "2026-04-01T08:03:00Z", false}, {"yesterday", nil, true}, {"2026-13-01", nil, true}},
		String: {{"Acme", "Acme", false}, {" Acme ", "Acme", false}, {12, "12", false}, {4.5, "4.5", false}, {false, "false", false}},
		Phone:  {{"+1-555-0100", "+1-555-0100", false}},
		Text:   {{"text is here", "text is here", false}},
		Email: {{"a.b@example.com", "a.b@example.com", false}, {" x@y.org ", "x@y.org", false}, {"bademail", nil, true},
			{"jürgen@example.de", nil, true}, {"a@b", nil, true}, {"a b@c.de", nil, true}},
		URL:       {{"https://example.com/x", "https://example.com/x", false}, {"www.example.com", nil, true}},
		Reference: {{"12", int64(12), false}, {7, int64(7), false}, {"ab-1", "ab-1", false}},
		Link:      {{3107, int64(3107), false}},
		"unknown": {{" kept ", "kept", false}, {5, 5, false}},
	}
	for dt, cs := range cases {
		for _, tc := range cs {
			got, err := Convert(tc.in, Field{Name: "f_" + dt, DataType: dt, Length: 255}, OverflowRefuse)
			if tc.bad {
				var fe *Error
				if !errors.As(err, &fe) || fe.Field != "f_"+dt || fe.DataType != dt || fe.Shape == "" {
					t.Errorf("%s %#v: got %#v, %v; want an *Error naming field, type and shape", dt, tc.in, got, err)
				}
				continue
			}
			if err != nil || got != tc.want {
				t.Errorf("%s %#v: got %#v (%T), %v; want %#v (%T)", dt, tc.in, got, got, err, tc.want, tc.want)
			}
		}
	}
}

// The reason names the field, the type and the shape, and never the value.
func TestErrorNeverCarriesTheValue(t *testing.T) {
	secret := "jane.doe.private@example"
	_, err := Convert(secret, Field{Name: "attendedBefore", DataType: Boolean}, OverflowRefuse)
	if err == nil {
		t.Fatal("a word converted to a boolean")
	}
	msg := err.Error()
	for _, want := range []string{`"attendedBefore"`, "boolean", "characters"} {
		if !strings.Contains(msg, want) {
			t.Errorf("reason %q lacks %q", msg, want)
		}
	}
	for _, part := range []string{"jane", "doe", "private", "example"} {
		if strings.Contains(msg, part) {
			t.Errorf("reason %q reveals %q", msg, part)
		}
	}
	if got := Shape("yesterday"); got != `"aaaaaaaaa" (9 characters)` {
		t.Errorf("Shape(yesterday) = %s", got)
	}
	if got := Shape(14.1); got != "number 99.9" {
		t.Errorf("Shape(14.1) = %s", got)
	}
	if got := Shape("Zoë 100%"); got != `"Aa? 999%" (8 characters)` {
		t.Errorf("Shape = %s", got)
	}
}

func TestOverflowPolicy(t *testing.T) {
	f := Field{Name: "title", DataType: String, Length: 5}
	if _, err := Convert("Director", f, OverflowRefuse); err == nil || !strings.Contains(err.Error(), "8 characters, longer than the field's 5") {
		t.Errorf("refuse: %v", err)
	}
	if got, err := Convert("Directeur général", f, OverflowTruncate); err != nil || got != "Direc" {
		t.Errorf("truncate: %v %v", got, err)
	}
	if got, err := Convert("ÉÉÉÉÉÉ", f, OverflowTruncate); err != nil || got != "ÉÉÉÉÉ" {
		t.Errorf("truncate counts characters, not bytes: %q %v", got, err)
	}
	e := Field{Name: "email", DataType: Email, Length: 10}
	if _, err := Convert("someone@example.com", e, OverflowTruncate); err == nil {
		t.Error("an e-mail was truncated")
	}
	long := strings.Repeat("x", TextMaxBytes+1)
	if _, err := Convert(long, Field{Name: "notes", DataType: Text}, OverflowRefuse); err == nil {
		t.Error("a text over 30,000 bytes was accepted")
	}
	if got, err := Convert(long, Field{Name: "notes", DataType: Text}, OverflowTruncate); err != nil || len(got.(string)) != TextMaxBytes {
		t.Errorf("text truncate: %d %v", len(got.(string)), err)
	}
	if o, err := ParseOverflow(""); err != nil || o != OverflowRefuse {
		t.Errorf("default overflow %q %v", o, err)
	}
	if _, err := ParseOverflow("cut"); err == nil {
		t.Error("ParseOverflow accepted cut")
	}
}

func TestFitsAndKinds(t *testing.T) {
	cases := []struct {
		certain, marketo string
		want             bool
	}{
		{"organization", Boolean, false},
		{"firstName", Integer, false},
		{"address.postalCode", Integer, false},
		{"profile.lastName", Datetime, false},
		{"organization", String, true},
		{"email", Email, true},
		{"email", Boolean, false},
		{"registration.isConfirmed", Boolean, true},
		{"registration.isConfirmed", Integer, false},
		{"registration.dateModified", Date, true},
		{"registration.dateModified", Datetime, true},
		{"attendedBefore", Boolean, true}, // unknown Certain field: checked per record
		{"organization", "someNewType", true},
	}
	for _, c := range cases {
		if got := Fits(CertainKind(c.certain), c.marketo); got != c.want {
			t.Errorf("Fits(%s -> %s) = %t, want %t", c.certain, c.marketo, got, c.want)
		}
	}
	if f, ok := StandardLeadField("unsubscribed"); !ok || f.DataType != Boolean {
		t.Errorf("standard unsubscribed: %+v %t", f, ok)
	}
	if f, ok := StandardLeadField("createdAt"); !ok || !f.ReadOnly {
		t.Errorf("standard createdAt: %+v", f)
	}
}

func TestToCertain(t *testing.T) {
	cases := []struct {
		in   any
		kind Kind
		want any
	}{
		{true, KindBoolean, true},
		{true, KindText, "true"},
		{5.0, KindUnknown, "5"},
		{5.4, KindText, "5.4"},
		{"2020-08-30T05:49:48Z", KindDatetime, "2020-08-30T05:49:48Z"},
		{nil, KindText, nil},
		{"yes", KindBoolean, true},
	}
	for _, c := range cases {
		if got := ToCertain(c.in, c.kind); got != c.want {
			t.Errorf("ToCertain(%#v, %s) = %#v, want %#v", c.in, c.kind, got, c.want)
		}
	}
}
