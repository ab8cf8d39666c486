#!/usr/bin/env bash
# Build rooflaw's `cuda` feature on a machine with no GPU and no CUDA toolkit:
# the toolkit comes from NVIDIA's PyPI wheels (CUDA 13.4; the -cu12 wheels ship
# only ptxas, no nvcc), laid out as a CUDA_HOME. Nothing is run on a GPU.
#
#   bench/cuda-build/setup.sh [toolchain|lib|check|all]     (default: all)
#
# Environment (all optional):
#   CUDA_VENV         venv holding the wheels        (default /work/cuda-venv)
#   CUDA_HOME_DIR     the assembled CUDA_HOME        (default /work/cuda-home)
#   CUDA_COMPUTE_CAP  target arch, no nvidia-smi     (default 90, H100/H200)
#   CARGO_TARGET_DIR, CARGO_BUILD_JOBS               passed on to cargo
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${CUDA_VENV:-/work/cuda-venv}
CH=${CUDA_HOME_DIR:-/work/cuda-home}
what=${1:-all}

# Exact versions used. cudarc 0.19.10 reads `nvcc --version` and knows CUDA up
# to 13.4, so nvcc stays at 13.4 (13.5 would need CUDARC_CUDA_VERSION=13040).
PKGS=(
  nvidia-cuda-nvcc==13.4.92      # nvcc, cudafe++, ptxas, fatbinary, nvlink
  nvidia-nvvm==13.4.92           # cicc, libdevice
  nvidia-cuda-crt==13.4.92       # include/crt (host_config.h ...)
  nvidia-cuda-runtime==13.4.92   # cuda_runtime.h, cuda_fp16.h, cuda_bf16.h, libcudart
  nvidia-cuda-cccl==13.3.5.0.6   # include/cccl (nv/target, cuda/std) used by cuda_fp16.hpp
  nvidia-cuda-nvrtc==13.4.92     # libnvrtc (cudarc links it)
  nvidia-cublas==13.10.0.20      # libcublas, libcublasLt
  nvidia-curand==10.4.5.25       # libcurand
)

toolchain() {
  [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "${PKGS[@]}"
  local cu
  cu=$("$VENV/bin/python" -c 'import os, nvidia; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
  rm -rf "$CH"
  mkdir -p "$CH/lib64"
  # nvcc.profile finds cicc, libdevice and the headers relative to the real bin/.
  for d in bin include nvvm; do ln -s "$cu/$d" "$CH/$d"; done
  for f in "$cu"/lib/*; do ln -s "$f" "$CH/lib64/"; done
  # Unversioned names for the linker (-lcudart, -lcublas ...).
  (cd "$CH/lib64" &&
    for s in libcudart libcublas libcublasLt libnvrtc; do ln -sf "$s.so.13" "$s.so"; done &&
    ln -sf libcurand.so.10 libcurand.so)
  "$CH/bin/nvcc" --version
}

cuda_env() {
  export CUDA_HOME="$CH" CUDA_PATH="$CH" CUDA_ROOT="$CH"
  export PATH="$CH/bin:$PATH"
  export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
  # cudaforge (candle-kernels' build script) compiles kernels on a rayon pool.
  if [ -n "${CARGO_BUILD_JOBS:-}" ]; then
    export CUDAFORGE_THREADS="$CARGO_BUILD_JOBS"
  fi
}

lib() {
  cuda_env
  cd "$ROOT"
  local t0=$SECONDS
  cargo build --release -p rooflaw-neural --lib --features cuda
  echo "lib build: $((SECONDS - t0)) s"
}

check() {
  cuda_env
  cd "$ROOT"
  local t0=$SECONDS
  # --release reuses the kernels the lib build compiled (a dev-profile check
  # would run candle-kernels' build script, and nvcc, all over again).
  cargo check --release --workspace --all-targets --features rooflaw-neural/cuda
  echo "workspace check: $((SECONDS - t0)) s"
}

case $what in
  toolchain) toolchain ;;
  lib) lib ;;
  check) check ;;
  all) toolchain; lib; check ;;
  *) echo "usage: $0 [toolchain|lib|check|all]" >&2; exit 2 ;;
esac
