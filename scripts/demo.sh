#!/usr/bin/env bash
# make demo: the main job on a built-in sample workload (filled in as issues land).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "demo: not built yet"
