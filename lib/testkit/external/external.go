// Package external is the one place where a test asks for a program outside
// Go: moto_server, aws-lambda-rie, cfn-lint, or the Python that carries the
// SAM translator. Under `go test -short` (make test-unit) every such test is
// skipped here, so the unit loop needs nothing but Go; in the full suite
// (make test) a missing program fails the test with how to install it, never
// a silent skip.
package external

import (
	"os"
	"os/exec"
	"testing"
)

// Install hints, shared by every test that needs the program.
const (
	MotoHint    = "pip install 'moto[server]==5.2.1' (or run .ci/run, which installs it into .tools/venv)"
	CfnLintHint = "pip install cfn-lint==1.51.0 (or run .ci/run, which installs it into .tools/venv)"
	RIEHint     = "make tools (or make test) installs the pinned aws-lambda-rie into .tools/bin"
)

// Skip skips t under -short, naming what it would need. Tests that need an
// outside program call it before anything else, or use Require.
func Skip(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: this test needs %s (make test runs it)", what)
	}
}

// Require skips t under -short and otherwise returns the path of program
// (first from the environment variable env when set, then PATH, then the
// fallback paths), failing t with hint when it is not installed.
func Require(t testing.TB, program, env, hint string, fallbacks ...string) string {
	t.Helper()
	Skip(t, program)
	if env != "" {
		if p := os.Getenv(env); p != "" {
			return p
		}
	}
	if p, err := exec.LookPath(program); err == nil {
		return p
	}
	for _, p := range fallbacks {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("%s is not installed (make test needs it): %s", program, hint)
	return ""
}

// Moto returns the path of moto_server (see Require).
func Moto(t testing.TB) string { return Require(t, "moto_server", "", MotoHint) }

// CfnLint returns the path of cfn-lint (see Require).
func CfnLint(t testing.TB) string { return Require(t, "cfn-lint", "", CfnLintHint) }
