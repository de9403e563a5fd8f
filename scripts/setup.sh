#!/usr/bin/env bash
# The system tools this project needs, checked before `npm run demo`, `npm test` and `.ci/run` (one script, so a fresh
# machine behaves the same in all three). When a tool is missing and this runs as root with apt-get, it installs it,
# saying what and why; otherwise it stops with the exact command to run. It never falls back to running without a
# tool: a missing sandbox or notebook runtime would make the tests take their "runtime-missing" path and pass anyway.
#
# Usage: scripts/setup.sh [demo|test]     (default: test; `demo` needs fewer tools)
#   e.g. bash scripts/setup.sh demo
# Environment: CLEANROOM_SETUP_APT_GET  the apt-get to run (default: apt-get from PATH; tests point it at a fake)
# Exit status: 0 when every tool is there (or was installed), 1 otherwise.
set -uo pipefail

# One line per tool: name | needed by (demo, test) | check (shell) | Debian packages | why the project needs it
TOOLS=(
  "bwrap|demo test|command -v bwrap|bubblewrap|the local backend's job sandbox (jobs refuse to run without it)"
  "openssl|demo test|command -v openssl|openssl|the local room's attestation certificates and the tests' throwaway chains"
  "python3|demo test|command -v python3|python3|Python job entrypoints (the quickstart's regression is main.py)"
  "jupyter nbconvert|test|has_notebook_runtime|jupyter-nbconvert python3-ipykernel python3-nbclient|notebook (.ipynb) job entrypoints"
  "chromium|test|command -v chromium|chromium|the web console's browser tests (driven through Debian's chromium)"
)

# nbconvert runs the notebook, nbclient and ipykernel give it a Python kernel: all three or notebooks cannot run.
has_notebook_runtime() {
  local v
  v=$(jupyter --version 2>/dev/null) || return 1
  for p in nbconvert nbclient ipykernel; do
    grep -Eq "^${p} +: [0-9]" <<<"$v" || return 1
  done
}

purpose=${1:-test}
case "$purpose" in
  demo | test) ;;
  *)
    echo "setup: unknown purpose '$purpose' (use demo or test), e.g. bash scripts/setup.sh demo" >&2
    exit 2
    ;;
esac

# Prints the table rows of the tools that are missing for $purpose.
missing_rows() {
  local row name needed check
  for row in "${TOOLS[@]}"; do
    IFS='|' read -r name needed check _ <<<"$row"
    [[ " $needed " == *" $purpose "* ]] || continue
    eval "$check" >/dev/null 2>&1 || printf '%s\n' "$row"
  done
}

missing=$(missing_rows)
[ -z "$missing" ] && exit 0

packages=()
while IFS='|' read -r name _ _ pkgs why; do
  echo "setup: $name is missing: $why" >&2
  read -r -a p <<<"$pkgs"
  packages+=("${p[@]}")
done <<<"$missing"
command_line="apt-get install -y --no-install-recommends ${packages[*]}"

apt=${CLEANROOM_SETUP_APT_GET:-apt-get}
if [ "$(id -u)" != 0 ]; then
  echo "setup: not running as root, so nothing was installed. Install them with:" >&2
  echo "  sudo $command_line" >&2
  exit 1
fi
if ! command -v "$apt" >/dev/null 2>&1; then
  echo "setup: apt-get is not available here, so nothing was installed. Install the Debian packages ${packages[*]} (or their equivalents) with your package manager, e.g. on Debian/Ubuntu:" >&2
  echo "  $command_line" >&2
  exit 1
fi

echo "setup: installing ${packages[*]} with apt-get (running as root)" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "$apt" update -qq && DEBIAN_FRONTEND=noninteractive "$apt" install -y -qq --no-install-recommends "${packages[@]}"; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "setup: could not install ${packages[*]} (apt-get failed, see above). Fix that and run again, or install them yourself:" >&2
  echo "  $command_line" >&2
  exit 1
fi
still=$(missing_rows)
if [ -n "$still" ]; then
  while IFS='|' read -r name _ _ pkgs _; do
    echo "setup: $name is still missing after installing $pkgs" >&2
  done <<<"$still"
  exit 1
fi
echo "setup: installed ${packages[*]}" >&2
