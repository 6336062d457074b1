package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/agentgateway-go/agentgateway/internal/configschema"
)

const schemaUsage = `Usage: agentgateway schema [--out FILE]

Print the JSON Schema (draft 2020-12) of the gateway config, generated from
the config types. Editors use it for completion and checks: put
  # yaml-language-server: $schema=<path or URL of config.schema.json>
as the first line of a gateway.yaml. The repository ships it as
schema/config.schema.json. The schema checks structure and fixed value
sets; run "agentgateway validate" for the full check.

Flags:
  -o, --out FILE   write the schema to FILE instead of standard output
`

// cmdSchema prints the JSON Schema of gateway.yaml (draft 2020-12), the
// one committed as schema/config.schema.json.
func cmdSchema(args []string, stdout, stderr io.Writer) int {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fmt.Fprint(stdout, schemaUsage)
			return 0
		}
	}
	fs := flag.NewFlagSet("schema", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var out string
	fs.StringVar(&out, "out", "", "write to FILE")
	fs.StringVar(&out, "o", "", "shorthand for --out")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "schema: %v\n\n%s", err, schemaUsage)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "schema: unexpected argument %q\n\n%s", fs.Arg(0), schemaUsage)
		return 2
	}
	b, err := configschema.Generate()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if out == "" {
		_, err = stdout.Write(b)
	} else {
		err = os.WriteFile(out, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(stderr, "schema:", err)
		return 1
	}
	return 0
}
