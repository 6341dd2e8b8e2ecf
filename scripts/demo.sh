#!/usr/bin/env bash
# The main job on its embedded default: a real llama-server (with a local rpc-server)
# wrapped by otel-plugins, probed like an orchestrator does, telemetry written to ./otel-out/.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
scripts/bootstrap.sh
scripts/build_llama.sh
exec .venv/bin/python scripts/demo.py "$@"
