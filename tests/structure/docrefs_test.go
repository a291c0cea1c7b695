package structure

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// mdRef is a reference to a Markdown file, with an optional section sign
// after it ("docs/jobs.md §4", "docs/marketo.md §6.4").
var mdRef = regexp.MustCompile(`([A-Za-z0-9_./-]+\.md)\b(?:[ ,]*§([0-9]+(?:\.[0-9]+)?))?`)

// generated are Markdown files the product writes rather than keeps.
var generated = map[string]bool{".bench/report.md": true, "report.md": true}

// trackedFiles lists the repository's tracked files.
func trackedFiles(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("not a git checkout (%v): the file list comes from git ls-files", err)
	}
	return strings.Fields(string(out))
}

// commentText returns the text a reader sees as comments in a file: Go
// comment groups, or the '#' lines of a Makefile, YAML, TOML or shell file.
func commentText(t *testing.T, path string) string {
	t.Helper()
	if strings.HasSuffix(path, ".go") {
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments)
		if err != nil {
			t.Fatalf("parse %s: %v", path, err)
		}
		var b strings.Builder
		for _, g := range f.Comments {
			b.WriteString(g.Text())
			b.WriteByte('\n')
		}
		return b.String()
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if _, c, ok := strings.Cut(line, "#"); ok {
			b.WriteString(c)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// sections returns the numbered headings of a Markdown file ("4", "6.4").
func sections(t *testing.T, path string) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile(`(?m)^#+ +§?([0-9]+(?:\.[0-9]+)*)\.? `)
	out := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(string(raw), -1) {
		out[m[1]] = true
	}
	return out
}

// TestCommentsPointToDocumentsThatExist: every Markdown file a comment names
// is in the repository, and a section it names (§N) is a heading there.
func TestCommentsPointToDocumentsThatExist(t *testing.T) {
	root := repoRoot(t)
	checked := 0
	for _, rel := range trackedFiles(t) {
		base := filepath.Base(rel)
		switch {
		case strings.HasSuffix(rel, ".go"), base == "Makefile", strings.HasSuffix(rel, ".yaml"),
			strings.HasSuffix(rel, ".yml"), strings.HasSuffix(rel, ".toml"), strings.HasPrefix(rel, ".ci/"):
		default:
			continue
		}
		text := commentText(t, filepath.Join(root, rel))
		for _, m := range mdRef.FindAllStringSubmatch(text, -1) {
			name, sec := m[1], m[2]
			if generated[name] {
				continue
			}
			checked++
			target := filepath.Join(root, name)
			if _, err := os.Stat(target); err != nil {
				t.Errorf("%s: a comment points to %s, which is not in the repository", rel, name)
				continue
			}
			if sec != "" && !sections(t, target)[sec] {
				t.Errorf("%s: a comment points to %s §%s, which has no such numbered heading", rel, name, sec)
			}
		}
	}
	if checked == 0 {
		t.Error("no reference to a Markdown file found in any comment: the scan is broken")
	}
}
