package marketo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzResponseDecoding: whatever body Marketo (or something in its place)
// answers, each operation returns a value or an error, never panics.
func FuzzResponseDecoding(f *testing.F) {
	for _, s := range []string{
		`{"requestId":"1","success":true,"result":[{"id":1,"status":"created"},{"status":"skipped","reasons":[{"code":"1007","message":"m"}]}]}`,
		`{"requestId":"1","success":false,"errors":[{"code":"602","message":"Access token expired"}]}`,
		`{"requestId":"1","success":false,"errors":[{"code":607}]}`,
		`{"success":true,"result":[{"id":"x","email":7}],"nextPageToken":"T","moreResult":true}`,
		`{"success":true,"result":[{"name":"co","dedupeFields":["a"],"fields":[{"name":"a","dataType":"link"}],"relationships":[{"field":"a","relatedTo":{"name":"Lead","field":"id"}}]}]}`,
		`{"success":true,"result":null}`, `{"success":true}`, `[]`, `null`, `<html>`, ``,
	} {
		f.Add([]byte(s), 200)
	}
	f.Add([]byte(`{"error":"unauthorized"}`), 401)
	f.Add([]byte(`Bad gateway`), 502)
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		if status < 200 || status > 599 {
			status = 200
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/identity/oauth/token" {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"access_token":"tok","token_type":"bearer","expires_in":3599}`))
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write(body)
		}))
		defer srv.Close()
		c, err := New(Config{BaseURL: srv.URL, ClientID: "id", ClientSecret: "secret", AllowHTTP: true, MaxAttempts: 2,
			Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, _ = c.SyncLeads(ctx, SyncLeadsRequest{Action: "createOrUpdate", LookupField: "email", Input: []Lead{{"email": "a@b.c"}, {"email": "d@e.f"}}})
		_, _ = c.GetLeadsByFilter(ctx, "email", []string{"a@b.c"}, []string{"id", "email"})
		_, _ = c.ListLeadsPage(ctx, 1001, []string{"id"}, "", 300)
		_, _ = c.DescribeCustomObject(ctx, "co")
		_, _ = c.SyncCustomObjects(ctx, "co", SyncCustomObjectsRequest{Input: []Record{{"a": 1}}})
		_, _ = c.RequestCampaign(ctx, 2001, []int{1}, nil)
		_, _ = c.DescribeLeads(ctx)
	})
}
