// Command agentgateway is the CLI of the Agent Gateway: run, validate,
// explain, version, demo and (development only) token. All behaviour lives
// in internal packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/demo"
	"github.com/agentgateway-go/agentgateway/internal/devissuer"
	"github.com/agentgateway-go/agentgateway/internal/gateway"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/all"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes. validate documents them in its help; every command uses the
// same meaning.
const (
	exitOK      = 0
	exitConfig  = 1 // the config has errors (or a command failed)
	exitUsage   = 2 // bad command line
	exitRefused = 3 // validate: the config is valid but `run` would refuse it
)

const usage = `agentgateway — an MCP and A2A gateway

Usage:
  agentgateway run      --config PATH   serve (env AGENTGATEWAY_CONFIG)
  agentgateway validate --config PATH   check a config without serving
  agentgateway explain  --config PATH --sub SUBJECT (--tool T | --target A)
                                        show which authorization rule decides
  agentgateway demo                     run the gateway with demo tools and agent
  agentgateway token    --sub SUBJECT   DEVELOPMENT ONLY: mint a token the demo accepts
  agentgateway version                  print the version and build revision
  agentgateway schema   [--out FILE]    print the JSON Schema of the config file

Run 'agentgateway COMMAND --help' (or 'agentgateway help COMMAND') for the
flags of a command.
`

// commands maps each subcommand to its implementation.
var commands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"run":      cmdRun,
	"validate": cmdValidate,
	"explain":  cmdExplain,
	"version":  cmdVersion,
	"demo":     cmdDemo,
	"token":    cmdToken,
	"schema":   cmdSchema,
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "--version", "-v":
		return cmdVersion(nil, stdout, stderr)
	case "help", "-h", "--help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return c([]string{"--help"}, stdout, stderr)
			}
			fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[1], usage)
			return exitUsage
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	if c, ok := commands[args[0]]; ok {
		return c(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// flags is a flag set whose help is written by hand: a description, then
// every flag in --flag style with its value name (the flag package's own
// PrintDefaults shows -flag and takes the value name from backquotes in the
// text, which garbles text that quotes a command).
type flags struct {
	*flag.FlagSet
	name   string
	help   string            // text before the flag list
	meta   map[string]string // flag -> value name ("" for a bool)
	short  map[string]string // long flag -> its one-letter alias
	alias  map[string]bool   // one-letter aliases (not listed on their own)
	stdout io.Writer
	stderr io.Writer
}

func newFlags(name, help string, stdout, stderr io.Writer) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The flag package writes its parse errors here; help goes to stdout.
	fs.SetOutput(stderr)
	f := &flags{FlagSet: fs, name: name, help: help, meta: map[string]string{}, short: map[string]string{}, alias: map[string]bool{}, stdout: stdout, stderr: stderr}
	fs.Usage = func() {}
	return f
}

// string defines a string flag with a value name for the help.
func (f *flags) string(p *string, name, meta, def, usage string) {
	f.StringVar(p, name, def, usage)
	f.meta[name] = meta
}

// shorthand makes -s an alias of --long.
func (f *flags) shorthand(s, long string) {
	fl := f.Lookup(long)
	f.Var(fl.Value, s, "shorthand for --"+long)
	f.short[long] = s
	f.alias[s] = true
}

// writeHelp writes the help text and the flag list.
func (f *flags) writeHelp(w io.Writer) {
	fmt.Fprint(w, f.help)
	var lines [][2]string
	width := 0
	f.VisitAll(func(fl *flag.Flag) {
		if f.alias[fl.Name] {
			return
		}
		left := "--" + fl.Name
		if s, ok := f.short[fl.Name]; ok {
			left = "-" + s + ", " + left
		}
		if m := f.meta[fl.Name]; m != "" {
			left += " " + m
		}
		right := fl.Usage
		if fl.DefValue != "" && fl.DefValue != "false" && fl.DefValue != "[]" {
			right += " (default " + fl.DefValue + ")"
		}
		lines = append(lines, [2]string{left, right})
		width = max(width, len(left))
	})
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "\nFlags:")
	for _, l := range lines {
		fmt.Fprintf(w, "  %-*s  %s\n", width, l[0], l[1])
	}
	fmt.Fprintln(w, "  -h, --help"+strings.Repeat(" ", max(0, width-len("-h, --help")))+"  show this help")
}

// parse parses args. ok is false when the command must return code: 0
// after --help (printed to stdout), 2 after a bad flag or a stray argument.
func (f *flags) parse(args []string) (code int, ok bool) {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.writeHelp(f.stdout)
			return exitOK, false
		}
		return f.usageError("")
	}
	if f.NArg() > 0 {
		return f.usageError(fmt.Sprintf("unexpected argument %q", f.Arg(0)))
	}
	return 0, true
}

// usageError prints msg (the flag package has printed its own) and a
// pointer to the help, and returns the usage exit code.
func (f *flags) usageError(msg string) (int, bool) {
	if msg != "" {
		fmt.Fprintf(f.stderr, "%s: %s\n", f.name, msg)
	}
	fmt.Fprintf(f.stderr, "Run 'agentgateway %s --help' for usage.\n", f.name)
	return exitUsage, false
}

// configFlag defines --config/-c, defaulting to $AGENTGATEWAY_CONFIG.
func (f *flags) configFlag(p *string) {
	f.string(p, "config", "PATH", os.Getenv("AGENTGATEWAY_CONFIG"), "config file: a gateway.yaml, a ConfigMap manifest, or a manifest stream such as helm template output (env AGENTGATEWAY_CONFIG)")
	f.shorthand("c", "config")
}

// needConfig reports a missing --config.
func (f *flags) needConfig(path string) (int, bool) {
	if path == "" {
		return f.usageError("no config: pass --config PATH or set AGENTGATEWAY_CONFIG")
	}
	return 0, true
}

const runHelp = `Usage: agentgateway run --config PATH

Loads, validates and serves the config. It reloads the config on SIGHUP and
when the file changes (a new config that fails validation is logged and the
running one kept), and drains on SIGTERM or SIGINT.

Exit codes: 0 after a clean shutdown, 1 when the config is refused or the
gateway fails, 2 on a bad command line.
`

func cmdRun(args []string, stdout, stderr io.Writer) int {
	f := newFlags("run", runHelp, stdout, stderr)
	var path string
	f.configFlag(&path)
	if code, ok := f.parse(args); !ok {
		return code
	}
	if code, ok := f.needConfig(path); !ok {
		return code
	}
	if err := gateway.RunFile(context.Background(), gateway.RunOptions{ConfigPath: path, Stderr: stderr, Version: versionString()}); err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	return exitOK
}

const demoHelp = `Usage: agentgateway demo [--port 8080] [--admin-port 9090] [--state-dir DIR]

Runs the gateway with built-in demo MCP tools and an A2A agent, trusting a
development token issuer whose signing key it keeps in the state directory.
Mint tokens for it with 'agentgateway token'. Not for production.
`

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	f := newFlags("demo", demoHelp, stdout, stderr)
	port := f.Int("port", 8080, "gateway port")
	f.meta["port"] = "PORT"
	adminPort := f.Int("admin-port", 9090, "health and metrics port")
	f.meta["admin-port"] = "PORT"
	var stateDir string
	f.string(&stateDir, "state-dir", "DIR", devissuer.DefaultStateDir(), "where the development issuer keeps its signing key (shared with agentgateway token)")
	if code, ok := f.parse(args); !ok {
		return code
	}
	err := demo.Run(context.Background(), demo.Options{Port: *port, AdminPort: *adminPort, StateDir: stateDir, Stdout: stdout, Stderr: stderr})
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	return exitOK
}

const tokenHelp = `Usage: agentgateway token --sub SUBJECT [--aud agent-gateway] [--ttl 1h] [--iss URL] [--state-dir DIR]

DEVELOPMENT ONLY. Mints a JSON Web Token shaped like a Kubernetes
ServiceAccount token, signed with the development issuer key that
'agentgateway demo' creates in its state directory, and prints it. Only a
gateway that trusts that key (the demo) accepts it. Never point a real
deployment at the development issuer.

Example:
  TOKEN=$(agentgateway token --sub system:serviceaccount:agent-core-infra:planning-agent-sa)
`

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func cmdToken(args []string, stdout, stderr io.Writer) int {
	f := newFlags("token", tokenHelp, stdout, stderr)
	var sub, iss, stateDir string
	f.string(&sub, "sub", "SUBJECT", "", "subject (sub claim), e.g. system:serviceaccount:NAMESPACE:NAME (required)")
	var aud listFlag
	f.Var(&aud, "aud", "audience (repeatable; default "+devissuer.DefaultAudience+")")
	f.meta["aud"] = "AUDIENCE"
	ttl := f.Duration("ttl", devissuer.DefaultTTL, "lifetime, at most "+devissuer.MaxTTL.String())
	f.meta["ttl"] = "DURATION"
	f.string(&iss, "iss", "URL", devissuer.DefaultIssuer, "issuer (iss claim)")
	f.string(&stateDir, "state-dir", "DIR", devissuer.DefaultStateDir(), "the demo's state directory holding the signing key")
	if code, ok := f.parse(args); !ok {
		return code
	}
	if sub == "" {
		code, _ := f.usageError("--sub SUBJECT is required")
		return code
	}
	k, err := devissuer.LoadKey(stateDir)
	if err != nil {
		fmt.Fprintln(stderr, "token:", err)
		return exitConfig
	}
	tok, err := k.Mint(devissuer.TokenOptions{Subject: sub, Issuer: iss, Audiences: aud, TTL: *ttl, Now: time.Now()})
	if err != nil {
		fmt.Fprintln(stderr, "token:", err)
		return exitUsage
	}
	fmt.Fprintln(stdout, tok)
	return exitOK
}
