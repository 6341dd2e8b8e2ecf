#!/usr/bin/env bash
# Build the test-bed OpenTelemetry Collector with the OpenTelemetry Collector Builder (ocb)
# from scripts/otelcol-builder.yaml, and symlink it to <repo>/.testbed/bin/otelcol.
#
# Cache layout (reused across runs; skipped when the same manifest was already built):
#   ${OTEL_PLUGINS_CACHE:-$HOME/.cache/otel-plugins}/otelcol-<version>/
#     bin/builder        the ocb binary (go install ...cmd/builder@v<version>)
#     manifest.yaml      the manifest actually used (output_path rewritten to src/)
#     src/               generated sources (main.go, components.go, go.mod, ...)
#     otelcol            the built collector
#
# Env: OTEL_PLUGINS_CACHE  cache root
#      FORCE=1             rebuild even if cached
#      BUILD_JOBS=N        go build parallelism (default: number of CPUs)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
MANIFEST="$SCRIPT_DIR/otelcol-builder.yaml"

VERSION="$(sed -n 's/^[[:space:]]*version:[[:space:]]*\([0-9][0-9.]*\).*/\1/p' "$MANIFEST" | head -n1)"
[ -n "$VERSION" ] || { echo "cannot read dist.version from $MANIFEST" >&2; exit 1; }

CACHE_ROOT="${OTEL_PLUGINS_CACHE:-$HOME/.cache/otel-plugins}"
DIR="$CACHE_ROOT/otelcol-$VERSION"
BIN_LINK_DIR="$REPO/.testbed/bin"
JOBS="${BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"

command -v go >/dev/null || { echo "go toolchain not found (need Go >= 1.25)" >&2; exit 1; }

mkdir -p "$DIR/bin" "$BIN_LINK_DIR"

# One build at a time per cache dir (parallel CI steps / developers).
exec 9>"$DIR/.lock"
if command -v flock >/dev/null; then flock 9; fi

START=$(date +%s)

# The manifest we build: the repo's, with output_path pointing into the cache.
WANT="$(sed "s|^\([[:space:]]*output_path:\).*|\1 $DIR/src|" "$MANIFEST")"

link() {
  ln -sfn "$DIR/otelcol" "$BIN_LINK_DIR/otelcol"
  echo "otelcol: $BIN_LINK_DIR/otelcol -> $DIR/otelcol"
  "$DIR/otelcol" --version || true
}

if [ "${FORCE:-0}" != 1 ] && [ -x "$DIR/otelcol" ] && [ -f "$DIR/manifest.yaml" ] \
   && [ "$(cat "$DIR/manifest.yaml")" = "$WANT" ]; then
  echo "otelcol $VERSION already built in $DIR (FORCE=1 to rebuild)"
  link
  exit 0
fi

# Parallelism for 2-core machines: -p defaults to GOMAXPROCS already; make it explicit and
# keep the toolchain's own GOFLAGS (e.g. -buildvcs=false). ocb itself always passes
# -trimpath -ldflags="-s -w" (stripped binary, shorter link), so nothing to add for that.
export GOFLAGS="$(go env GOFLAGS) -p=$JOBS"
export CGO_ENABLED=0

have_ocb="$("$DIR/bin/builder" version 2>&1 || true)"   # "ocb version vX.Y.Z" (stderr)
if [ ! -x "$DIR/bin/builder" ] || ! grep -q "v$VERSION" <<<"$have_ocb"; then
  echo "== installing ocb (go.opentelemetry.io/collector/cmd/builder@v$VERSION)"
  GOBIN="$DIR/bin" go install -trimpath -ldflags='-s -w' \
    "go.opentelemetry.io/collector/cmd/builder@v$VERSION"
fi

printf '%s\n' "$WANT" > "$DIR/manifest.yaml.new"
rm -f "$DIR/otelcol"
echo "== building collector $VERSION into $DIR/src (GOFLAGS=$GOFLAGS)"
# 1) generate sources + resolve modules. ocb runs a strict `go mod tidy`, which also needs
#    the test-only deps of every component; some of those are not on this machine's module
#    proxy (403), so on failure resolve with `go mod tidy -e` (build deps still must exist:
#    a truly missing one fails in step 2 with a clear error).
if ! ( cd "$DIR" && "$DIR/bin/builder" --config "$DIR/manifest.yaml.new" --skip-compilation ) \
     >"$DIR/ocb-generate.log" 2>&1; then
  grep -E '403|not available|Error' "$DIR/ocb-generate.log" | grep -v '^go: downloading' | sort -u | tail -n 8 || true
  echo "== ocb's strict 'go mod tidy' failed (see $DIR/ocb-generate.log); retrying with 'go mod tidy -e'"
  [ -f "$DIR/src/go.mod" ] || { cat "$DIR/ocb-generate.log" >&2; exit 1; }
  ( cd "$DIR/src" && go mod tidy -e -compat=1.25 2>&1 | grep -v '^go: downloading' | grep -E '^go: .*[^:]$|not available' | sort -u | head -n 6 ) || true
fi
echo "== compiling ($(date +%T))"
# 2) compile (ocb: go build -trimpath -ldflags="-s -w").
( cd "$DIR" && "$DIR/bin/builder" --config "$DIR/manifest.yaml.new" --skip-generate --skip-get-modules )

cp "$DIR/src/otelcol" "$DIR/otelcol.tmp"
mv -f "$DIR/otelcol.tmp" "$DIR/otelcol"
rm -f "$DIR/src/otelcol"              # keep one copy of the ~binary on disk
mv -f "$DIR/manifest.yaml.new" "$DIR/manifest.yaml"

END=$(date +%s)
echo "== built $DIR/otelcol ($(du -h "$DIR/otelcol" | cut -f1)) in $((END - START))s"
link
