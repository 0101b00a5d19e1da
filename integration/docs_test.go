package integration

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsStandOnTheirOwn: nothing in the project points at files outside
// it. Markdown links must resolve to files inside the project, and no file
// a user or contributor reads names the private notes or the machine the
// project was built on.
func TestDocsStandOnTheirOwn(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	self, _ := filepath.Abs("docs_test.go")
	forbidden := regexp.MustCompile(`(?i)/work/(?:shared|wt|main|\.library)\b|\.\./shared|\bDESIGN\.md\b|\bSTYLE\.md\b|\bBRIEF\.md\b`)
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	checked := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if strings.HasPrefix(name, ".") && p != root || name == "testdata" || name == "build" {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(name)
		if p == self || !(ext == ".md" || ext == ".go" || ext == ".sh" || ext == ".yaml" || ext == ".yml" || ext == ".service" || name == "Makefile" || strings.HasPrefix(name, "post") || name == "prerm") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		checked++
		rel, _ := filepath.Rel(root, p)
		for i, line := range strings.Split(string(b), "\n") {
			if m := forbidden.FindString(line); m != "" {
				t.Errorf("%s:%d points outside the project (%q): %s", rel, i+1, m, strings.TrimSpace(line))
			}
			if ext != ".md" {
				continue
			}
			for _, l := range link.FindAllStringSubmatch(line, -1) {
				target := l[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				target, _, _ = strings.Cut(target, "#")
				abs := filepath.Join(filepath.Dir(p), target)
				if r, err := filepath.Rel(root, abs); err != nil || strings.HasPrefix(r, "..") {
					t.Errorf("%s:%d links outside the project: %s", rel, i+1, l[1])
				} else if _, err := os.Stat(abs); err != nil {
					t.Errorf("%s:%d links to a missing file: %s", rel, i+1, l[1])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d files checked under %s", checked, root)
	}
}
