// Package rie runs the functions' real bootstraps under the Lambda Runtime
// Interface Emulator (aws-lambda-rie) for tests, the way `make local-invoke`
// does: built for the host, started on private 127.0.0.1 ports, one POST of an
// event, response and log lines back. It exists so that the template tests
// (the handler contract with empty tables) and the end-to-end tests (effects
// with seeded tables and simulators) drive the emulator the same way instead
// of each keeping its own copy of the process handling.
package rie

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/testkit/external"
)

// RepoRoot is the module's root directory (where go.mod and functions/ are).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("rie: cannot locate the package source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Binary finds aws-lambda-rie: $AWS_LAMBDA_RIE (set by make test), PATH, or
// .tools/bin. Under -short it skips the test; otherwise it fails the test
// when the emulator is missing, naming the make target that installs it.
func Binary(t testing.TB) string {
	t.Helper()
	return external.Require(t, "aws-lambda-rie", "AWS_LAMBDA_RIE", external.RIEHint,
		filepath.Join(RepoRoot(t), ".tools", "bin", "aws-lambda-rie"))
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// BuildLocal builds every function for the host, as `make build-local` does
// (-tags lambda.norpc, CGO off), into dir: the bootstrap of functions/<fn> is
// dir/<fn>.
func BuildLocal(t testing.TB, dir string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", dir+string(os.PathSeparator), "./functions/...")
	cmd.Dir = RepoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build functions for the host: %v\n%s", err, out)
	}
}

// Invoke runs bootstrap under the emulator binary rie with exactly env as its
// environment (the emulator hands it on to the function), posts event once
// the emulator listens, and returns the response body and the emulator's
// output (the function's log lines plus the emulator's own). Each call uses
// its own --runtime-interface-emulator-address and --runtime-api-address, so
// calls never collide with each other or with a developer's `make
// local-invoke`. The emulator is stopped before Invoke returns.
func Invoke(t testing.TB, rie, bootstrap string, env []string, event []byte) (resp []byte, logs string) {
	t.Helper()
	addr, apiAddr := FreeAddr(t), FreeAddr(t)
	var out bytes.Buffer
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", apiAddr, bootstrap)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start aws-lambda-rie: %v", err)
	}
	// stop ends the emulator and waits for its output to be copied; only then is out safe
	// to read.
	stopped := false
	stop := func() string {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		return out.String()
	}
	defer stop()
	url := "http://" + addr + "/2015-03-31/functions/function/invocations"
	client := &http.Client{Timeout: 60 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := client.Post(url, "application/json", bytes.NewReader(event))
		if err == nil {
			body, rerr := io.ReadAll(r.Body)
			r.Body.Close()
			if rerr != nil {
				t.Fatalf("read response: %v", rerr)
			}
			time.Sleep(50 * time.Millisecond) // let the emulator flush the function's last log lines
			return body, stop()
		}
		if time.Now().After(deadline) {
			t.Fatalf("aws-lambda-rie did not answer at %s: %v\n%s", addr, err, stop())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// EmulatorLine reports whether a line of the emulator's output is its own
// (START, END, REPORT, "(rapid)" diagnostics) rather than something the
// function printed.
func EmulatorLine(line string) bool {
	for _, p := range []string{"START RequestId:", "END RequestId:", "REPORT RequestId:"} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return strings.Contains(line, "(rapid)")
}

// CheckJSONLogLines asserts that every line the function printed is one JSON
// object with a level, so Lambda's level filter and Logs Insights understand
// it. It returns how many lines the function printed.
func CheckJSONLogLines(t testing.TB, logs string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(logs, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || EmulatorLine(line) {
			continue
		}
		n++
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("the function printed a line that is not one JSON object: %q", line)
			continue
		}
		if _, ok := m["level"]; !ok {
			t.Errorf("log line without level (Lambda counts it as INFO): %q", line)
		}
	}
	return n
}
