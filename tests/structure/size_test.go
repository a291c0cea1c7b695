package structure

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/fzipp/gocyclo"
)

// Limits a reader can hold in their head. A file may exceed maxFileLines
// only when it holds one concept, named in oneConcept.
const (
	maxFuncLines      = 100
	maxFuncComplexity = 25
	maxFileLines      = 600
)

// oneConcept lists the non-test files allowed over maxFileLines, each with
// the one concept it holds.
var oneConcept = map[string]string{
	"lib/jobs/leads.go": "leadOps: rules A/B/C and the Marketo and Certain calls that apply them, shared by every job that addresses a lead",
}

// productionGoFiles lists the tracked non-test Go files outside generated
// code.
func productionGoFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, rel := range trackedFiles(t) {
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), "// Code generated ") {
			continue
		}
		out = append(out, rel)
	}
	return out
}

// TestFunctionAndFileSizes keeps every non-test function within
// maxFuncLines and maxFuncComplexity (cyclomatic, as gocyclo counts it) and
// every non-test file within maxFileLines unless it holds one concept.
func TestFunctionAndFileSizes(t *testing.T) {
	root := repoRoot(t)
	var problems []string
	for _, rel := range productionGoFiles(t) {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, filepath.Join(root, rel), nil, parser.ParseComments)
		if err != nil {
			t.Fatalf("parse %s: %v", rel, err)
		}
		if n := fset.Position(f.End()).Line; n > maxFileLines && oneConcept[rel] == "" {
			problems = append(problems, fmt.Sprintf("%s: %d lines (limit %d; split it, or name its one concept in size_test.go)", rel, n, maxFileLines))
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			lines := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
			if lines > maxFuncLines {
				problems = append(problems, fmt.Sprintf("%s: %s is %d lines (limit %d)", rel, fn.Name.Name, lines, maxFuncLines))
			}
		}
		for _, s := range gocyclo.AnalyzeASTFile(f, fset, nil) {
			if s.Complexity > maxFuncComplexity {
				problems = append(problems, fmt.Sprintf("%s: %s has cyclomatic complexity %d (limit %d)", rel, s.FuncName, s.Complexity, maxFuncComplexity))
			}
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
	for rel := range oneConcept {
		if _, err := os.Stat(filepath.Join(root, rel)); err != nil {
			t.Errorf("size_test.go names %s, which does not exist any more", rel)
		}
	}
}
