package jobs

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

func TestReverseMappingAndProfileBody(t *testing.T) {
	f := certain.Defaults()
	mapping := []config.FieldMap{
		{Certain: "firstName", Marketo: "firstName"},
		{Certain: "organization", Marketo: "company"},
		{Certain: "address.city", Marketo: "city"},
		{Certain: "address.country", Marketo: "country"},
		{Certain: "registration.attendeeTypeCode", Marketo: "attendeeType"}, // not a profile field
		{Certain: "email", Marketo: "emailAddress"},                         // owned by the import
		{Certain: "externalKey", Marketo: "certainExternalKey"},             // owned by the import
		{Certain: "position", Marketo: "title"},
		{Certain: "position", Marketo: "jobTitle"}, // second source of the same field
	}
	pf, err := reverseMapping(mapping, f)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pf {
		got = append(got, p.certain+"<-"+p.marketo)
	}
	want := []string{"firstName<-firstName", "organization<-company", "address.city<-city", "address.country<-country", "position<-title", "position<-jobTitle"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("reverse mapping = %v, want %v", got, want)
	}
	if cols := leadFields(pf); !reflect.DeepEqual(cols, []string{"id", "email", "firstName", "company", "city", "country", "title", "jobTitle"}) {
		t.Fatalf("lead fields = %v", cols)
	}

	lead := marketo.Lead{"id": 3107.0, "email": "Lena@Example.net", "firstName": " Lena ", "company": "",
		"city": "Lyon", "country": nil, "title": nil, "jobTitle": "CTO", "attendeeType": "VIP"}
	body := profileBody(lead, "Lena@Example.net", "3107", pf, f)
	wantBody := map[string]any{
		"email": "Lena@Example.net", "externalKey": "3107", "sourceOfProfile": "Marketo",
		"firstName": "Lena", "address": map[string]any{"city": "Lyon"}, "position": "CTO",
	}
	if !reflect.DeepEqual(body, wantBody) {
		t.Fatalf("profile body = %#v\nwant %#v", body, wantBody)
	}
}

func TestReverseMappingCustomFieldNames(t *testing.T) {
	f := certain.FieldNames{ExternalID: "extId", Source: "origin", SourceValueMarketo: "MKTO"}.WithDefaults()
	pf, err := reverseMapping([]config.FieldMap{{Certain: "extId", Marketo: "x"}, {Certain: "profile.lastName", Marketo: "lastName"}}, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(pf) != 1 || pf[0].certain != "lastName" {
		t.Fatalf("want only lastName, got %+v", pf)
	}
	body := profileBody(marketo.Lead{"lastName": "Ortiz"}, "a@b.c", "9", pf, f)
	if body["extId"] != "9" || body["origin"] != "MKTO" || body["lastName"] != "Ortiz" {
		t.Fatalf("body = %v", body)
	}
}

func TestReverseMappingErrors(t *testing.T) {
	cases := []struct {
		name    string
		mapping []config.FieldMap
		want    string
	}{
		{"parent and child", []config.FieldMap{{Certain: "address", Marketo: "a"}, {Certain: "address.city", Marketo: "city"}}, `"address" is both a value and the parent of "address.city"`},
		{"empty part", []config.FieldMap{{Certain: "address..city", Marketo: "city"}}, "empty part"},
		{"blank marketo", []config.FieldMap{{Certain: "firstName", Marketo: " "}}, "fieldMapping[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := reverseMapping(c.mapping, certain.Defaults())
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want a config error containing %q", err, c.want)
			}
		})
	}
}

func TestPlausibleEmail(t *testing.T) {
	for s, want := range map[string]bool{
		"a@b.c": true, "First.Last@Example.COM": true,
		"": false, "no-at": false, "@b.c": false, "a@": false, "a b@c.d": false, "a@b.c, d@e.f": false,
	} {
		if got := plausibleEmail(s); got != want {
			t.Errorf("plausibleEmail(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestCanonicalStatus(t *testing.T) {
	if got := canonicalStatus(config.Connection{}, " invited "); got != "Invited" {
		t.Fatalf("got %q", got)
	}
	conn := config.Connection{Statuses: []config.Status{{Name: "VIP Invite", Category: config.CategoryPending}}}
	if got := canonicalStatus(conn, "vip invite"); got != "VIP Invite" {
		t.Fatalf("got %q", got)
	}
}

// TestKeyLockSerialisesOneKey: holders of one key never overlap, other keys
// run alongside, and the map empties when everyone has left.
func TestKeyLockSerialisesOneKey(t *testing.T) {
	var kl keyLock
	var inA, maxA atomic.Int32
	var wg sync.WaitGroup
	otherRan := make(chan struct{})
	unlockHeld := kl.lock("a")
	go func() {
		u := kl.lock("b") // must not wait for "a"
		u()
		close(otherRan)
	}()
	<-otherRan
	unlockHeld()
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := kl.lock("a")
			n := inA.Add(1)
			for {
				m := maxA.Load()
				if n <= m || maxA.CompareAndSwap(m, n) {
					break
				}
			}
			inA.Add(-1)
			u()
		}()
	}
	wg.Wait()
	if maxA.Load() != 1 {
		t.Fatalf("%d holders of one key at once", maxA.Load())
	}
	if len(kl.m) != 0 {
		t.Fatalf("lock map not emptied: %d entries", len(kl.m))
	}
}
