#!/usr/bin/env bash
# Build llama-server and rpc-server from the llama.cpp vendored in the PyPI
# sdist llama-cpp-python==0.3.8, cache the result, and link the binaries into
# <repo>/.testbed/bin/.  Idempotent: a second run only re-creates the links.
#
# Environment:
#   OTEL_PLUGINS_CACHE   cache root (default: $HOME/.cache/otel-plugins)
#   LLAMA_SERVER_BIN     use this llama-server instead of building
#   RPC_SERVER_BIN       use this rpc-server instead of building
#   BUILD_JOBS           parallel jobs (default: 2)
#   PYTHON               python used for `pip download` (default: python3)
set -euo pipefail

LLAMA_CPP_PY_VERSION=0.3.8
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
CACHE_ROOT="${OTEL_PLUGINS_CACHE:-$HOME/.cache/otel-plugins}"
CACHE="$CACHE_ROOT/llama-cpp-$LLAMA_CPP_PY_VERSION"
SDIST_DIR="$CACHE/sdist"
SRC_DIR="$CACHE/src"
BUILD_DIR="$CACHE/build"
BIN_DIR="$CACHE/bin"
VOCAB="$CACHE/ggml-vocab-llama-spm.gguf"
LINK_DIR="$REPO/.testbed/bin"
JOBS="${BUILD_JOBS:-2}"
PY="${PYTHON:-python3}"

log() { printf '[build_llama] %s\n' "$*" >&2; }

start_ts=$(date +%s)
mkdir -p "$CACHE" "$BIN_DIR" "$LINK_DIR"

# serialise concurrent runs sharing the cache
if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE/.build.lock"
    flock 9
fi

# ---------------------------------------------------------------- tools
ensure_tools() {
    local missing=()
    command -v cmake >/dev/null 2>&1 || missing+=(cmake)
    command -v ninja >/dev/null 2>&1 || missing+=(ninja-build)
    command -v gcc >/dev/null 2>&1 || missing+=(gcc)
    command -v g++ >/dev/null 2>&1 || missing+=(g++)
    command -v make >/dev/null 2>&1 || missing+=(make)
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing missing tools: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${missing[@]}"
    fi
}

# ---------------------------------------------------------------- source
fetch_source() {
    if [ -f "$SRC_DIR/vendor/llama.cpp/CMakeLists.txt" ]; then
        return 0
    fi
    mkdir -p "$SDIST_DIR"
    local tarball
    tarball=$(ls "$SDIST_DIR"/llama_cpp_python-"$LLAMA_CPP_PY_VERSION".tar.gz 2>/dev/null || true)
    if [ -z "$tarball" ]; then
        log "downloading llama-cpp-python==$LLAMA_CPP_PY_VERSION sdist"
        "$PY" -m pip download --quiet --no-binary :all: --no-deps \
            -d "$SDIST_DIR" "llama-cpp-python==$LLAMA_CPP_PY_VERSION"
        tarball=$(ls "$SDIST_DIR"/llama_cpp_python-*.tar.gz | head -n1)
    fi
    log "unpacking $(basename "$tarball")"
    local tmp="$CACHE/src.tmp"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    tar -xzf "$tarball" -C "$tmp" --strip-components=1
    rm -rf "$SRC_DIR"
    mv "$tmp" "$SRC_DIR"
}

copy_vocab() {
    if [ ! -f "$VOCAB" ] && [ -f "$SRC_DIR/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf" ]; then
        cp "$SRC_DIR/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf" "$VOCAB"
    fi
}

# ---------------------------------------------------------------- build
build() {
    local gen=()
    if command -v ninja >/dev/null 2>&1; then gen=(-G Ninja); fi
    # A build dir configured with another generator cannot be reused.
    if [ -f "$BUILD_DIR/CMakeCache.txt" ] && [ ${#gen[@]} -gt 0 ] \
        && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja' "$BUILD_DIR/CMakeCache.txt"; then
        rm -rf "$BUILD_DIR"
    fi
    log "configuring (build dir $BUILD_DIR)"
    cmake -S "$SRC_DIR/vendor/llama.cpp" -B "$BUILD_DIR" "${gen[@]}" \
        -DCMAKE_BUILD_TYPE=Release \
        -DGGML_RPC=ON \
        -DLLAMA_CURL=OFF \
        -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=ON \
        -DLLAMA_BUILD_SERVER=ON \
        -DLLAMA_BUILD_COMMON=ON \
        >"$CACHE/cmake-configure.log" 2>&1 || {
            tail -n 50 "$CACHE/cmake-configure.log" >&2
            return 1
        }
    log "building llama-server rpc-server with -j$JOBS"
    cmake --build "$BUILD_DIR" --config Release -j "$JOBS" \
        --target llama-server rpc-server >"$CACHE/cmake-build.log" 2>&1 || {
            tail -n 50 "$CACHE/cmake-build.log" >&2
            return 1
        }
    local b
    for b in llama-server rpc-server; do
        local found
        found=$(find "$BUILD_DIR" -type f -name "$b" -perm -u+x | head -n1)
        [ -n "$found" ] || { log "built binary $b not found"; return 1; }
        cp -f "$found" "$BIN_DIR/$b.tmp"
        mv -f "$BIN_DIR/$b.tmp" "$BIN_DIR/$b"
    done
}

# ---------------------------------------------------------------- main
need_build=0
[ -n "${LLAMA_SERVER_BIN:-}" ] || [ -x "$BIN_DIR/llama-server" ] || need_build=1
[ -n "${RPC_SERVER_BIN:-}" ] || [ -x "$BIN_DIR/rpc-server" ] || need_build=1

if [ "$need_build" -eq 1 ] || [ ! -f "$VOCAB" ]; then
    ensure_tools
    command -v "$PY" >/dev/null 2>&1 || { log "python ($PY) not found"; exit 1; }
    fetch_source
    copy_vocab
fi
if [ "$need_build" -eq 1 ]; then
    build
    log "build finished"
else
    log "binaries already present, skipping build"
fi

link_bin() {
    local name=$1 override=$2
    local target="$BIN_DIR/$name"
    if [ -n "$override" ]; then
        [ -x "$override" ] || { log "$name override $override is not executable"; exit 1; }
        target="$(readlink -f "$override")"
    fi
    ln -sfn "$target" "$LINK_DIR/$name"
    log "$LINK_DIR/$name -> $target"
}
link_bin llama-server "${LLAMA_SERVER_BIN:-}"
link_bin rpc-server "${RPC_SERVER_BIN:-}"
if [ -f "$VOCAB" ]; then
    log "vocab: $VOCAB"
else
    log "warning: vocab file $VOCAB missing"
fi

elapsed=$(( $(date +%s) - start_ts ))
log "elapsed: ${elapsed}s"
