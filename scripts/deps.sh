#!/usr/bin/env bash
# Installs what sysward's build, tests, demo and benchmarks need on Debian 12.
# Idempotent: only missing packages are installed; needs root for that.
set -euo pipefail

pkgs=(
  gcc make pkg-config file             # cgo for libseccomp-golang
  libseccomp-dev                       # enforcer (libseccomp-golang)
  clang llvm libbpf-dev bpftool        # make generate (bpf2go)
  runc busybox-static containerd       # real container tests
  podman                               # enforcer: podman --security-opt seccomp= test
  prometheus                           # detector metrics scrape test
  redis-server redis-tools             # benchmarks and e2e (test/e2e realserver) on a real server
  nginx-light                          # e2e: the real-server learning test's second server
  strace                               # elfhints: the libc table checked against strace
  etcd-server containernetworking-plugins iptables iproute2   # internal/kubetest: apiserver and the test node
  groff-base                           # cmd/sysward: sysward.1 rendered as man(1) does
)
# `scripts/deps.sh realworld`: the servers and clients of bench/realworld.
if [ "${1:-}" = realworld ]; then
  pkgs+=(lighttpd memcached postgresql postgresql-contrib sqlite3 curl)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing Debian packages: ${missing[*]} (run 'make deps' as root)" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts these services on install; sysward's tests start their own.
for s in redis-server prometheus containerd etcd nginx lighttpd memcached postgresql; do
  systemctl disable --now "$s" >/dev/null 2>&1 || service "$s" stop >/dev/null 2>&1 || true
done
