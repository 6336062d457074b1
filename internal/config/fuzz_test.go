package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse, SetDefaults and Validate never panic and that
// every failure is a non-empty ErrorList.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/golden/*.yaml")
	ex, _ := filepath.Glob("../../examples/*.yaml")
	for _, p := range append(seeds, ex...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(base))
	f.Add([]byte("kind: ConfigMap\ndata:\n  gateway.yaml: |2\n      binds: []\n"))
	f.Add([]byte("a: &a [*a]\nbinds: *a\n"))
	f.Add([]byte("binds:\n- &x {<<: *x}\n"))
	f.Add([]byte("server: {maxBodyBytes: 9999999999TiB, idleTimeout: -0s}\n"))
	f.Add([]byte("kind: Service\n---\nkind: ConfigMap\ndata:\n  gateway.yaml: |\n    binds: [{port: x}]\n"))
	f.Add([]byte("binds:\n  - port: 8080\n    listeners: [{name: l, routes: [{name: r, match: {path: {prefix: x}}, policies: [{type: retry, retry: {attempts: y}}]}]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The one-pass check validates what decoded even when decoding
		// failed: partial configs must not panic SetDefaults, Validate
		// or Warnings either.
		if pc, err := check("fuzz.yaml", data); err != nil {
			var el ErrorList
			if !errors.As(err, &el) || len(el) == 0 {
				t.Fatalf("check error %T %v is not a non-empty ErrorList", err, err)
			}
			if pc != nil {
				_ = pc.Warnings()
			}
		}
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			var el ErrorList
			if !errors.As(err, &el) || len(el) == 0 {
				t.Fatalf("Parse error %T %v is not a non-empty ErrorList", err, err)
			}
			_ = err.Error()
			return
		}
		if c == nil {
			t.Fatal("nil config without error")
		}
		_ = c.Validate()
		c.SetDefaults()
		if err := c.Validate(); err != nil {
			var el ErrorList
			if !errors.As(err, &el) || len(el) == 0 {
				t.Fatalf("Validate error %T is not a non-empty ErrorList", err)
			}
			_ = err.Error()
		}
	})
}
