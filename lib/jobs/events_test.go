package jobs_test

import (
	"os"
	"path/filepath"
	"testing"
)

// sampleEvent reads a sample invocation from events/: the files that
// `sam local invoke -e` and `make local-invoke` use, so the handler tests and
// the samples cannot drift apart.
func sampleEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatalf("sample event: %v", err)
	}
	return b
}
