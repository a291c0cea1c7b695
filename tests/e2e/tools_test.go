package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// fatalRecorder records a Fatal instead of ending the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper()           {}
func (r *fatalRecorder) Fatal(args ...any) { r.msg = fmt.Sprint(args...) }

// Without moto_server the end-to-end test fails (it does not skip) and says
// what is missing and where to get it.
func TestMissingMotoServerFailsNamingIt(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	r := &fatalRecorder{TB: t}
	requireMoto(r)
	for _, want := range []string{"moto_server", "make tools", "make test", "pip install"} {
		if !strings.Contains(r.msg, want) {
			t.Errorf("failure message %q lacks %q", r.msg, want)
		}
	}
}
