// Package promtool holds the tests of the shipped Prometheus rules
// (deploy/prometheus) and Grafana dashboard (deploy/grafana): promtool
// check and unit tests, and a check that every PromQL expression parses and
// names only metrics the gateway exports (internal/telemetry). It needs
// the promtool binary (apt package prometheus, installed by
// scripts/deps.sh); in CI a missing promtool fails the tests.
package promtool
