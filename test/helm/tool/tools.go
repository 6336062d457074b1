//go:build tools

// Package tool pins helm.sh/helm/v3 for scripts/helm-bin.sh, which runs
// `go build helm.sh/helm/v3/cmd/helm` in this module.
package tool

import _ "helm.sh/helm/v3/cmd/helm"
