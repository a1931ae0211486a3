"""Workload runner: python3 bench/run.py <workload-key>

Times one torchops call with optagent's GPU timing harness (bench/optagent_bench.py, a copy of
crates/optagent-task/python/optagent_bench.py; docs/task-format.md, "GPU timing"): warm-up calls,
then trials on fresh inputs made from each trial's seed, each timed with CUDA events after a device
synchronize and an L2 flush, and checked against PyTorch's own operator on an untouched copy of
its inputs (rtol = atol = 1e-4). It writes {"seconds": <median trial>, "result": <a summary per
trial>, "timer", "trials_s", "integrity", ...} to the path in $OPTAGENT_OUTPUT (default:
bench-output.json). With OPTAGENT_SETUP_ONLY=1 it does the setup only and writes {"result": null}.

The device is $OPTAGENT_DEVICE (the evaluator sets it: "cuda" where a GPU is found, "cpu" with
--cpu-fallback), else CUDA when torch sees one, else the CPU (timed on the host, and it says so).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import optagent_bench as ob  # noqa: E402  (first: it keeps its own references to the clocks)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

import torchops  # noqa: E402

TOLERANCE = 1e-4


def randn(*shape, seed, device):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float32).to(device)


def layer_norm(device):
    rows, d = 1024, 1024

    def inputs(seed, dev):
        return [randn(rows, d, seed=seed, device=dev) * 3.0 + 0.5,
                1.0 + 0.1 * randn(d, seed=seed + 1, device=dev),
                0.1 * randn(d, seed=seed + 2, device=dev)]

    return (inputs,
            lambda x, w, b: torchops.layer_norm(x, w, b, eps=1e-5),
            lambda x, w, b: F.layer_norm(x, (d,), w, b, eps=1e-5))


def softmax(device):
    rows, d = 2048, 1024

    def inputs(seed, dev):
        return [randn(rows, d, seed=seed, device=dev) * 4.0]

    return (inputs,
            lambda x: torchops.softmax(x, dim=-1),
            lambda x: torch.softmax(x, dim=-1))


def attention(device):
    batch, seq, dim, heads = 1, 128, 256, 8
    torch.manual_seed(5)
    module = torchops.Attention(dim, heads, causal=True)  # initialized on the CPU
    module = module.to(device).eval()

    def inputs(seed, dev):
        return [randn(batch, seq, dim, seed=seed, device=dev)]

    def reference(x):
        hd = dim // heads
        q, k, v = module.qkv(x).chunk(3, dim=-1)
        q, k, v = (t.reshape(batch, seq, heads, hd).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return module.proj(out.transpose(1, 2).reshape(batch, seq, dim))

    return inputs, lambda x: module(x), reference


WORKLOADS = {
    "layer_norm": layer_norm,
    "softmax": softmax,
    "attention": attention,
}


def main(argv):
    if len(argv) != 2 or argv[1] not in WORKLOADS:
        sys.stderr.write("usage: python3 bench/run.py {%s}\n" % ",".join(sorted(WORKLOADS)))
        return 2
    device = ob.device()
    make_inputs, call, reference = WORKLOADS[argv[1]](device)
    ob.run(make_inputs, call, reference, trials=10, warmup=2, rtol=TOLERANCE, atol=TOLERANCE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
