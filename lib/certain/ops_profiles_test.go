package certain_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
)

// CountProfiles costs one call of one row in every paging mode and gives
// the pages a ProfilePages read takes; ProfilePages returns every profile,
// oldest dateModified first, in that many calls.
func TestCountProfilesAndProfilePages(t *testing.T) {
	for _, mode := range []string{certain.PagingOffset0, certain.PagingOffset1, certain.PagingPage1} {
		t.Run(mode, func(t *testing.T) {
			srv, c, clk := newPair(t, certaintest.WithPagingMode(mode))
			ctx := context.Background()
			if pc, err := c.CountProfiles(ctx, "ACME"); err != nil || pc != (certain.ProfileCollection{}) {
				t.Fatalf("empty account: %+v %v, want 0 profiles in 0 pages", pc, err)
			}
			var pins []string
			for i := range 7 {
				pins = append(pins, srv.AddProfile("ACME", map[string]any{"email": fmt.Sprintf("p%d@x.example", i)}))
				clk.Advance(time.Minute)
			}
			// The first profile changes last: it is read last.
			srv.AddProfile("ACME", map[string]any{"pin": pins[0], "email": "p0@x.example", "firstName": "Edited"})
			before := len(srv.Calls())
			pc, err := c.CountProfiles(ctx, "ACME")
			if err != nil || pc != (certain.ProfileCollection{Total: 7, Pages: 3}) {
				t.Fatalf("count: %+v %v, want 7 profiles in 3 pages of 3", pc, err)
			}
			calls := srv.Calls()[before:]
			if len(calls) != 1 || !strings.Contains(calls[0].Query, "max_results=1") {
				t.Errorf("count calls %+v, want one call for one row", calls)
			}
			before = len(srv.Calls())
			var got []string
			for p, err := range c.ProfilePages(ctx, "ACME") {
				if err != nil {
					t.Fatal(err)
				}
				for _, x := range p.Items {
					got = append(got, x.PIN)
				}
			}
			want := append(append([]string{}, pins[1:]...), pins[0])
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("read %v, want %v (oldest dateModified first)", got, want)
			}
			if n := len(srv.Calls()) - before; n != pc.Pages {
				t.Errorf("the read took %d calls, CountProfiles said %d", n, pc.Pages)
			}
		})
	}
}

// A tenant whose envelope has no completeCollectionSize gives Total -1 (the
// caller cannot size the read); one whose count is below the rows it
// returned is a contract error.
func TestCountProfilesEnvelope(t *testing.T) {
	for _, tc := range []struct {
		body    string
		total   int
		wantErr string
	}{
		{`{"size":1,"profiles":[{"pin":"P1"}]}`, -1, ""},
		{`{"completeCollectionSize":0,"size":1,"profiles":[{"pin":"P1"}]}`, 0, "completeCollectionSize 0 but the page holds 1 rows"},
		{`{"completeCollectionSize":5,"size":2,"profiles":[{"pin":"P1"}]}`, 0, "size 2 but holds 1 rows"},
	} {
		h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(tc.body)) })
		c := handlerClient(t, h, func(*certain.Config) {})
		pc, err := c.CountProfiles(context.Background(), "ACME")
		switch {
		case tc.wantErr == "" && (err != nil || pc.Total != tc.total):
			t.Errorf("%s: %+v %v, want total %d", tc.body, pc, err, tc.total)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one saying %q", tc.body, err, tc.wantErr)
		}
	}
}
