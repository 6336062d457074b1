// Package fuzzlist checks that the fuzzing in CI cannot silently fall
// behind the code: every native fuzz target in the module runs in `make
// fuzz` and has a committed corpus under its package's testdata/fuzz.
package fuzzlist

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var fuzzFunc = regexp.MustCompile(`(?m)^func (Fuzz\w+)\(f \*testing\.F\)`)

func TestEveryFuzzTargetRunsWithACorpus(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".cache" || d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		for _, m := range fuzzFunc.FindAllStringSubmatch(string(src), -1) {
			name := m[1]
			found++
			line := regexp.MustCompile(`(?m)-fuzz='\^` + name + `\$\$'.* \./` + regexp.QuoteMeta(dir) + `/$`)
			if !line.Match(mk) {
				t.Errorf("%s (%s) is not run by `make fuzz`", name, dir)
			}
			entries, err := os.ReadDir(filepath.Join(root, dir, "testdata", "fuzz", name))
			if err != nil || len(entries) == 0 {
				t.Errorf("%s (%s) has no committed corpus in testdata/fuzz/%s", name, dir, name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 10 {
		t.Fatalf("found only %d fuzz targets; is the walk broken?", found)
	}
}
