package ops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The configuration examples the README points operators to stay valid and
// show a job of every type.
func TestDocsExamplesValidate(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "docs", "examples", "*.yaml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("docs/examples: %v, err %v; want the connection and jobs examples", files, err)
	}
	r := cmctl(t, nil, append([]string{"validate"}, files...)...)
	if r.code != ExitOK {
		t.Fatalf("cmctl validate docs/examples: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var all strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	for _, typ := range []string{"import-leads", "import-profiles", "sync-leads", "trigger-campaign", "engagement-metrics", "interest-metrics"} {
		if !strings.Contains(all.String(), "type: "+typ+"\n") {
			t.Errorf("docs/examples has no job of type %s", typ)
		}
	}
}
