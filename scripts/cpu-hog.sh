#!/usr/bin/env bash
# Runs a command with one busy loop per CPU core beside it, then stops the loops: how to check that the suite holds on
# a loaded machine (the acceptance of a suite that passes under load, not only on an idle one).
#
# Usage:   scripts/cpu-hog.sh <command> [args...]
# Example: bash scripts/cpu-hog.sh npm test
# Environment: CPU_HOG_PROCS  number of busy loops (default: the number of cores, nproc)
# Exit status: the command's.
set -uo pipefail
if [ $# -eq 0 ]; then
  echo "usage: scripts/cpu-hog.sh <command> [args...], e.g. bash scripts/cpu-hog.sh npm test" >&2
  exit 2
fi
n=${CPU_HOG_PROCS:-$(nproc)}
pids=()
for ((i = 0; i < n; i++)); do
  (while :; do :; done) &
  pids+=("$!")
done
trap 'kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null' EXIT
echo "cpu-hog: $n busy loop(s) (pids ${pids[*]}) beside: $*" >&2
"$@"
rc=$?
exit "$rc"
