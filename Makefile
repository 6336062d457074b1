# The two commands that matter: `make demo` and `make test`.
GO        ?= go
CACHE_DIR ?= $(CURDIR)/.cache
BIN_DIR   := $(CACHE_DIR)/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
# Where scripts/kube-bins.sh puts kube-apiserver and etcd, and where the
# e2e tests (test/kubeenv) look for them.
export KUBE_BIN_DIR ?= $(CACHE_DIR)/kube/bin
# Where scripts/helm-bin.sh puts helm, and where test/helm looks for it.
export HELM_BIN_DIR ?= $(CACHE_DIR)/helm/bin
# Where scripts/conformance-bin.sh installs the MCP conformance suite and
# its Node.js, and where test/conformance looks for them.
export CONFORMANCE_DIR ?= $(CACHE_DIR)/conformance
HELM      := $(HELM_BIN_DIR)/helm
IMAGE     ?= agentgateway:$(VERSION)
CHART     := deploy/helm/agentgateway

.PHONY: help demo test deps kube helm tools chart-files manifests image build lint unit budgets fuzz bench bench-smoke soak clean

# Where scripts/tools-bin.sh puts the pinned lint tools (staticcheck, goimports).
export TOOLS_DIR ?= $(CACHE_DIR)/tools
MODULE    := github.com/agentgateway-go/agentgateway

## help: lists every target with what it does
help:
	@awk '/^## [a-z-]+:/ { sub(/^## /, ""); split($$0, a, ": "); printf "  %-12s %s\n", a[1], substr($$0, length(a[1]) + 3); next } /^## / { sub(/^## /, ""); printf "  %-12s %s\n", "", $$0 }' $(MAKEFILE_LIST)

## demo: the gateway with demo MCP tools and a demo A2A agent, in one process
## (loopback only; PORT=8080 and ADMIN_PORT=9090 pick other ports)
demo: PORT ?= 8080
demo: ADMIN_PORT ?= 9090
demo:
	@echo "demo: compiling the gateway (the first time takes about 2 minutes; later runs start in seconds)"
	@$(GO) run -ldflags "$(LDFLAGS)" ./cmd/agentgateway demo --port $(PORT) --admin-port $(ADMIN_PORT)

## test: installs what the tests need (idempotent), then runs every test
test: deps lint unit budgets bench-smoke fuzz

## deps: installs what the tests need (apt packages, kube-apiserver, etcd, Helm, Jaeger, the MCP conformance suite, lint tools); idempotent
deps: kube helm tools
	@bash scripts/jaeger-bin.sh
	@bash scripts/deps.sh
	@bash scripts/conformance-bin.sh

## kube: builds kube-apiserver and etcd for the e2e tests into .cache/kube/bin (cached)
kube:
	@bash scripts/kube-bins.sh

## helm: builds helm v3 for the chart tests into .cache/helm/bin (cached)
helm:
	@bash scripts/helm-bin.sh

## tools: builds the pinned lint tools (staticcheck, goimports) into .cache/tools (cached)
tools:
	@bash scripts/tools-bin.sh

## chart-files: copies the Grafana dashboards and Prometheus alerts into the chart (test/helm fails when stale)
chart-files:
	@mkdir -p $(CHART)/files/dashboards
	@rm -f $(CHART)/files/dashboards/*.json $(CHART)/files/agent-gateway-alerts.yaml
	@for f in deploy/grafana/*.json; do [ -e "$$f" ] && cp "$$f" $(CHART)/files/dashboards/; done; true
	@[ ! -e deploy/prometheus/agent-gateway-alerts.yaml ] || cp deploy/prometheus/agent-gateway-alerts.yaml $(CHART)/files/

## manifests: renders deploy/kubernetes/agent-gateway.yaml from the chart (test/helm fails when stale)
manifests: helm chart-files
	$(HELM) template agent-gateway $(CHART) --namespace agent-gateway \
		-f $(CHART)/ci/kubernetes-manifests-values.yaml >deploy/kubernetes/agent-gateway.yaml.tmp
	@mv deploy/kubernetes/agent-gateway.yaml.tmp deploy/kubernetes/agent-gateway.yaml

## image: builds the container image (skipped, with a message, without a Docker daemon)
image:
	@if docker info >/dev/null 2>&1; then \
		docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) . ; \
	else echo "image: no Docker daemon here; skipped"; fi

## build: builds the gateway binary into .cache/bin/agentgateway
build:
	@mkdir -p $(BIN_DIR)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN_DIR)/agentgateway ./cmd/agentgateway

## lint: gofmt, goimports (standard, third-party and this module's imports in separate groups), go vet and staticcheck
lint: tools
	@out=$$(gofmt -l cmd internal test bench 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@out=$$($(TOOLS_DIR)/goimports -l -local $(MODULE) cmd internal test bench); if [ -n "$$out" ]; then echo "goimports needed (goimports -w -local $(MODULE)):"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS_DIR)/staticcheck ./...

## unit: every Go test (unit, end-to-end, chart, conformance) with the race detector
unit:
	$(GO) test -race -count=1 -timeout 20m ./...

## budgets: the counted (not timed) budgets that the race detector would distort, run without it: allocations per exchange, memory per idle stream
budgets:
	$(GO) test -count=1 -run '^(TestExchangeAllocs|TestIdleStreamMemory)$$' -v ./internal/gateway/

# Short native-fuzz runs of every parser, on top of their seed corpora that
# `unit` already runs (f.Add seeds plus the committed testdata/fuzz
# corpora; test/fuzzlist checks that every Fuzz target is listed here and
# has one). Longer local runs: make fuzz FUZZTIME=5m.
FUZZTIME ?= 10s
# A bounded minimization: when -fuzztime runs out while the fuzzer is
# still minimizing a new input, `go test` reports "context deadline
# exceeded" as a failure. Short minimizations make that rarer, and
# scripts/fuzz.sh passes a run whose only failure is that message (a real
# finding always writes its failing input).
FUZZFLAGS ?= -fuzzminimizetime=20x
## fuzz: a short native-fuzz run (FUZZTIME, 10s) of every parser and codec
fuzz:
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/config/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzCanonicalHost$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/config/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzParseBody$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/mcp/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzRewriteEvents$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/mcp/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzLookup$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/mcp/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzReadList$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/mcp/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzCheckPath$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/gateway/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzVerify$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/policy/jwt/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzPrefilter$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/policy/jwt/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzAuthorize$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/policy/mcpauthz/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzGlob$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/policy/mcpauthz/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzFilterAnyList$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/policy/mcpauthz/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzRewriteCard$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/a2a/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzMethod$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/a2a/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzResolve$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/a2a/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzPushURL$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/a2a/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzCompileAttributes$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/telemetry/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzTraceparent$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/telemetry/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzReadResponse$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/upstream/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzSessionOpen$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/federation/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzSessionDecode$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/federation/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzNames$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/federation/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzCursor$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/federation/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzServerID$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/federation/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzResultType$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/federation/
	scripts/fuzz.sh $(GO) test -run='^$$' -fuzz='^FuzzBackendView$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./test/e2e/

## bench: the benchmark harness (direct, nginx, go-bare, gateway; bench/, docs/bench.md),
## writing bench/results/<date>.md, then the go test microbenchmarks. Under 10 minutes.
BENCHFLAGS ?=
bench:
	$(GO) run ./bench/cmd/agbench -out bench/results $(BENCHFLAGS)
	$(GO) test -run='^$$' -bench=. -benchmem ./...

## bench-smoke: the harness for ~1 s per cell: every path answers, no performance target asserted
bench-smoke:
	$(GO) run ./bench/cmd/agbench -smoke

## soak: a long mixed MCP and A2A load through the seed's full chain with streams open (make test runs 2m)
SOAK_DURATION ?= 10m
soak:
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test -race -count=1 -timeout 60m -run '^TestSoak$$' -v ./test/e2e/

## clean: removes .cache (the cached builds of the test dependencies)
clean:
	rm -rf $(CACHE_DIR)
