# The two commands that matter: `make demo` and `make test`.
GO        ?= go
CACHE_DIR ?= $(CURDIR)/.cache
BIN_DIR   := $(CACHE_DIR)/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
# Where scripts/kube-bins.sh puts kube-apiserver and etcd, and where the
# e2e tests (test/kubeenv) look for them.
export KUBE_BIN_DIR ?= $(CACHE_DIR)/kube/bin

.PHONY: demo test deps kube build lint unit fuzz bench clean

## demo: the gateway with demo MCP tools and a demo A2A agent, in one process
demo:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/agentgateway demo

## test: installs what the tests need (idempotent), then runs every test
test: deps lint unit fuzz

deps: kube
	@bash scripts/jaeger-bin.sh
	@bash scripts/deps.sh

## kube: builds kube-apiserver and etcd for the e2e tests into .cache/kube/bin (cached)
kube:
	@bash scripts/kube-bins.sh

build:
	@mkdir -p $(BIN_DIR)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN_DIR)/agentgateway ./cmd/agentgateway

lint:
	@out=$$(gofmt -l cmd internal test 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

# Short native-fuzz runs of every parser, on top of their seed corpora that
# `unit` already runs.
FUZZTIME ?= 10s
# A bounded minimization: when -fuzztime runs out while the fuzzer is
# still minimizing a new input, `go test` reports "context deadline
# exceeded" as a failure. Short minimizations keep the run's end clean.
FUZZFLAGS ?= -fuzzminimizetime=20x
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/config/
	$(GO) test -run='^$$' -fuzz='^FuzzParseBody$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/mcp/
	$(GO) test -run='^$$' -fuzz='^FuzzRewriteEvents$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/mcp/
	$(GO) test -run='^$$' -fuzz='^FuzzCheckPath$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/gateway/
	$(GO) test -run='^$$' -fuzz='^FuzzVerify$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/policy/jwt/
	$(GO) test -run='^$$' -fuzz='^FuzzPrefilter$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/policy/jwt/
	$(GO) test -run='^$$' -fuzz='^FuzzAuthorize$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/policy/mcpauthz/

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

clean:
	rm -rf $(CACHE_DIR)
