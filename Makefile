# sysward — see README.md. `make demo` and `make test` are the two commands.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/sysward/sysward/internal/version.Version=$(VERSION)
BIN := bin/sysward
FUZZTIME ?= 30s

.PHONY: all deps build test demo generate bench fuzz clean agent-profile realworld e2e image

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

# Regenerates the eBPF objects (bpf2go, clang), the syscall tables (libseccomp) and
# the CLI reference (docs/cli.md, sysward.1) from the command definitions.
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

# The agent's OCI image (no container daemon): a static sysward (libseccomp
# linked in) in a one-layer image tagged as deploy/base/kustomization.yaml's
# images: entry pins. Import: ctr -n k8s.io images import bin/sysward-image.tar
IMAGE_REF = $(shell $(GO) run ./scripts/image -print-ref)
image: deps
	CGO_ENABLED=1 $(GO) build -tags osusergo,netgo -ldflags "-s -w -linkmode external -extldflags -static -X github.com/sysward/sysward/internal/version.Version=$(lastword $(subst :, ,$(IMAGE_REF)))" -o bin/sysward-static ./cmd/sysward
	$(GO) run ./scripts/image -binary bin/sysward-static -o bin/sysward-image.tar

# A real single-node Kubernetes (internal/kubetest: etcd, apiserver,
# controller-manager, scheduler, containerd, kubelet on 127.0.0.1) and the
# agent DaemonSet on it (test/e2e). Root. The first run on a machine builds
# the Kubernetes binaries into /var/cache/sysward/k8s (tens of minutes cold).
e2e: build image
	$(GO) test -count=1 -timeout 60m -v ./internal/kubetest ./internal/kube ./test/e2e

# Runs every Fuzz target for FUZZTIME each.
fuzz: deps
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

clean:
	rm -rf bin
