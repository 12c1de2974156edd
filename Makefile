# Auditstream. `make help` lists the targets; `make demo` and `make test` are
# the two that do everything on a fresh machine.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Every module of the workspace. A root `go test ./...` does not reach into
# workspace modules (golang/go#50745), so each target loops over them.
MODULES := $(shell go list -m -f '{{.Dir}}' 2>/dev/null)

# Build tags of every build and test. goccy_gojson makes the Datadog
# client encode with goccy/go-json instead of encoding/json (its documented
# opt-in): the same requests, for about a quarter less of the Datadog
# sink's CPU.
export GO_TAGS := goccy_gojson
export GOFLAGS := $(strip $(GOFLAGS) -tags=$(GO_TAGS))

STACK_DIR ?= $(CURDIR)/.stack
CACHE ?= $(HOME)/.cache/auditstream
BIN := $(CURDIR)/bin

# Pinned code generators, fetched through the Go module proxy.
BUF_VERSION := v1.75.0
PROTOC_GEN_GO_VERSION := v1.36.12
TOOLS := $(CACHE)/tools/buf-$(BUF_VERSION)-pgg-$(PROTOC_GEN_GO_VERSION)
# Pinned staticcheck, its checks in staticcheck.conf. It refuses code
# newer than the Go it was built with, so a new Go builds it again.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(CACHE)/tools/staticcheck-$(STATICCHECK_VERSION)-$(shell go env GOVERSION)/staticcheck

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: build
# A command is a main package under a cmd/ directory. It may be a module of
# its own (producer/cmd/producer), which its parent's ./... does not reach.
build: ## build every command into bin/
	@mkdir -p $(BIN)
	@for m in $(MODULES); do \
	  cmds=$$(cd $$m && go list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' ./... | grep /cmd/ || true); \
	  if [ -n "$$cmds" ]; then (cd $$m && GOBIN=$(BIN) go install $$cmds); fi; done
	@ls $(BIN)

.PHONY: test
test: lint proto-check deps ## gofmt, vet, generated-code check, then every module's tests against the real stack
	@./stack/test.sh

.PHONY: unit
unit: ## every module's unit tests (no services needed)
	@for m in $(MODULES); do (cd $$m && go test ./...); done

.PHONY: lint
# staticcheck runs once over every module: one process shares the loading
# and type-checking that thirteen would each redo.
lint: $(STATICCHECK) ## gofmt, go vet and staticcheck, every module
	@bad=$$(find . -path ./.stack -prune -o -name '*.go' -print0 | xargs -0 gofmt -l); \
	  if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	@for m in $(MODULES); do (cd $$m && go vet -tags integration,$(GO_TAGS) ./...); done
	@$(STATICCHECK) -tags integration,$(GO_TAGS) $(addsuffix /...,$(MODULES))
	@echo "lint: ok"

$(STATICCHECK):
	@mkdir -p $(@D)
	GOBIN=$(@D) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(TOOLS)/buf $(TOOLS)/protoc-gen-go:
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(TOOLS) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)

.PHONY: proto
proto: $(TOOLS)/buf $(TOOLS)/protoc-gen-go ## regenerate the Go code of proto/ with the pinned buf and protoc-gen-go
	cd proto && PATH=$(TOOLS):$$PATH buf lint && PATH=$(TOOLS):$$PATH buf generate

.PHONY: proto-check
proto-check: $(TOOLS)/buf $(TOOLS)/protoc-gen-go ## fail if the committed generated code is stale
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; cp -r proto/. $$tmp/; \
	  (cd $$tmp && PATH=$(TOOLS):$$PATH buf generate); \
	  for f in $$(cd proto && find . -name '*.pb.go'); do \
	    cmp -s proto/$$f $$tmp/$$f || { echo "proto/$$f is stale: run make proto"; exit 1; }; done; \
	  [ "$$(cd proto && find . -name '*.pb.go' | wc -l)" = "$$(cd $$tmp && find . -name '*.pb.go' | wc -l)" ] \
	    || { echo "generated files differ in number: run make proto"; exit 1; }
	@echo "proto: generated code is current"

.PHONY: release-check
release-check: ## publish proto and the SDK into a file-based proxy, and build an outside module with it
	@cd release && go test -count=1 ./...

.PHONY: deps
deps: ## install what the tests and the demo need from the OS registries (kcat, Java, Maven) when missing
	@./stack/deps.sh

.PHONY: up
up: ## start Apache Kafka and MinIO on 127.0.0.1 (reusing a running stack); writes .stack/env
	@./stack/up.sh

.PHONY: down
down: ## stop the local stack (data is kept under .stack/)
	@./stack/down.sh

.PHONY: demo
demo: ## the pipeline end to end for DURATION s (60), checked from the outside (EMBEDDED=1: kfake, not Apache Kafka)
	@./demo/run.sh

.PHONY: bench
bench: ## measure against raw franz-go, the floor and the peer on one broker; rewrites BENCHMARKS.md (BENCH_SCALE=0.1 for a quick look)
	@./bench/run.sh

.PHONY: chaos
# The run uses the stack's own STACK_DIR: its faults restart that broker and
# stop that MinIO. SEED=N replays a run; SHORT=1 is the variant of make test.
chaos: build ## faults on the whole pipeline, 5-10 min (SEED=N to replay, SHORT=1 for the 90 s variant)
	@STACK_DIR="$(STACK_DIR)" ./stack/up.sh kafka minio >/dev/null
	@set -a; . "$(STACK_DIR)/env"; set +a; STACK_DIR="$(STACK_DIR)" "$(BIN)/chaos" --bin "$(BIN)" --stack stack \
	  --stack-dir "$(STACK_DIR)" $(if $(SEED),--seed $(SEED)) $(if $(SHORT),--short) $(CHAOS_FLAGS)

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 30s; FUZZ=REGEXP picks targets)
	@./stack/fuzz.sh

.PHONY: clean
clean: ## remove built binaries (the stack's data stays; see stack/README.md)
	rm -rf $(BIN)
