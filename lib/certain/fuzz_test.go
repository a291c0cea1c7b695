package certain

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzResponseDecoding: whatever body Certain answers, each operation
// returns a value or an error, never panics.
func FuzzResponseDecoding(f *testing.F) {
	for _, s := range []string{
		`{"totalResults":1,"maxResults":200,"startIndex":0,"registrations":[{"registrationCode":"R-1","profile":{"pin":"P","email":"a@b.c"},"registrationStatusLabel":"Attended","dateModified":"2026-01-01T00:00:00"}]}`,
		`{"pin":"P-1","email":"a@b.c","address":{"city":7}}`,
		`{"totalResults":"x","registrations":{"a":1}}`,
		`{"agendaItems":[{"activityCode":null,"tags":"a,b","points":"12"}]}`,
		`{"appointments":[{"appointmentRating":[1,"x",null],"registration":[]}]}`,
		`callback({"a":1})`, `null`, `[]`, ``, `<xml/>`,
	} {
		f.Add([]byte(s), 200)
	}
	f.Add([]byte(`Item already on registration`), 400)
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		if status < 200 || status > 599 || status == 429 {
			status = 200
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write(body)
		}))
		defer srv.Close()
		c, err := New(Config{BaseURL: srv.URL, Username: "u", Password: "p", AllowHTTP: true, MaxAttempts: 2, MaxPages: 3,
			Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		for _, err := range c.RegistrationPages(ctx, "A", "E", RegistrationQuery{}) {
			if err != nil {
				break
			}
		}
		_, _ = c.GetProfile(ctx, "A", "P-1")
		_, _ = c.GetEvent(ctx, "A", "E")
		_, _ = c.FindProfiles(ctx, "A", "email", "a@b.c")
		_, _ = c.CreateRegistration(ctx, "A", "E", NewRegistration{PIN: "P-1", Status: "Invited"})
		for _, err := range c.AgendaItemPages(ctx, "A", "E") {
			if err != nil {
				break
			}
		}
		for _, err := range c.AppointmentPages(ctx, "A", "E", 0) {
			if err != nil {
				break
			}
		}
		_, _ = c.SessionRegistrations(ctx, "A", "E", 1)
	})
}
