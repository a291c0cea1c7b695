package marketo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A server that keeps answering with the token it was sent, or with ever new
// tokens, must not keep a filter query paging until the deadline.
func TestFilterPagingStopsOnRepeatedOrEndlessTokens(t *testing.T) {
	for _, tc := range []struct {
		name      string
		token     func(n int64) string
		wantCalls int64
		wantErr   string
	}{
		{"repeated token", func(int64) string { return "T" }, 2, "repeated the nextPageToken"},
		{"endless tokens", func(n int64) string { return "T" + strings.Repeat("x", int(n)) }, maxFilterPages, "more than 20 pages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if r.URL.Path == "/identity/oauth/token" {
					_, _ = w.Write([]byte(`{"access_token":"tok","token_type":"bearer","expires_in":3599}`))
					return
				}
				n := calls.Add(1)
				_, _ = w.Write([]byte(`{"requestId":"r","success":true,"result":[{"id":1,"email":"a@b.c"}],"nextPageToken":"` + tc.token(n) + `","moreResult":true}`))
			}))
			defer srv.Close()
			c, err := New(Config{BaseURL: srv.URL, ClientID: "id", ClientSecret: "secret", AllowHTTP: true,
				Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err = c.GetLeadsByFilter(ctx, "email", []string{"a@b.c"}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
			}
			if got := calls.Load(); got != tc.wantCalls {
				t.Fatalf("%d calls, want %d", got, tc.wantCalls)
			}
		})
	}
}
