// Package conformance runs the MCP conformance suite
// (@modelcontextprotocol/conformance, server scenarios) against the go-sdk
// conformance server (github.com/modelcontextprotocol/go-sdk/conformance/everything-server,
// at the go-sdk version go.mod pins), once directly and once through the
// real gateway binary, and requires both runs to score the same, check by
// check. A proxy that changes what an MCP client sees, or that lets
// through what the server itself refuses (DNS rebinding), shows up as a
// difference.
//
// The suite and the Node.js 22 it runs on are installed by
// scripts/conformance-bin.sh (make deps) into .cache/conformance (or
// $CONFORMANCE_DIR); in CI a missing suite fails the test. The current
// per-scenario results are in testdata/results.txt; refresh them with
//
//	go test ./test/conformance -run TestConformance -update
package conformance
