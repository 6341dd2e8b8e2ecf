#!/usr/bin/env bash
# Replays a recorded llama-box serve log (a 72B model loading across an RPC server while
# GPUStack probes /v1/models every 3 s) into OTLP log records.
#
#   examples/replay_recorded_log.sh [OUTPUT_DIR]
#
# With OTEL_EXPORTER_OTLP_ENDPOINT set the records go there; otherwise to
# OUTPUT_DIR/logs.jsonl (OTLP JSON, one ExportLogsServiceRequest per line).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-otel-out}"
otel_plugins="${OTEL_PLUGINS:-otel-plugins}"
log="$here/logs/llama-box-rpc-load.log"

echo "== what the default policy does to each line (first 12) ==" >&2
"$otel_plugins" classify "$log" 2>/dev/null | sed -n 1,13p >&2  # sed reads it all: `head` would close the pipe (exit 141)
echo "== replay with the example policy (loading probes dropped) ==" >&2
"$otel_plugins" replay --policy "$here/policy.yaml" --output-dir "$out" "$log" > "$out.passthrough.log"
echo "passthrough: $out.passthrough.log ($(wc -l < "$out.passthrough.log") of $(wc -l < "$log") lines kept)" >&2
