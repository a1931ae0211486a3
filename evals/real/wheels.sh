#!/usr/bin/env bash
# Download the pinned Python packages the sympy tasks install (mpmath, hypothesis, pytest and
# their dependencies, all pure-Python wheels) into each sympy task's wheels/ folder (not
# committed). Their setup then installs from there with --no-index: no network at setup time,
# which `--sandbox docker` needs where containers cannot reach PyPI (e.g. behind a proxy whose CA
# only the host trusts). Without wheels/, the setup installs from PyPI.
#
#   evals/real/wheels.sh            # uses the host's python3 -m pip download
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --disable-pip-version-check --only-binary=:all: -d "$tmp" \
  'mpmath==1.3.0' 'hypothesis==6.112.0' 'pytest==8.3.3'
for t in "$here"/sympy__sympy-*/; do
  rm -rf "$t/wheels"
  mkdir -p "$t/wheels"
  cp "$tmp"/*.whl "$t/wheels/"
  echo "$(ls "$t/wheels" | wc -l) wheels in ${t}wheels"
done
