"""Workload runner: python3 bench/run.py <workload-key>

Builds the inputs on the CPU with a fixed seed and moves them to the GPU, runs the measured call
once untimed (warm-up), then times one more call with time.perf_counter, synchronizing the GPU
before starting and before stopping the clock, and writes {"seconds": ..., "result": ...} to the
path in $OPTAGENT_OUTPUT (default: bench-output.json). With OPTAGENT_SETUP_ONLY=1 it does the setup
only and writes {"result": null}. Under a profiler, OPTAGENT_PROFILE_REPEAT=N runs the measured
section N times inside optagent_measured() (GPU synchronized at its end), reports the mean time per
run and adds "repeat": N to the output.

Needs PyTorch with a CUDA device; without one it exits with status 3. For development only,
TORCHOPS_BENCH_DEVICE=cpu runs the same code on the CPU (timings and results are then not
comparable with the GPU's).
"""

import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def need_torch_cuda():
    try:
        import torch
    except Exception as exc:  # ImportError, or a broken installation
        sys.stderr.write("torchops needs PyTorch with CUDA: cannot import torch (%s)\n" % exc)
        sys.exit(3)
    device = os.environ.get("TORCHOPS_BENCH_DEVICE", "cuda")
    if device == "cuda" and not torch.cuda.is_available():
        sys.stderr.write("torchops needs PyTorch with CUDA: torch %s sees no CUDA device "
                         "(torch.cuda.is_available() is False)\n" % torch.__version__)
        sys.exit(3)
    return torch, torch.device(device)


torch, DEVICE = need_torch_cuda()
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

import torchops  # noqa: E402


def cpu_randn(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float32)


def summarize(out):
    flat = out.detach().to("cpu", torch.float64).flatten()
    n = flat.numel()
    picks = [0, n // 7, n // 3, n // 2, (2 * n) // 3, n - 1]
    return {
        "shape": list(out.shape),
        "abs_sum": flat.abs().sum().item(),
        "sq_sum": (flat * flat).sum().item(),
        "sample": [flat[i].item() for i in picks],
    }


def layer_norm():
    rows, d = 1024, 1024
    x = (cpu_randn(rows, d, seed=1) * 3.0 + 0.5).to(DEVICE)
    w = (1.0 + 0.1 * cpu_randn(d, seed=2)).to(DEVICE)
    b = (0.1 * cpu_randn(d, seed=3)).to(DEVICE)
    return lambda: torchops.layer_norm(x, w, b, eps=1e-5)


def softmax():
    rows, d = 2048, 1024
    x = (cpu_randn(rows, d, seed=4) * 4.0).to(DEVICE)
    return lambda: torchops.softmax(x, dim=-1)


def attention():
    batch, seq, dim, heads = 1, 128, 256, 8
    torch.manual_seed(5)
    module = torchops.Attention(dim, heads, causal=True)  # initialized on the CPU
    module = module.to(DEVICE).eval()
    x = cpu_randn(batch, seq, dim, seed=6).to(DEVICE)
    return lambda: module(x)


WORKLOADS = {
    "layer_norm": layer_norm,
    "softmax": softmax,
    "attention": attention,
}


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def write_output(payload):
    path = os.environ.get("OPTAGENT_OUTPUT", "bench-output.json")
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f)


def profile_repeat():
    """How many times to run the measured section: $OPTAGENT_PROFILE_REPEAT (default 1).

    A profiler sets it so that a short section gives enough samples (docs/task-format.md)."""
    raw = os.environ.get("OPTAGENT_PROFILE_REPEAT", "").strip()
    if not raw:
        return 1
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        sys.stderr.write("OPTAGENT_PROFILE_REPEAT must be a positive integer, not %r\n" % raw)
        sys.exit(2)
    return n


def optagent_measured(run, repeat):
    """The measured section, `run()` `repeat` times; profilers find it by this function's name."""
    out = None
    for _ in range(repeat):
        out = run()
    sync()
    return out


def main(argv):
    if len(argv) != 2 or argv[1] not in WORKLOADS:
        sys.stderr.write("usage: python3 bench/run.py {%s}\n" % ",".join(sorted(WORKLOADS)))
        return 2
    with torch.inference_mode():
        run = WORKLOADS[argv[1]]()
        sync()
        if os.environ.get("OPTAGENT_SETUP_ONLY") == "1":
            write_output({"result": None})
            return 0
        run()  # warm-up: CUDA context, kernel loading, allocator
        sync()
        repeat = profile_repeat()
        start = time.perf_counter()
        out = optagent_measured(run, repeat)
        seconds = (time.perf_counter() - start) / repeat
    payload = {"seconds": seconds, "result": summarize(out)}
    if "OPTAGENT_PROFILE_REPEAT" in os.environ:
        payload["repeat"] = repeat
    write_output(payload)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
