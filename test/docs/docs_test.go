// Package docs checks that the repository's prose stands on its own: links
// resolve, the README's commands still work, and nothing sends the reader to
// a guide that is not in the repository.
package docs

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/demo"
	"github.com/agentgateway-go/agentgateway/internal/devissuer"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

const root = "../.."

// markdownFiles are the reader-facing Markdown files: README.md, docs/ and
// examples/ (recursively).
func markdownFiles(t *testing.T) []string {
	t.Helper()
	files := []string{filepath.Join(root, "README.md")}
	for _, dir := range []string{"docs", "examples"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(p, ".md") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func rel(p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return r
}

// guideRef matches prose that points at the document this project grew from
// (an EKS user guide that is not in this repository). Benchmark and test
// names such as gateway-seed, seed-notrace or BenchmarkSeedChain are not
// matched: they name things in the repository.
var guideRef = regexp.MustCompile(`(?i)\buser[- ]guide\b|\bthe guide\b|\bguide's\b|\bseed guide\b|\bthe seed\b|(?:^|[^-\w])seed's\b|\b(Step|Steps) [0-9]+(\.[0-9]+)?\b|\(seed\b`)

func guideRefs(name, text string) []string {
	var out []string
	for i, line := range strings.Split(text, "\n") {
		if m := guideRef.FindString(line); m != "" {
			out = append(out, fmt.Sprintf("%s:%d: %q in: %s", name, i+1, m, strings.TrimSpace(line)))
		}
	}
	return out
}

func TestGuideRefPattern(t *testing.T) {
	for _, s := range []string{"the user guide's agents", "see Step 6.2", "the seed's metrics port", "as the guide does", "Steps 1–10", "HighErrorRate (seed)", "the guide's flags", "the seed's config"} {
		if !guideRef.MatchString(s) {
			t.Errorf("not matched: %q", s)
		}
	}
	for _, s := range []string{"gateway-seed-notrace", "BenchmarkSeedChain", "fuzz seed corpora", "seed-trace", "divided by gateway-seed's", "docs/guide.md", "a step of 5"} {
		if guideRef.MatchString(s) {
			t.Errorf("matched: %q", s)
		}
	}
}

// TestNoGuideReferences fails when the README, docs/, examples/, the
// demo's printed output or generated config, the chart or the manifests
// under deploy/ refer the reader to a guide that is not in the repository.
func TestNoGuideReferences(t *testing.T) {
	var bad []string
	files := markdownFiles(t)
	// Every example, and everything under deploy/: the chart (values,
	// templates, dashboards, alerts) and the plain manifests.
	for _, dir := range []string{"examples", "deploy"} {
		_ = filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".md") {
				files = append(files, p)
			}
			return nil
		})
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bad = append(bad, guideRefs(rel(f), string(data))...)
	}
	// What `make demo` prints, with every policy enforced and with none
	// (the "not in this build" line), and the config it generates.
	tokens := map[string]string{}
	for _, s := range devissuer.DemoSubjects {
		tokens[s] = "eyJ..."
	}
	for _, enforced := range []func(string) bool{policy.Enforced, func(string) bool { return false }} {
		in := demo.Instructions{Port: 8080, AdminPort: 9090, ConfigPath: "/tmp/gateway.yaml", IssuerURL: "http://127.0.0.1:1",
			StateDir: "/tmp/state", Tokens: tokens, Expires: time.Unix(0, 0), Enforced: enforced}
		bad = append(bad, guideRefs("demo output", in.String())...)
		cfg := demo.Config(demo.ConfigOptions{Port: 8080, AdminPort: 9090, MCPURL: "http://127.0.0.1:2", AgentURL: "http://127.0.0.1:3", EventsURL: "http://127.0.0.1:5",
			PlanningURL: "http://127.0.0.1:4", JWKSURI: "http://127.0.0.1:1/openid/v1/jwks", Enforced: enforced})
		bad = append(bad, guideRefs("demo config", cfg)...)
	}
	sort.Strings(bad)
	bad = dedupe(bad)
	for _, b := range bad {
		t.Error(b)
	}
	if len(bad) > 0 {
		t.Logf("%d references to a guide the reader does not have; say what the thing is instead", len(bad))
	}
}

func dedupe(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

var (
	// [text](target) and ![alt](target); the target stops at a space or ")".
	mdLink   = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	fenceRe  = regexp.MustCompile("^\\s*(```|~~~)")
	headerRe = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
)

// proseLines returns the lines of md outside fenced code blocks (code is
// not rendered as links), keeping line numbers.
func proseLines(md string) []string {
	lines := strings.Split(md, "\n")
	in := false
	for i, l := range lines {
		if fenceRe.MatchString(l) {
			in = !in
			lines[i] = ""
			continue
		}
		if in {
			lines[i] = ""
		}
	}
	return lines
}

// anchors returns the GitHub heading anchors of a Markdown file.
func anchors(md string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, l := range proseLines(md) {
		m := headerRe.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		a := slug(m[2])
		if n := seen[a]; n > 0 {
			out[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	// Explicit HTML anchors.
	for _, m := range regexp.MustCompile(`<a (?:name|id)="([^"]+)"`).FindAllStringSubmatch(md, -1) {
		out[m[1]] = true
	}
	return out
}

// slug is GitHub's heading anchor: lower case, inline markup removed,
// punctuation other than "-" and "_" dropped, spaces to "-".
func slug(h string) string {
	h = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(h, "$1")
	h = strings.ToLower(h)
	var b strings.Builder
	for _, r := range h {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_':
			b.WriteRune(r)
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r > 127 && isLetter(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isLetter(r rune) bool { return strings.ContainsRune("éèàüöäçñ", r) }

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Getting started":                   "getting-started",
		"`jwt-authn`: JWKS and TokenReview": "jwt-authn-jwks-and-tokenreview",
		"Step 1. Install (Helm)":            "step-1-install-helm",
		"Rate limits & Redis":               "rate-limits--redis",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRelativeLinks fails on a relative link in README.md, docs/ or
// examples/ whose file does not exist, or whose #anchor names no heading of
// the Markdown file it points at.
func TestRelativeLinks(t *testing.T) {
	checked := 0
	for _, f := range markdownFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range proseLines(string(data)) {
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				checked++
				where := fmt.Sprintf("%s:%d: link %q", rel(f), i+1, target)
				path, anchor, _ := strings.Cut(target, "#")
				dest := f
				if path != "" {
					dest = filepath.Join(filepath.Dir(f), path)
					if _, err := os.Stat(dest); err != nil {
						t.Errorf("%s: %s does not exist", where, rel(dest))
						continue
					}
				}
				if anchor == "" || !strings.HasSuffix(dest, ".md") {
					continue
				}
				md, err := os.ReadFile(dest)
				if err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				if !anchors(string(md))[anchor] {
					t.Errorf("%s: %s has no heading with anchor #%s", where, rel(dest), anchor)
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d relative links found; is the link pattern broken?", checked)
	}
}

// shellBlocks returns the lines of the README's ```sh / ```bash blocks.
func shellBlocks(md string) []string {
	var out []string
	in := false
	for _, l := range strings.Split(md, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "```") {
			info := strings.TrimSpace(strings.TrimPrefix(t, "```"))
			in = !in && (info == "sh" || info == "bash" || info == "console" || info == "shell")
			continue
		}
		if in {
			out = append(out, l)
		}
	}
	return out
}

var (
	makeRef  = regexp.MustCompile("(?:^|[\\s`(])make ([a-z][a-z0-9-]*)")
	makeTgt  = regexp.MustCompile(`(?m)^([a-z][a-z0-9-]*):`)
	gwCmd    = regexp.MustCompile(`agentgateway ([a-z]+)((?:\s+(?:-[-a-z-]+|\[[^\]]*\]|[^\s#|;&>]+))*)`)
	flagRe   = regexp.MustCompile(`(?:^|\s|\[)--?([a-z][a-z-]*)`)
	pathRefs = regexp.MustCompile("(?:^|[\\s`(\\[])((?:docs|examples|deploy|test|internal|cmd|scripts|bench|schema)/[A-Za-z0-9_./-]*[A-Za-z0-9_/-])")
)

// TestREADMECommands fails when a command the README shows no longer
// works: a `make` target that the Makefile lacks, an agentgateway
// subcommand or flag the binary does not know, a config passed to
// `validate` that does not validate, or a repository path that does not
// exist.
func TestREADMECommands(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range makeTgt.FindAllStringSubmatch(string(makefile), -1) {
		targets[m[1]] = true
	}
	// make targets, in prose and in code.
	for _, m := range makeRef.FindAllStringSubmatch(string(readme), -1) {
		if !targets[m[1]] {
			t.Errorf("README names `make %s`; the Makefile has no such target", m[1])
		}
	}
	// Repository paths, in prose and in code.
	for _, m := range pathRefs.FindAllStringSubmatch(string(readme), -1) {
		p := strings.TrimRight(m[1], ".")
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("README names %s, which does not exist", p)
		}
	}

	bin := filepath.Join(t.TempDir(), "agentgateway")
	build := exec.Command("go", "build", "-o", bin, "./cmd/agentgateway")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	helps := map[string]string{}
	help := func(sub string) string {
		if h, ok := helps[sub]; ok {
			return h
		}
		var out bytes.Buffer
		cmd := exec.Command(bin, sub, "--help")
		cmd.Stdout, cmd.Stderr = &out, &out
		_ = cmd.Run() // the exit code of --help is the CLI's business; its text is ours
		helps[sub] = out.String()
		return helps[sub]
	}
	commands := 0
	for _, line := range shellBlocks(string(readme)) {
		code, _, _ := strings.Cut(line, " #") // a trailing comment may name flags in prose
		for _, m := range gwCmd.FindAllStringSubmatch(code, -1) {
			commands++
			sub, args := m[1], m[2]
			h := help(sub)
			if strings.Contains(h, "unknown command") || strings.Contains(h, "unknown subcommand") {
				t.Errorf("README: `agentgateway %s`: the binary does not know it:\n%s", sub, h)
				continue
			}
			for _, f := range flagRe.FindAllStringSubmatch(args, -1) {
				if !regexp.MustCompile(`(?m)(^|\s)--?` + regexp.QuoteMeta(f[1]) + `\b`).MatchString(h) {
					t.Errorf("README: `agentgateway %s` uses flag %s, which its --help does not list:\n%s", sub, f[1], h)
				}
			}
			if sub == "validate" {
				fields := strings.Fields(args)
				for i, f := range fields {
					if (f == "--config" || f == "-config" || f == "-c") && i+1 < len(fields) {
						cmd := exec.Command(bin, "validate", "--config", fields[i+1])
						cmd.Dir = root
						if out, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(out), "refuse") {
							t.Errorf("README: `agentgateway validate --config %s`: %v\n%s", fields[i+1], err, out)
						}
					}
				}
			}
		}
	}
	if commands < 3 {
		t.Fatalf("only %d agentgateway commands found in the README; is the pattern broken?", commands)
	}
}
