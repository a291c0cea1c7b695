package structure

import (
	"encoding/json"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/certain-marketo/certain-marketo"

// goPackage is the part of `go list -json` these tests read.
type goPackage struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

// listPackages runs `go list -json` with args in the repository root.
func listPackages(t *testing.T, args ...string) []goPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(out)
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	return pkgs
}

// isHarness reports whether a package of this module exists only to test or
// demonstrate the product: the simulators and test doubles (…test), the
// harness subtree lib/testkit, the system tests under tests/, and the
// executables under infra/.
func isHarness(path string) bool {
	rel, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return false
	}
	last := rel[strings.LastIndex(rel, "/")+1:]
	return strings.HasPrefix(rel, "lib/testkit/") || strings.HasPrefix(rel, "tests/") ||
		strings.HasPrefix(rel, "infra/") || strings.HasSuffix(last, "test")
}

// TestFunctionsShipNoHarness: what a Lambda links is production code only:
// no simulator, no test harness, no package testing.
func TestFunctionsShipNoHarness(t *testing.T) {
	var bad []string
	for _, p := range listPackages(t, "-deps", "./functions/...") {
		switch {
		case p.ImportPath == "testing", strings.HasPrefix(p.ImportPath, "testing/"),
			p.ImportPath == "net/http/httptest", isHarness(p.ImportPath):
			bad = append(bad, p.ImportPath)
		}
	}
	if len(bad) > 0 {
		t.Errorf("go list -deps ./functions/... lists harness or test packages: %v", bad)
	}
}

// layer ranks the production packages: a package may import only packages of
// a lower rank (or of its own family, such as lib/store and its
// implementations below it). Data flows one way, as docs/architecture.md
// draws it.
var layer = []struct {
	prefix string
	rank   int
}{
	{"lib/clock", 0},
	{"lib/obs", 0},
	{"lib/fieldtype", 0},
	{"lib/wire", 0},
	{"lib/recent", 0},
	{"lib/certain", 1},
	{"lib/marketo", 1},
	{"lib/secrets", 1},
	{"lib/config", 2},
	{"lib/limit", 2},
	{"lib/store", 3},
	{"lib/store/memstore", 4},
	{"lib/store/dynamostore", 4},
	{"lib/dryrun", 4},
	{"lib/jobs", 5},
	{"lib/app", 6},
	{"functions/", 7},
}

// rankOf returns the rank of a production package, or -1 when the table
// does not place it.
func rankOf(path string) int {
	rel := strings.TrimPrefix(path, module+"/")
	best, rank := "", -1
	for _, l := range layer {
		if (rel == l.prefix || strings.HasPrefix(rel, strings.TrimSuffix(l.prefix, "/")+"/")) && len(l.prefix) > len(best) {
			best, rank = l.prefix, l.rank
		}
	}
	return rank
}

// TestLayers: every production package is placed in the layer table, never
// imports the harness, and imports only lower layers.
func TestLayers(t *testing.T) {
	var problems []string
	for _, p := range listPackages(t, "./lib/...", "./functions/...") {
		if isHarness(p.ImportPath) {
			continue
		}
		r := rankOf(p.ImportPath)
		if r < 0 {
			problems = append(problems, p.ImportPath+": not placed in the layer table of tests/structure/layers_test.go")
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			if isHarness(imp) {
				problems = append(problems, p.ImportPath+" imports the harness package "+imp)
				continue
			}
			if ir := rankOf(imp); ir >= r {
				problems = append(problems, p.ImportPath+" (layer "+itoa(r)+") imports "+imp+" (layer "+itoa(ir)+"): an import up the layers")
			}
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
}

func itoa(i int) string {
	if i < 0 {
		return "none"
	}
	return string(rune('0' + i))
}
