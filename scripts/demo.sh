#!/usr/bin/env bash
# make demo: the main job on a built-in sample workload (filled in as issues land).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "demo: not built yet"

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
