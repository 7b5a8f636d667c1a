#!/usr/bin/env bash
# make demo: the main job on a built-in sample workload (filled in as issues land).
set -euo pipefail
cd "$(dirname "$0")/.."
# --- the profile toolbox (issue 2) on the shipped samples in
# examples/profiles: lint, the Docker comparison, a bad profile, diff, merge,
# explain and every export format; the exported profile then runs in runc. ---
profiles_demo() (
  local sw ex dir
  sw=$(realpath "${SYSWARD:-bin/sysward}")
  ex=$(realpath examples/profiles)
  dir=$(mktemp -d /tmp/sysward-profiles-demo.XXXXXX)
  cd "$dir"
  cp "$ex"/*.json .
  step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

  step "1. a learned-style profile: summary" "sysward profile show redis.json"
  "$sw" profile show redis.json | cut -c1-160
  step "2. lint it (dangerous syscalls, architectures, Docker's default)" "sysward profile lint redis.json"
  "$sw" profile lint redis.json
  step "3. Docker's default profile, exported from moby/profiles and linted (exit 1: high findings)" \
    "sysward profile export --docker-default --arch x86_64 -o docker-default.json && sysward profile lint docker-default.json"
  "$sw" profile export --docker-default --arch x86_64 -o docker-default.json
  "$sw" profile lint docker-default.json || echo "(exit status $?)"
  step "4. a risky hand-written profile" "sysward profile lint --fail-on never risky.json"
  "$sw" profile lint --fail-on never risky.json
  step "5. a typo'd syscall is bad input: exit 2, naming file, line, entry and name" "sysward profile lint bad-typo.json"
  "$sw" profile lint bad-typo.json || echo "(exit status $?)"
  step "6. what changes between two workloads" "sysward profile diff busybox-sh.json busybox-httpd.json"
  "$sw" profile diff busybox-sh.json busybox-httpd.json
  step "7. merge them (union, provenance kept)" "sysward profile merge -o merged.json busybox-sh.json busybox-httpd.json && sysward profile show merged.json"
  "$sw" profile merge -o merged.json busybox-sh.json busybox-httpd.json
  "$sw" profile show merged.json | grep -v '^    '
  step "8. why is clone3 allowed in redis.json, and ptrace not?" "sysward profile explain redis.json clone3 ptrace"
  "$sw" profile explain redis.json clone3 ptrace
  step "9. export: Security Profiles Operator resource" "sysward profile export --format spo --name redis --namespace cache redis.json | head -12"
  "$sw" profile export --format spo --name redis --namespace cache redis.json | head -12
  step "10. export: securityContext patch for a Deployment" "sysward profile export --format pod-patch --name redis redis.json"
  "$sw" profile export --format pod-patch --name redis redis.json
  step "11. export: Falco rules for the workload" "sysward profile export --format falco --name redis redis.json"
  "$sw" profile export --format falco --name redis redis.json
  if [ "$(id -u)" = 0 ] && command -v runc >/dev/null && [ -x /bin/busybox ]; then
    step "12. the exported OCI profile in real runc: a busybox container runs under it" \
      "sysward profile export busybox-sh.json > seccomp.json; jq '.linux.seccomp = \$profile' config.json; runc run"
    "$sw" profile export --strip-sysward busybox-sh.json > seccomp.json
    mkdir -p bundle/rootfs/bin && cp /bin/busybox bundle/rootfs/bin/ && ln -s busybox bundle/rootfs/bin/sh
    (cd bundle && runc spec)
    python3 - bundle/config.json seccomp.json <<'PY'
import json, sys
cfg, prof = sys.argv[1], sys.argv[2]
c = json.load(open(cfg))
c["process"].update(terminal=False, args=["sh", "-c", "echo ok from a container under busybox-sh.json"], env=["PATH=/bin"])
c["linux"]["seccomp"] = json.load(open(prof))
json.dump(c, open(cfg, "w"), indent=1)
PY
    local id="sysward-demo-$$"
    (cd bundle && runc run "$id") || echo "(runc exit status $?)"
    runc delete -f "$id" 2>/dev/null || true
  fi
  cd / && rm -rf "$dir"
)
profiles_demo

# --- the full loop (issue 6): learn -> profile -> enforce -> watch -> the
# workload does something new -> the alert (text, then the JSON line). ---
loop_demo() (
  local sw dir
  sw=$(realpath "${SYSWARD:-bin/sysward}")
  dir=$(mktemp -d /tmp/sysward-demo.XXXXXX)
  cd "$dir"
  # The sample workload: a busybox shell script (a static binary, so the same
  # syscalls every run). "new" adds what it never did while learned.
  local normal='cat /etc/hostname >/dev/null; ls / >/dev/null; echo "sample workload ran"'
  local new="$normal; sync; mkfifo fifo"
  step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

  step "learn the sample workload" "sysward learn -q -o sample.json -- busybox sh -c \"\$normal\""
  "$sw" learn -q -o sample.json -- busybox sh -c "$normal" >/dev/null
  step "the profile" "sysward profile show sample.json"
  "$sw" profile show sample.json | sed -n '2,4p'
  step "enforce it: the workload runs under its profile" "sysward run --profile sample.json -- busybox sh -c \"\$normal\""
  "$sw" run --profile sample.json -- busybox sh -c "$normal"
  step "watch a normal run: nothing to report" "sysward watch --profile sample.json --name sample -- busybox sh -c \"\$normal\""
  "$sw" watch --profile sample.json --name sample -- busybox sh -c "$normal"
  step "enforce and watch while it does something new" "sysward run --profile sample.json --watch --name sample -- busybox sh -c \"\$normal; sync; mkfifo fifo\""
  "$sw" run --profile sample.json --watch --name sample -- busybox sh -c "$new" || true
  rm -f fifo
  step "watch alone, alerts as Falco JSON (what falcosidekick takes)" "sysward watch --profile sample.json --name sample --format json -- busybox sh -c \"\$normal; sync; mkfifo fifo\" | head -1"
  "$sw" watch --profile sample.json --name sample --format json -- busybox sh -c "$new" 2>/dev/null | grep '^{' | head -1
  cd / && rm -rf "$dir"
)
loop_demo

# --- learned -> complain -> promote -> enforce (issue 9): a profile learned
# under a small load is run in complain mode under a broader one (nothing is
# refused, what falls outside is recorded), the deviations are absorbed, and
# promote says when the records show nothing new for the window; then it is
# enforced. ---
promote_demo() (
  local sw dir
  sw=$(realpath "${SYSWARD:-bin/sysward}")
  dir=$(mktemp -d /tmp/sysward-promote-demo.XXXXXX)
  cd "$dir"
  local small='cat /etc/hostname >/dev/null; echo "small load"'
  local broad='cat /etc/hostname >/dev/null; ls / >/dev/null; sync; mkfifo fifo; rm fifo; echo "broad load"'
  step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

  step "learn under a small load (families and the self-query baseline added, each with its source)" \
    "sysward learn -o app.json -- busybox sh -c \"\$small\""
  "$sw" learn -o app.json -- busybox sh -c "$small" >/dev/null
  step "staging: complain mode under a broader load; calls outside the profile run, are alerted and recorded" \
    "sysward run --profile app.json --mode complain --watch --record day1.jsonl --name app -- busybox sh -c \"\$broad\""
  "$sw" run --profile app.json --mode complain --watch --record day1.jsonl --name app -- busybox sh -c "$broad" 2>/dev/null | cut -c1-150
  step "ready to enforce? no: the records hold calls the profile lacks" "sysward profile promote --window 1s app.json day1.jsonl"
  "$sw" profile promote --window 1s app.json day1.jsonl || echo "(exit status $?)"
  step "absorb them into a new profile (source: complain)" "sysward profile absorb -o app.v2.json app.json day1.jsonl"
  "$sw" profile absorb -o app.v2.json app.json day1.jsonl
  "$sw" profile show app.v2.json | grep -A2 'allowed because'
  step "ready now? not yet: the window has not passed since the last new call" "sysward profile promote --window 1s app.v2.json day1.jsonl"
  "$sw" profile promote --window 1s app.v2.json day1.jsonl || echo "(exit status $?)"
  step "another complain run under the new profile: nothing new" \
    "sysward run --profile app.v2.json --mode complain --watch --record day2.jsonl --name app -- busybox sh -c \"\$broad; sleep 1\""
  "$sw" run --profile app.v2.json --mode complain --watch --record day2.jsonl --name app -- busybox sh -c "$broad; sleep 1" 2>/dev/null
  step "promote: ready" "sysward profile promote --window 1s app.v2.json day1.jsonl day2.jsonl"
  "$sw" profile promote --window 1s app.v2.json day1.jsonl day2.jsonl
  step "enforce: the broad load runs under the promoted profile" "sysward run --profile app.v2.json -- busybox sh -c \"\$broad\""
  "$sw" run --profile app.v2.json -- busybox sh -c "$broad"
  cd / && rm -rf "$dir"
)
promote_demo
