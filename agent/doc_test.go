package agent

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The docs tell users to `go get`/`go install` this module at a version: every such line must name
// the module path of go.mod (or a package below it) and a version Go resolves for a module in the
// agent/ subdirectory (a semver, whose tag is agent/vX.Y.Z, or latest).
func TestDocsNameTheModule(t *testing.T) {
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^module (\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("no module line in go.mod")
	}
	module := string(m[1])
	if !strings.HasSuffix(module, "/agent") {
		t.Fatalf("module %s: the agent lives in agent/, so its path ends in /agent (and its tags are agent/vX.Y.Z)", module)
	}
	line := regexp.MustCompile(`go (?:get|install)\s+(?:-\S+\s+)*(\S*fleetprof\S*)`)
	found := 0
	for _, doc := range []string{"README.md", filepath.Join("..", "README.md"), filepath.Join("..", "docs", "getting-started.md")} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range line.FindAllSubmatch(b, -1) {
			found++
			target := string(g[1])
			path, version, _ := strings.Cut(target, "@")
			if path != module && !strings.HasPrefix(path, module+"/") {
				t.Errorf("%s: %q is not the module %s or a package of it", doc, target, module)
			}
			if version != "latest" && !regexp.MustCompile(`^v0\.\d+\.\d+$`).MatchString(version) {
				t.Errorf("%s: %q: want @v0.X.Y (tag agent/v0.X.Y) or @latest; the module is v0 (a v2+ needs the path %s/v2)", doc, target, module)
			}
		}
	}
	if found == 0 {
		t.Fatal("no go get / go install line found in the docs")
	}
}
