package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/gateway"
)

const validateHelp = `Usage: agentgateway validate --config PATH [--print]

Checks a config the way 'agentgateway run' does, without serving and without
I/O (no JWKS fetch, no Redis connection). It reports every problem in one
pass, type errors and semantic errors together, sorted by line, each as
FILE:LINE:COL: FIELD.PATH: MESSAGE. Warnings (a config that runs, but
probably not as meant) are printed as well; they do not change the exit code.

The file may be a gateway.yaml, a ConfigMap manifest holding it under
data."gateway.yaml" (or data."config.yaml"), or a manifest stream with
several documents, such as 'helm template' output, holding exactly one such
ConfigMap. Line numbers are those of the file as given.

Exit codes:
  0  valid: 'agentgateway run' accepts it
  1  the config has errors (or cannot be read)
  2  bad command line
  3  valid, but 'agentgateway run' of this build refuses it (for example a
     policy type this build does not enforce)

--print writes the effective config to stdout as YAML: every default
applied, secrets redacted (inline passwords, credentials in URLs; files such
as passwordFile are named, never read). Messages then go to stderr.
`

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	f := newFlags("validate", validateHelp, stdout, stderr)
	var path string
	f.configFlag(&path)
	print := f.Bool("print", false, "write the effective config (defaults applied, secrets redacted) to stdout")
	if code, ok := f.parse(args); !ok {
		return code
	}
	if code, ok := f.needConfig(path); !ok {
		return code
	}
	msgs := stdout
	if *print {
		msgs = stderr
	}
	cfg, err := config.Check(path)
	if err != nil {
		var el config.ErrorList
		if errors.As(err, &el) {
			for _, e := range el {
				fmt.Fprintf(stderr, "error: %s\n", e)
			}
			fmt.Fprintf(stderr, "%s: invalid: %d error(s)\n", path, len(el))
		} else {
			fmt.Fprintln(stderr, err)
		}
		if cfg != nil {
			printWarnings(stderr, cfg)
		}
		return exitConfig
	}
	printWarnings(msgs, cfg)
	// Provisioning needs I/O (JWKS, Redis) that validate must not do;
	// what remains is whether this build can enforce the config.
	ps := gateway.Problems(cfg)
	for _, p := range ps {
		fmt.Fprintf(stderr, "refused: %s\n", p)
	}
	if *print {
		out, err := renderEffective(cfg)
		if err != nil {
			fmt.Fprintln(stderr, "validate:", err)
			return exitConfig
		}
		fmt.Fprint(stdout, out)
	}
	if len(ps) > 0 {
		fmt.Fprintf(stderr, "%s: valid, but `agentgateway run` refuses it: %d item(s) this build does not support\n", path, len(ps))
		return exitRefused
	}
	fmt.Fprintf(msgs, "%s: valid\n", path)
	return exitOK
}

func printWarnings(w io.Writer, cfg *config.Config) {
	for _, warn := range cfg.Warnings() {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}
