#!/usr/bin/env bash
# Install Debian's chromium if missing (the report test opens its HTML in a real headless
# browser) and symlink it into <repo>/.testbed/bin/chromium. apt caches the packages, so a
# second worktree installs nothing. FORCE=1 runs the apt-get path even when it is on PATH.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
BIN_LINK_DIR="$REPO/.testbed/bin"
mkdir -p "$BIN_LINK_DIR"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

find_chromium() { command -v chromium || command -v chromium-browser || true; }

if [ "${FORCE:-0}" = 1 ] || [ -z "$(find_chromium)" ]; then
  START=$(date +%s)
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists only if apt does not know the package yet
  # (captured first: `apt-cache ... | grep -q` can die of SIGPIPE under pipefail).
  policy_out="$(apt-cache policy chromium 2>/dev/null || true)"
  if ! grep -q 'Candidate: [0-9]' <<<"$policy_out"; then
    $SUDO apt-get update
  fi
  # No recommends: the browser alone is enough to render a page headless.
  $SUDO apt-get install -y --no-install-recommends chromium
  echo "installed chromium in $(( $(date +%s) - START ))s"
else
  echo "chromium already installed"
fi

ln -sfn "$(find_chromium)" "$BIN_LINK_DIR/chromium"
"$BIN_LINK_DIR/chromium" --version 2>/dev/null | head -n1 || true
echo "chromium: $BIN_LINK_DIR/chromium"
