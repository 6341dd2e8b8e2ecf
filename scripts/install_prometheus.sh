#!/usr/bin/env bash
# Install Prometheus (+ promtool) from Debian's package (bookworm: 2.42) if missing, make sure
# the package's service is not left running, and symlink both into <repo>/.testbed/bin/.
# FORCE=1 runs the apt-get path even when both are already on PATH.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
BIN_LINK_DIR="$REPO/.testbed/bin"
mkdir -p "$BIN_LINK_DIR"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

daemon_pids() { pgrep -x prometheus 2>/dev/null | sort || true; }

if [ "${FORCE:-0}" = 1 ] || ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  START=$(date +%s)
  before="$(daemon_pids)"
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists only if apt does not know the package yet.
  # (capture first: `apt-cache ... | grep -q` can die of SIGPIPE under pipefail)
  policy_out="$(apt-cache policy prometheus 2>/dev/null || true)"
  if ! grep -q 'Candidate: [0-9]' <<<"$policy_out"; then
    $SUDO apt-get update
  fi
  # Forbid maintainer scripts from starting services (standard Debian policy-rc.d hook),
  # unless a policy is already in place (e.g. in Docker images it already says 101).
  policy=/usr/sbin/policy-rc.d
  added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# added by install_prometheus.sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    added_policy=1
  fi
  # No recommends: they would bring prometheus-node-exporter (another daemon).
  rc=0
  $SUDO apt-get install -y --no-install-recommends prometheus || rc=$?
  if [ "$added_policy" = 1 ]; then $SUDO rm -f "$policy"; fi
  [ "$rc" = 0 ] || exit "$rc"

  # Stop the packaged service if it got started anyway (systemd host, or no policy honoured).
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  fi
  $SUDO service prometheus stop >/dev/null 2>&1 || true
  # Last resort: end only prometheus processes that appeared during this install.
  for pid in $(comm -13 <(printf '%s\n' "$before") <(daemon_pids)); do
    echo "stopping prometheus daemon started by the install (pid $pid)"
    $SUDO kill -TERM "$pid" 2>/dev/null || true
  done
  echo "installed prometheus in $(( $(date +%s) - START ))s"
else
  echo "prometheus/promtool already installed"
fi

ln -sfn "$(command -v prometheus)" "$BIN_LINK_DIR/prometheus"
ln -sfn "$(command -v promtool)" "$BIN_LINK_DIR/promtool"
"$BIN_LINK_DIR/prometheus" --version 2>&1 | head -n1
echo "prometheus: $BIN_LINK_DIR/prometheus, promtool: $BIN_LINK_DIR/promtool"
