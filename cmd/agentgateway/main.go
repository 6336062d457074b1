// Command agentgateway is the CLI of the Agent Gateway: run, validate,
// version, demo and (development only) token. All behaviour lives in
// internal packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/demo"
	"github.com/agentgateway-go/agentgateway/internal/devissuer"
	"github.com/agentgateway-go/agentgateway/internal/gateway"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/all"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `agentgateway — an MCP and A2A gateway

Usage:
  agentgateway run      --config PATH   serve (env AGENTGATEWAY_CONFIG)
  agentgateway validate --config PATH   check a config without serving
  agentgateway demo                     run the gateway with demo tools and agent
  agentgateway token    --sub SUBJECT   DEVELOPMENT ONLY: mint a token the demo accepts
  agentgateway version                  print the version
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "agentgateway", versionString())
		return 0
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "token":
		return cmdToken(args[1:], stdout, stderr)
	case "schema":
		return cmdSchema(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
	return 2
}

func configFlags(name string, args []string, stderr io.Writer) (string, bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var path string
	fs.StringVar(&path, "config", os.Getenv("AGENTGATEWAY_CONFIG"), "config file (gateway.yaml or a ConfigMap manifest)")
	fs.StringVar(&path, "c", os.Getenv("AGENTGATEWAY_CONFIG"), "shorthand for --config")
	if err := fs.Parse(args); err != nil {
		return "", false
	}
	if path == "" {
		fmt.Fprintln(stderr, "no config: pass --config PATH or set AGENTGATEWAY_CONFIG")
		return "", false
	}
	return path, true
}

func cmdRun(args []string, stderr io.Writer) int {
	path, ok := configFlags("run", args, stderr)
	if !ok {
		return 2
	}
	if err := gateway.RunFile(context.Background(), gateway.RunOptions{ConfigPath: path, Stderr: stderr, Version: versionString()}); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	path, ok := configFlags("validate", args, stderr)
	if !ok {
		return 2
	}
	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	// Provisioning needs I/O (JWKS, Redis) that validate must not do;
	// what remains is whether this build can enforce the config.
	ps := gateway.Problems(cfg)
	for _, p := range ps {
		fmt.Fprintf(stdout, "warning: %s\n", p)
	}
	if len(ps) > 0 {
		fmt.Fprintf(stdout, "%s: valid, but `agentgateway run` will refuse it: %d item(s) not enforced by this build\n", path, len(ps))
		return 0
	}
	fmt.Fprintf(stdout, "%s: valid\n", path)
	return 0
}

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 8080, "gateway port")
	adminPort := fs.Int("admin-port", 9090, "health/metrics port")
	stateDir := fs.String("state-dir", devissuer.DefaultStateDir(), "where the development issuer keeps its signing key (shared with `agentgateway token`)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	err := demo.Run(context.Background(), demo.Options{Port: *port, AdminPort: *adminPort, StateDir: *stateDir, Stdout: stdout, Stderr: stderr})
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

const tokenUsage = `agentgateway token — DEVELOPMENT ONLY

Mints a JSON Web Token shaped like a Kubernetes ServiceAccount token, signed
with the development issuer key that ` + "`agentgateway demo`" + ` creates in its state
directory, and prints it. Only a gateway that trusts that key (the demo)
accepts it. Never point a real deployment at the development issuer.

Usage:
  agentgateway token --sub SUBJECT [--aud agent-gateway] [--ttl 1h] [--iss URL] [--state-dir DIR]

Example:
  TOKEN=$(agentgateway token --sub system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa)

Flags:
`

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func cmdToken(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, tokenUsage)
		fs.PrintDefaults()
	}
	sub := fs.String("sub", "", "subject (sub claim), e.g. system:serviceaccount:NAMESPACE:NAME (required)")
	var aud listFlag
	fs.Var(&aud, "aud", "audience (repeatable; default "+devissuer.DefaultAudience+")")
	ttl := fs.Duration("ttl", devissuer.DefaultTTL, "lifetime, at most "+devissuer.MaxTTL.String())
	iss := fs.String("iss", devissuer.DefaultIssuer, "issuer (iss claim)")
	stateDir := fs.String("state-dir", devissuer.DefaultStateDir(), "the demo's state directory holding the signing key")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *sub == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "token: --sub SUBJECT is required (and no other arguments)")
		fs.Usage()
		return 2
	}
	k, err := devissuer.LoadKey(*stateDir)
	if err != nil {
		fmt.Fprintln(stderr, "token:", err)
		return 1
	}
	tok, err := k.Mint(devissuer.TokenOptions{Subject: *sub, Issuer: *iss, Audiences: aud, TTL: *ttl, Now: time.Now()})
	if err != nil {
		fmt.Fprintln(stderr, "token:", err)
		return 2
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}
