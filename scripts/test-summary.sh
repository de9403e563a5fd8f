#!/usr/bin/env bash
# The closing line of .ci/run, `N passed, N failed`, from mocha's output and npm test's exit status. It cannot pass by
# accident: pending (skipped) tests count as failed, a non-zero exit with no failing test counts as one failure, and a
# run in which nothing passed is a failure.
#
# Usage:   scripts/test-summary.sh <log of npm test> <its exit status>
# Example: bash scripts/test-summary.sh /tmp/npm-test.log 0     # prints e.g. "737 passed, 0 failed"
# Exit status: 0 only when the line says "0 failed".
set -uo pipefail
log=$1
rc=$2
# The last figure of a `  N <word>` line of mocha's epilogue, or 0.
count() { { grep -Eo "^ *[0-9]+ $1( |\$)" "$log" || true; } | tail -n 1 | grep -Eo '[0-9]+' || echo 0; }
passed=$(count passing)
failed=$(count failing)
pending=$(count pending)
if [ "$pending" -gt 0 ]; then
  echo "test-summary: $pending pending (skipped) test(s) count as failed: a skipped test tests nothing" >&2
  failed=$((failed + pending))
fi
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
  echo "test-summary: no test passed: the suite did not run" >&2
  failed=1
fi
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
