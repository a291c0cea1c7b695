package template

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/app"
)

var envNameRe = regexp.MustCompile(`^[A-Z][A-Z0-9_]{2,}$`)

// envReaderRe matches the names of calls that read the environment: os.Getenv,
// os.LookupEnv, and the lookup/get helpers main passes os.LookupEnv into.
var envReaderRe = regexp.MustCompile(`(?i)^(getenv|lookupenv|lookup|get|env|mustenv|requireenv)$`)

// runtimeProvided are set by Lambda (or the SDK reads them itself); the template cannot
// and need not declare them.
func runtimeProvided(name string) bool {
	return strings.HasPrefix(name, "AWS_") || strings.HasPrefix(name, "_") ||
		slices.Contains([]string{"LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ", "LANG", "PATH", "HOME"}, name)
}

// envNamesRead parses the non-test Go files under dir and returns the environment
// variable names they read: the string-literal (or string-constant) argument of a
// one-argument call named like an environment reader.
func envNamesRead(t *testing.T, dir string) []string {
	t.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" && path != dir {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	consts := map[string]string{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if s, err := strconv.Unquote(lit.Value); err == nil {
							consts[name.Name] = s
						}
					}
				}
			}
			return true
		})
	}
	seen := map[string]bool{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return true
			}
			var fn string
			switch c := call.Fun.(type) {
			case *ast.Ident:
				fn = c.Name
			case *ast.SelectorExpr:
				fn = c.Sel.Name
			}
			if !envReaderRe.MatchString(fn) {
				return true
			}
			var name string
			switch a := call.Args[0].(type) {
			case *ast.BasicLit:
				if a.Kind == token.STRING {
					name, _ = strconv.Unquote(a.Value)
				}
			case *ast.Ident:
				name = consts[a.Name]
			}
			if envNameRe.MatchString(name) {
				seen[name] = true
			}
			return true
		})
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func TestEnvScannerFindsReads(t *testing.T) {
	got := envNamesRead(t, filepath.Join("testdata", "envscan"))
	want := []string{"AWS_LAMBDA_LOG_LEVEL", "SAMPLE_DIRECT", "SAMPLE_QUEUE_URL", "SAMPLE_VIA_HELPER", "SAMPLE_VIA_LOOKUP"}
	if !slices.Equal(got, want) {
		t.Errorf("envNamesRead = %v, want %v", got, want)
	}
}

// Every variable the code reads must be declared where the function can see it, or
// `sam local invoke --env-vars` ignores it (aws/aws-sam-cli#6145).
func TestEnvironmentVariablesDeclared(t *testing.T) {
	tp := loadTemplate(t)
	root := repoRoot(t)
	anywhere := map[string]bool{}
	for id := range wantFunctions {
		for k := range tp.envVars(id) {
			anywhere[k] = true
		}
	}
	shared := envNamesRead(t, filepath.Join(root, "lib", "app"))
	scanned := slices.Clone(shared)
	shared = append(shared, app.EnvNames()...)
	for _, name := range shared {
		if !runtimeProvided(name) && !anywhere[name] {
			t.Errorf("lib/app reads %s, which template.yaml declares for no function", name)
		}
	}
	// The variables every function needs, whatever its code: the store and the stage.
	for _, name := range []string{"STAGE", "CONFIG_TABLE", "STATE_TABLE", "MARKETO_BUDGET_MODE", "DEADLINE_MARGIN"} {
		if _, ok := asMap(asMap(tp.globalsFunction()["Environment"])["Variables"])[name]; !ok {
			t.Errorf("Globals does not declare %s", name)
		}
	}
	// The collector's target: lib/app applies the same where the
	// environment sets none (the bench, aws-lambda-rie).
	if v := asMap(asMap(tp.globalsFunction()["Environment"])["Variables"])["GOGC"]; v != strconv.Itoa(app.GCPercent) {
		t.Errorf("Globals declares GOGC %v, lib/app applies %d where the environment sets none", v, app.GCPercent)
	}
	for id, fn := range wantFunctions {
		dir := filepath.Join(root, "functions", fn.dir)
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		vars := tp.envVars(id)
		for _, name := range envNamesRead(t, dir) {
			if _, ok := vars[name]; !ok && !runtimeProvided(name) {
				t.Errorf("functions/%s reads %s, which %s's environment does not declare", fn.dir, name, id)
			}
		}
		scanned = append(scanned, envNamesRead(t, dir)...)
		// The detector sends to the change queue; trigger-campaign postpones
		// quota-stopped messages on it. No job function touches it.
		_, hasQueue := vars["CHANGE_QUEUE_URL"]
		if want := id == "RegistrationChangesFunction" || id == "TriggerCampaignFunction"; hasQueue != want {
			t.Errorf("%s CHANGE_QUEUE_URL declared = %v, want %v", id, hasQueue, want)
		}
		if _, ok := vars["LOG_LEVEL"]; ok {
			t.Errorf("%s declares LOG_LEVEL; the level comes from LoggingConfig (AWS_LAMBDA_LOG_LEVEL)", id)
		}
	}
	// Guard against a scan that silently finds nothing: the code must read the tables.
	for _, name := range []string{"CONFIG_TABLE", "STATE_TABLE"} {
		if !slices.Contains(scanned, name) {
			t.Errorf("no read of %s found under lib/app or functions/: the scanner missed it or the code moved", name)
		}
	}
}
