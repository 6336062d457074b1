package config

import _ "embed"

// TypesSource is the Go source of types.go. The JSON Schema generator
// (internal/configschema) reads the doc comments of the config types from
// it, so that `agentgateway schema` describes every field without the
// repository at hand and the descriptions cannot drift from the code.
//
//go:embed types.go
var TypesSource []byte
