#!/usr/bin/env bash
# Installs everything the tests need (virtualenv, the real llama.cpp servers, the
# Collector, Jaeger, Prometheus, chromium; heavy builds cached in ~/.cache/otel-plugins) and runs them.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
t0=$SECONDS
scripts/bootstrap.sh test
scripts/build_llama.sh
scripts/build_collector.sh
scripts/build_jaeger.sh
scripts/install_prometheus.sh
scripts/install_chromium.sh
echo "set-up took $((SECONDS - t0))s"
exec .venv/bin/python -m pytest "$@"
