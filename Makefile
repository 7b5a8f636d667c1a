# sysward — see README.md. `make demo` and `make test` are the two commands.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/sysward/sysward/internal/version.Version=$(VERSION)
BIN := bin/sysward
FUZZTIME ?= 30s

.PHONY: all deps build test demo generate bench fuzz clean agent-profile realworld

all: build

deps:
	@scripts/deps.sh

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/sysward

# Unit, property, privileged (root in CI) and fuzz-seed tests. Fuzz targets
# run their seed corpus as ordinary tests.
test: build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 45m ./...

demo: build
	@scripts/demo.sh

# Regenerates the eBPF objects (bpf2go, clang) and the syscall tables (libseccomp).
generate: deps
	$(GO) generate ./...

# Benchmarks print ratio tables against a baseline measured in the same run.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

# Learned profiles on six real Debian servers, learned once under a small load and
# enforced under a broader one (minutes; not part of make test). Root.
# make realworld [ONLY=redis,sqlite3] [VARIANTS=trace,full,families,baseline,static]
VARIANTS ?= trace,full
realworld: build
	@scripts/deps.sh realworld
	$(GO) test -tags realworld -count=1 -timeout 60m ./bench/realworld -run TestRealWorld -v -args -only '$(ONLY)' -variants '$(VARIANTS)'

# Re-learns the DaemonSet agent's own seccomp profile (deploy/base/sysward-agent.json)
# through the workload of TestAgentUnderItsOwnProfile. Root.
agent-profile: build
	$(GO) test -count=1 -run '^TestAgentUnderItsOwnProfile$$' ./deploy -update-agent-profile -v

# Runs every Fuzz target for FUZZTIME each.
fuzz: deps
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

clean:
	rm -rf bin
