#!/usr/bin/env bash
# Build llama-server and the RPC server from the llama.cpp vendored in two PyPI
# sdists, cache each build, and link the binaries into <repo>/.testbed/bin/:
#
#   llama-cpp-python==0.3.8   (early 2025; the log shapes of llama-box era deployments)
#       -> llama-server-0.3.8,  rpc-server-0.3.8
#   llama-cpp-python==0.3.36  (late 2026; default verbosity 3, router mode, RPC tensor cache)
#       -> llama-server-0.3.36, rpc-server-0.3.36   (upstream target: ggml-rpc-server)
#
# `llama-server` and `rpc-server` (no suffix) point at the version named by
# OTEL_PLUGINS_LLAMA_DEFAULT (default 0.3.8), so older tests and scripts keep working.
# Tests pick a bed with OTEL_PLUGINS_LLAMA_VERSION (see tests/bed.py).
# Idempotent: a second run only re-creates the links.
#
# Environment:
#   LLAMA_VERSIONS              versions to build (default: "0.3.8 0.3.36")
#   OTEL_PLUGINS_LLAMA_DEFAULT  version behind the unsuffixed links (default: 0.3.8)
#   OTEL_PLUGINS_CACHE          cache root (default: $HOME/.cache/otel-plugins)
#   LLAMA_SERVER_BIN            use this llama-server for the unsuffixed link instead
#   RPC_SERVER_BIN              use this rpc-server for the unsuffixed link instead
#   BUILD_JOBS                  parallel jobs (default: 2)
#   PYTHON                      python used for `pip download` (default: python3)
set -euo pipefail

VERSIONS="${LLAMA_VERSIONS:-0.3.8 0.3.36}"
DEFAULT_VERSION="${OTEL_PLUGINS_LLAMA_DEFAULT:-0.3.8}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
CACHE_ROOT="${OTEL_PLUGINS_CACHE:-$HOME/.cache/otel-plugins}"
LINK_DIR="$REPO/.testbed/bin"
JOBS="${BUILD_JOBS:-2}"
PY="${PYTHON:-python3}"

log() { printf '[build_llama] %s\n' "$*" >&2; }

# ---------------------------------------------------------------- per version
# The upstream RPC server target was renamed; the cache keeps upstream names.
rpc_target() {
    case "$1" in
        0.3.8) echo rpc-server ;;
        *) echo ggml-rpc-server ;;
    esac
}

# cmake options beyond the common ones.  0.3.36 fetches a prebuilt web UI at
# configure time unless told not to, which fails without network.
extra_cmake_flags() {
    case "$1" in
        0.3.8) echo "-DLLAMA_CURL=OFF -DLLAMA_BUILD_EXAMPLES=ON" ;;
        *) echo "-DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_EXAMPLES=OFF" ;;
    esac
}

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

fetch_source() {  # version cache
    local version=$1 cache=$2
    local sdist_dir="$cache/sdist" src_dir="$cache/src"
    [ -f "$src_dir/vendor/llama.cpp/CMakeLists.txt" ] && return 0
    mkdir -p "$sdist_dir"
    local tarball
    tarball=$(ls "$sdist_dir"/llama_cpp_python-"$version".tar.gz 2>/dev/null || true)
    if [ -z "$tarball" ]; then
        log "downloading llama-cpp-python==$version sdist"
        "$PY" -m pip download --quiet --no-binary :all: --no-deps \
            -d "$sdist_dir" "llama-cpp-python==$version"
        tarball=$(ls "$sdist_dir"/llama_cpp_python-"$version".tar.gz)
    fi
    log "unpacking $(basename "$tarball")"
    local tmp="$cache/src.tmp"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    tar -xzf "$tarball" -C "$tmp" --strip-components=1
    rm -rf "$src_dir"
    mv "$tmp" "$src_dir"
}

copy_vocab() {  # cache
    local cache=$1
    local vocab="$cache/ggml-vocab-llama-spm.gguf"
    local src="$cache/src/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf"
    if [ ! -f "$vocab" ] && [ -f "$src" ]; then cp "$src" "$vocab"; fi
}

build() {  # version cache
    local version=$1 cache=$2
    local build_dir="$cache/build" bin_dir="$cache/bin"
    local rpc
    rpc=$(rpc_target "$version")
    local gen=()
    if command -v ninja >/dev/null 2>&1; then gen=(-G Ninja); fi
    # A build dir configured with another generator cannot be reused.
    if [ -f "$build_dir/CMakeCache.txt" ] && [ ${#gen[@]} -gt 0 ] \
        && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja' "$build_dir/CMakeCache.txt"; then
        rm -rf "$build_dir"
    fi
    log "$version: configuring (build dir $build_dir)"
    # shellcheck disable=SC2046  # the extra flags are words on purpose
    cmake -S "$cache/src/vendor/llama.cpp" -B "$build_dir" "${gen[@]}" \
        -DCMAKE_BUILD_TYPE=Release \
        -DGGML_RPC=ON \
        -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_SERVER=ON \
        -DLLAMA_BUILD_COMMON=ON \
        $(extra_cmake_flags "$version") \
        >"$cache/cmake-configure.log" 2>&1 || {
            tail -n 50 "$cache/cmake-configure.log" >&2
            return 1
        }
    log "$version: building llama-server $rpc with -j$JOBS"
    local t0
    t0=$(date +%s)
    cmake --build "$build_dir" --config Release -j "$JOBS" \
        --target llama-server "$rpc" >"$cache/cmake-build.log" 2>&1 || {
            tail -n 50 "$cache/cmake-build.log" >&2
            return 1
        }
    log "$version: compiled in $(( $(date +%s) - t0 ))s"
    mkdir -p "$bin_dir"
    local b found
    for b in llama-server "$rpc"; do
        found=$(find "$build_dir" -type f -name "$b" -perm -u+x | head -n1)
        [ -n "$found" ] || { log "built binary $b not found"; return 1; }
        cp -f "$found" "$bin_dir/$b.tmp"
        mv -f "$bin_dir/$b.tmp" "$bin_dir/$b"
    done
}

build_version() {  # version
    local version=$1
    local cache="$CACHE_ROOT/llama-cpp-$version"
    local rpc
    rpc=$(rpc_target "$version")
    local t0
    t0=$(date +%s)
    mkdir -p "$cache"
    # serialise concurrent runs sharing this version's cache
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$cache/.build.lock"
        flock 9
    fi
    if [ ! -x "$cache/bin/llama-server" ] || [ ! -x "$cache/bin/$rpc" ] \
        || [ ! -f "$cache/ggml-vocab-llama-spm.gguf" ]; then
        ensure_tools
        command -v "$PY" >/dev/null 2>&1 || { log "python ($PY) not found"; exit 1; }
        fetch_source "$version" "$cache"
        copy_vocab "$cache"
    fi
    if [ ! -x "$cache/bin/llama-server" ] || [ ! -x "$cache/bin/$rpc" ]; then
        build "$version" "$cache"
        log "$version: build finished"
    else
        log "$version: binaries already present, skipping build"
    fi
    exec 9>&-
    ln -sfn "$cache/bin/llama-server" "$LINK_DIR/llama-server-$version"
    ln -sfn "$cache/bin/$rpc" "$LINK_DIR/rpc-server-$version"
    log "$version: $LINK_DIR/llama-server-$version, rpc-server-$version ($(( $(date +%s) - t0 ))s)"
}

# ---------------------------------------------------------------- main
start_ts=$(date +%s)
mkdir -p "$LINK_DIR"
for v in $VERSIONS; do
    build_version "$v"
done

link_default() {  # name override
    local name=$1 override=$2
    local target="$LINK_DIR/$name-$DEFAULT_VERSION"
    if [ -n "$override" ]; then
        [ -x "$override" ] || { log "$name override $override is not executable"; exit 1; }
        target="$(readlink -f "$override")"
    elif [ ! -e "$target" ]; then
        log "$name: version $DEFAULT_VERSION not built here, link left as it is"
        return 0
    fi
    ln -sfn "$(readlink -f "$target")" "$LINK_DIR/$name"
    log "$LINK_DIR/$name -> $(readlink -f "$target")"
}
link_default llama-server "${LLAMA_SERVER_BIN:-}"
link_default rpc-server "${RPC_SERVER_BIN:-}"
vocab="$CACHE_ROOT/llama-cpp-$DEFAULT_VERSION/ggml-vocab-llama-spm.gguf"
if [ -f "$vocab" ]; then log "vocab: $vocab"; fi

log "elapsed: $(( $(date +%s) - start_ts ))s"
