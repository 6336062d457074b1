# syntax=docker/dockerfile:1
# Agent Gateway image: a static binary on distroless, non-root.
#   make image                      # docker build -t agentgateway:$(VERSION) .
#   docker run --rm -v $PWD/examples:/etc/agentgateway:ro agentgateway:dev
# The Helm chart (deploy/helm/agentgateway) mounts the config ConfigMap at
# /etc/agentgateway and relies on this ENTRYPOINT.

ARG GO_VERSION=1.26.8
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/agentgateway ./cmd/agentgateway

# Static, no shell, no package manager; uid/gid 65532 (nonroot).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/agentgateway /usr/local/bin/agentgateway
USER 65532:65532
# 8080: the gateway (binds); 9090: admin (/healthz, /readyz, /metrics).
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/agentgateway", "run", "--config", "/etc/agentgateway/gateway.yaml"]
