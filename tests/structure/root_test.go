package structure

import (
	"path/filepath"
	"runtime"
	"testing"
)

// repoRoot is the repository root, found from this file's location so the
// tests work from any working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}
