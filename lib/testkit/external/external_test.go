package external

import (
	"fmt"
	"strings"
	"testing"
)

// fatalRecorder keeps a Fatalf message instead of ending the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper()                        {}
func (r *fatalRecorder) Fatalf(format string, a ...any) { r.msg = fmt.Sprintf(format, a...) }

// In the full suite a missing program fails the test (it does not skip) and
// says what is missing and how to install it. Under -short the test itself
// is skipped by Require, which is the other half of the contract.
func TestMissingProgramFailsNamingIt(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, c := range []struct {
		get  func(testing.TB) string
		want []string
	}{
		{Moto, []string{"moto_server", "pip install", ".ci/run"}},
		{CfnLint, []string{"cfn-lint", "pip install", "1.51.0"}},
		{func(t testing.TB) string { return Require(t, "aws-lambda-rie", "", RIEHint, "/nonexistent/rie") }, []string{"aws-lambda-rie", "make tools"}},
	} {
		r := &fatalRecorder{TB: t}
		if got := c.get(r); got != "" {
			t.Errorf("returned %q for a missing program", got)
		}
		for _, w := range c.want {
			if !strings.Contains(r.msg, w) {
				t.Errorf("failure message %q lacks %q", r.msg, w)
			}
		}
	}
}

func TestEnvironmentVariableWins(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("SOME_TOOL", "/opt/tool")
	if got := Require(t, "some-tool", "SOME_TOOL", "hint"); got != "/opt/tool" {
		t.Errorf("Require = %q, want the path from SOME_TOOL", got)
	}
}
