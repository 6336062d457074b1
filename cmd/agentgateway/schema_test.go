package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSchemaCommand(t *testing.T) {
	want, err := os.ReadFile("../../schema/config.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "s.json")
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stdout     string // substring, or the whole schema when "schema"
		stderr     string
		fileSchema bool
	}{
		{name: "stdout", args: []string{"schema"}, stdout: "schema"},
		{name: "file", args: []string{"schema", "--out", out}, fileSchema: true},
		{name: "help", args: []string{"schema", "--help"}, stdout: "Usage: agentgateway schema"},
		{name: "bad flag", args: []string{"schema", "--bogus"}, code: 2, stderr: "flag provided but not defined"},
		{name: "extra arg", args: []string{"schema", "x"}, code: 2, stderr: `unexpected argument "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var so, se bytes.Buffer
			if code := run(tc.args, &so, &se); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, se.String())
			}
			switch {
			case tc.stdout == "schema":
				if !bytes.Equal(so.Bytes(), want) {
					t.Error("output differs from schema/config.schema.json")
				}
			case !strings.Contains(so.String(), tc.stdout):
				t.Errorf("stdout %q lacks %q", so.String(), tc.stdout)
			}
			if !strings.Contains(se.String(), tc.stderr) {
				t.Errorf("stderr %q lacks %q", se.String(), tc.stderr)
			}
			if tc.fileSchema {
				got, err := os.ReadFile(out)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("written file differs from schema/config.schema.json (%v)", err)
				}
			}
		})
	}
}
