"""Workload of an imported KernelBench problem (written by `optagent import kernelbench`).

    python3 bench/run.py            time solution.ModelNew on fresh random inputs (optagent_bench)
    python3 bench/run.py --check    KernelBench's correctness check only, no timing

Both build reference.Model and solution.ModelNew from get_init_inputs() under the same seed (so
their weights match), make inputs with reference.get_inputs() under a trial's seed, created on the
device, and compare ModelNew's output with Model's on every trial with
KernelBench's tolerance (torch.allclose, rtol = atol = TOLERANCE below). The timed run is
optagent_bench.run: warm-up, CUDA events around each call after a device synchronize and an L2
flush, integrity checks; without CUDA, host timing (docs/task-format.md, "GPU timing").
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import optagent_bench as ob  # noqa: E402  (first: it keeps its own references to the clocks)
import torch  # noqa: E402

import reference  # noqa: E402
import solution  # noqa: E402

TOLERANCE = __TOLERANCE__
CORRECT_TRIALS = __CORRECT_TRIALS__
PERF_TRIALS = __PERF_TRIALS__
WARMUP = __WARMUP__


def to_device(xs, dev):
    return [x.to(dev) if isinstance(x, torch.Tensor) else x for x in xs]


def make_inputs(seed, dev):
    # Made on the device directly (KernelBench makes them on the CPU and copies them; a level-1
    # input can be gigabytes, which the CPU would take seconds to fill).
    torch.manual_seed(seed)
    with torch.device(dev):
        return to_device(reference.get_inputs(), dev)


def build(dev):
    init = reference.get_init_inputs()
    weight_seed = ob.seed_of(0)
    torch.manual_seed(weight_seed)
    ref = reference.Model(*init).to(dev).eval()
    torch.manual_seed(weight_seed)
    new = solution.ModelNew(*init).to(dev).eval()
    return ref, new


def check(dev):
    ref, new = build(dev)
    with torch.inference_mode():
        for t in range(CORRECT_TRIALS):
            xs = make_inputs(ob.seed_of(200 + t), dev)
            expected = ref(*[ob._clone(x) for x in xs])
            got = new(*xs)
            if dev.type == "cuda":
                # As KernelBench does: the whole device, with the harness's own reference to
                # synchronize (work left on another stream is the timed run's to flag).
                ob._cuda_sync()
            why = ob.compare(expected, got, TOLERANCE, TOLERANCE,
                             "correctness trial %d" % t)
            if why:
                sys.stderr.write("wrong result: %s\n" % why)
                return 1
    print("ok: %d correctness trials within rtol = atol = %g on %s" % (CORRECT_TRIALS, TOLERANCE, dev))
    return 0


def main(argv):
    dev = ob.device()
    if argv[1:] == ["--check"]:
        return check(dev)
    if argv[1:]:
        sys.stderr.write("usage: python3 bench/run.py [--check]\n")
        return 2
    ref, new = build(dev)
    ob.run(make_inputs, new, reference=ref, trials=PERF_TRIALS, warmup=WARMUP,
           rtol=TOLERANCE, atol=TOLERANCE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
