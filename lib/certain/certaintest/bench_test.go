package certaintest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
)

// BenchmarkImportShape drives the simulator in-process with the calls one
// imported lead costs (two profile searches, a profile create, a
// registration create) and reports the cost per lead, which should not grow
// with the number of leads already there:
//
//	go test -run '^$' -bench ImportShape -benchtime 1x ./lib/certain/certaintest/
func BenchmarkImportShape(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				srv := certaintest.New(certaintest.WithClock(func() time.Time { return time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC) }))
				srv.AddEvent("ACME", map[string]any{"eventCode": "HS26"})
				do := func(method, target, body string, want int) string {
					req := httptest.NewRequest(method, target, strings.NewReader(body))
					req.SetBasicAuth(srv.Username(), srv.Password())
					rec := httptest.NewRecorder()
					srv.ServeHTTP(rec, req)
					if rec.Code != want {
						b.Fatalf("%s %s: %d %s, want %d", method, target, rec.Code, rec.Body, want)
					}
					return rec.Body.String()
				}
				const v1 = "/certainExternal/service/v1/"
				start := time.Now()
				for i := range n {
					email := fmt.Sprintf("lead%d@x.example", i)
					do(http.MethodGet, v1+"Profile/ACME?externalKey=M-"+fmt.Sprint(i)+"&orderBy=dateModified_asc&start_index=0&max_results=200", "", 404)
					do(http.MethodGet, v1+"Profile/ACME?email="+email+"&orderBy=dateModified_asc&start_index=0&max_results=200", "", 404)
					out := do(http.MethodPost, v1+"Profile/ACME", fmt.Sprintf(`{"email":%q,"externalKey":"M-%d"}`, email, i), 201)
					pin := out[strings.Index(out, `"pin":"`)+7:]
					pin = pin[:strings.IndexByte(pin, '"')]
					do(http.MethodPost, v1+"Registration/ACME/HS26", fmt.Sprintf(`{"profile":{"pin":%q}}`, pin), 201)
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/float64(n), "µs/lead")
			}
		})
	}
}
