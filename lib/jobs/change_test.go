package jobs

import (
	"strings"
	"testing"
	"time"
)

const validChange = `{"version":1,"changeId":"c-1","account":"ACME","event":"HS26","registrationCode":"R-100231",` +
	`"previousStatus":"Invited","newStatus":"Pre-Registered","changedAt":"2026-04-01T08:03:11Z"}`

func TestDecodeChangeValid(t *testing.T) {
	c, err := DecodeChange([]byte(validChange))
	if err != nil {
		t.Fatal(err)
	}
	want := ChangeMessage{Version: 1, ChangeID: "c-1", Account: "ACME", Event: "HS26", RegistrationCode: "R-100231",
		PreviousStatus: "Invited", NewStatus: "Pre-Registered", ChangedAt: time.Date(2026, 4, 1, 8, 3, 11, 0, time.UTC)}
	if c != want {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	// A new registration has no previous status.
	noPrev := strings.Replace(validChange, `"previousStatus":"Invited",`, ``, 1)
	if c, err := DecodeChange([]byte(noPrev)); err != nil || c.PreviousStatus != "" {
		t.Fatalf("without previousStatus: %+v, %v", c, err)
	}
	// Round trip through Encode.
	b, err := want.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if back, err := DecodeChange(b); err != nil || back != want {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

func TestDecodeChangeRejects(t *testing.T) {
	rep := func(old, new string) string { return strings.Replace(validChange, old, new, 1) }
	cases := map[string]struct{ in, want string }{
		"empty":             {``, "not JSON"},
		"array":             {`[1]`, "not a JSON object"},
		"string":            {`"x"`, "not a JSON object"},
		"truncated":         {validChange[:40], "change message"},
		"trailing":          {validChange + `{}`, "trailing data"},
		"unknown member":    {rep(`"event"`, `"evnt"`), `unknown member "evnt"`},
		"wrong case":        {rep(`"newStatus"`, `"newstatus"`), `unknown member "newstatus"`},
		"repeated member":   {rep(`"event":"HS26"`, `"event":"HS26","event":"X"`), "repeats"},
		"version missing":   {rep(`"version":1,`, ``), "version is required"},
		"version 2":         {rep(`"version":1`, `"version":2`), "version 2 is not supported"},
		"version string":    {rep(`"version":1`, `"version":"1"`), "version must be a number"},
		"version float":     {rep(`"version":1`, `"version":1.5`), "not a small whole number"},
		"account number":    {rep(`"account":"ACME"`, `"account":7`), "account must be a string"},
		"account blank":     {rep(`"account":"ACME"`, `"account":""`), "account is required"},
		"event null":        {rep(`"event":"HS26"`, `"event":null`), "event must be a string"},
		"code spaces":       {rep(`"R-100231"`, `" R-100231"`), "surrounding spaces"},
		"control char":      {rep(`"R-100231"`, `"R-1\u0000"`), "control characters"},
		"changedAt missing": {rep(`,"changedAt":"2026-04-01T08:03:11Z"`, ``), "changedAt is required"},
		"changedAt bad":     {rep(`2026-04-01T08:03:11Z`, `yesterday`), "not an RFC 3339 time"},
		"changedAt no zone": {rep(`2026-04-01T08:03:11Z`, `2026-04-01T08:03:11`), "not an RFC 3339 time"},
		"not a change":      {rep(`"Pre-Registered"`, `" invited"`), "surrounding spaces"},
		"same status":       {rep(`"Pre-Registered"`, `"INVITED"`), "not a change"},
		"too long":          {rep(`"c-1"`, `"`+strings.Repeat("x", 300)+`"`), "longer than"},
		"huge":              {strings.Repeat(" ", MaxChangeBytes+1), "bytes, more than"},
		"bad utf8":          {rep(`ACME`, "AC\xffME"), "not valid UTF-8"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeChange([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestNewChangeIDIsStable(t *testing.T) {
	at := time.Date(2026, 4, 1, 8, 3, 11, 0, time.UTC)
	a := NewChange("ACME", "HS26", "R-1", "Invited", "Pre-Registered", at)
	b := NewChange("ACME", "HS26", "R-1", "Invited", "Pre-Registered", at.In(time.FixedZone("X", 3600)))
	c := NewChange("ACME", "HS26", "R-1", "Invited", "Attended", at)
	if a.ChangeID != b.ChangeID || a.ChangeID == c.ChangeID {
		t.Fatalf("ids %s %s %s", a.ChangeID, b.ChangeID, c.ChangeID)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
}

func FuzzDecodeChange(f *testing.F) {
	f.Add([]byte(validChange))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1e3,"changedAt":"2026-04-01T08:03:11.5+02:00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeChange(data)
		if err != nil {
			return
		}
		b, err := c.Encode()
		if err != nil {
			t.Fatalf("decoded message does not encode: %+v: %v", c, err)
		}
		back, err := DecodeChange(b)
		if err != nil || back != c {
			t.Fatalf("round trip: %+v -> %s -> %+v, %v", c, b, back, err)
		}
	})
}
