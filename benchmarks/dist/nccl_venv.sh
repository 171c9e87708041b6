#!/usr/bin/env bash
# Makes (or reuses) a Python virtual environment with NVIDIA's NCCL wheel (nvidia-nccl-cu13: nccl.h
# and libnccl.so.2, no GPU needed to install) and prints the wheel's nvidia/nccl directory, the
# FUSELM_NCCL_ROOT that native/CMakeLists.txt takes (headers under include/, the library under lib/):
#
#   NCCL_ROOT=$(benchmarks/dist/nccl_venv.sh DIR)
#
# Installs nvidia-nccl-cu13==2.30.7 through benchmarks/venv.sh, from the machine's local wheel index
# only (/opt/pypi-more/simple holds it; $FUSELM_NCCL_INDEX overrides); a DIR that already has it is
# reused (2 s); making it took 64 s at load 15 on 2 cores (a 216 MB wheel). One line on stderr and
# exit 1 when the wheel is not there.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 DIR   (creates or reuses a venv with nvidia-nccl-cu13==2.30.7 in DIR)" >&2
  exit 2
fi
export FUSELM_VENV_INDEX="${FUSELM_NCCL_INDEX:-${FUSELM_VENV_INDEX:-/opt/pypi-more/simple}}"
py="$("$(dirname "$0")/../venv.sh" nccl_venv "$1" nvidia-nccl-cu13==2.30.7)"
root="$("$py" -c 'import nvidia.nccl as m, os; print(os.path.abspath(list(m.__path__)[0]))')"
if [ ! -f "$root/include/nccl.h" ]; then
  echo "nccl_venv: $root has no include/nccl.h" >&2
  exit 1
fi
echo "$root"
