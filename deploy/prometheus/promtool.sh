#!/usr/bin/env bash
# Print the path of the pinned promtool, building it first if it is not in
# the cache. The version is the one of the Prometheus image that
# docker-compose.yml runs (prom/prometheus:v3.5.0 is the Go module version
# v0.305.0), so the rules are checked by the parser that will load them;
# TestPromtool fails when the two differ.
#
# `go install ...promtool@v0.305.0` refuses that version: its go.mod has a
# replace directive (fsnotify v1.8.0 => v1.7.0), which go install does not
# allow. So the binary is built in a throwaway module that requires
# Prometheus and repeats that replace.
set -euo pipefail
PROMETHEUS_VERSION=3.5.0
PROMETHEUS_MODULE_VERSION=v0.305.0
FSNOTIFY_REPLACE=github.com/fsnotify/fsnotify@v1.8.0=github.com/fsnotify/fsnotify@v1.7.0
CACHE="${CACHE:-$HOME/.cache/auditstream}"
dir="$CACHE/tools/promtool-$PROMETHEUS_VERSION"
bin="$dir/promtool"
if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (
    cd "$work"
    export GOWORK=off GOFLAGS=-mod=mod
    go mod init promtool-build >/dev/null 2>&1
    go mod edit -replace="$FSNOTIFY_REPLACE"
    # go get, not go mod tidy: tidy would also resolve the test imports
    # of every dependency, at their latest versions.
    go get "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION"
    # The version Prometheus's release builds stamp in (promu does it).
    go build -ldflags "-X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION" \
      -o "$bin.tmp" github.com/prometheus/prometheus/cmd/promtool
    mv "$bin.tmp" "$bin"
  ) >&2
fi
echo "$bin"
