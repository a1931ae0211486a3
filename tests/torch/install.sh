#!/usr/bin/env bash
# Installs CPU-usable PyTorch for the KernelBench/torchops tests into the python3 on PATH (what
# the tests' workloads run). PyPI's torch wheel is a CUDA build: it imports only with its nvidia-*
# wheels, so they come too; on a machine without a GPU it runs on the CPU.
# Measured 2026 on the 2-core CI machine: 2.8 GB downloaded in 38 s (torch 2.15.0 + cu13 wheels),
# installed in 95 s, 5.2 GB on disk (torch 1.2 GB, nvidia 3.0 GB, triton 1.0 GB).
# A no-op when torch already imports. Not fatal for CI: the tests that need torch skip.
set -uo pipefail
if python3 -c 'import torch' >/dev/null 2>&1; then
  python3 -c 'import torch; print("torch", torch.__version__, "already installed")'
  exit 0
fi
start=$(date +%s)
if ! python3 -m pip install -q --disable-pip-version-check torch numpy; then
  echo "WARNING: torch could not be installed; the torch tests will skip" >&2
  exit 0
fi
python3 -c 'import torch; print("torch", torch.__version__, "installed in", '"$(( $(date +%s) - start ))"', "s")'
