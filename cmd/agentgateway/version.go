package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

const versionHelp = `Usage: agentgateway version

Prints the version and what the binary was built from: the VCS revision,
its commit time and whether the work tree had uncommitted changes (the Go
toolchain records these in every 'go build' from a git checkout), and the
Go version.
`

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	f := newFlags("version", versionHelp, stdout, stderr)
	if code, ok := f.parse(args); !ok {
		return code
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprint(stdout, versionText(version, bi))
	return exitOK
}

// buildVCS is what the Go toolchain recorded about the checkout.
type buildVCS struct {
	revision, time string
	modified       bool
	known          bool
}

func vcsOf(bi *debug.BuildInfo) buildVCS {
	var v buildVCS
	if bi == nil {
		return v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.revision, v.known = s.Value, true
		case "vcs.time":
			v.time = s.Value
		case "vcs.modified":
			v.modified = s.Value == "true"
		}
	}
	return v
}

// versionName is the one-word version: the -ldflags value, the module
// version (go install ...@v1.2.3), or dev-<revision>.
func versionName(ldflags string, bi *debug.BuildInfo) string {
	if ldflags != "" {
		return ldflags
	}
	if bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	if v := vcsOf(bi); len(v.revision) >= 12 {
		s := "dev-" + v.revision[:12]
		if v.modified {
			s += "-dirty"
		}
		return s
	}
	return "dev"
}

// versionString is the version reported in metrics and traces.
func versionString() string {
	bi, _ := debug.ReadBuildInfo()
	return versionName(version, bi)
}

// versionText is the output of `agentgateway version`.
func versionText(ldflags string, bi *debug.BuildInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "agentgateway %s\n", versionName(ldflags, bi))
	v := vcsOf(bi)
	if v.known {
		fmt.Fprintf(&b, "  revision: %s\n", v.revision)
		if v.time != "" {
			fmt.Fprintf(&b, "  date:     %s\n", v.time)
		}
		fmt.Fprintf(&b, "  modified: %t\n", v.modified)
	} else {
		fmt.Fprintf(&b, "  revision: unknown (built without VCS information: -buildvcs=false, or not from a git checkout)\n")
	}
	if bi != nil && bi.GoVersion != "" {
		fmt.Fprintf(&b, "  go:       %s\n", bi.GoVersion)
	}
	return b.String()
}
