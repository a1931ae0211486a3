"""Workloads of sympy__sympy-21006: python bench/run.py <key>, run in the sympy tree's root.

Times only the measured call and writes {"seconds", "result"} to $OPTAGENT_OUTPUT (optagent's
workload protocol, docs/task-format.md): OPTAGENT_SETUP_ONLY=1 stops after the setup, and
OPTAGENT_PROFILE_REPEAT=N runs the measured section N times inside optagent_measured().
Inputs depend on $OPTAGENT_SEED (0 when unset).
"""

import json
import os
import random
import sys
import time

sys.path.insert(0, os.getcwd())  # the tree under test, never an installed sympy

import sympy  # noqa: E402

if not os.path.abspath(sympy.__file__).startswith(os.getcwd() + os.sep):
    sys.exit(f"bench/run.py: imported sympy from {sympy.__file__}, not from the tree {os.getcwd()}")

SEED = int(os.environ.get("OPTAGENT_SEED", "0"))


def rng(k):
    """Input stream k under $OPTAGENT_SEED."""
    return random.Random(k + 1000003 * SEED)


from sympy import ImmutableMatrix, Matrix  # noqa: E402


def summarize_matrices(mats):
    r0 = rng(7)
    out = []
    for m in mats:
        r, c = m.shape
        probes = [(r0.randrange(r), r0.randrange(c)) for _ in range(20)]
        probes += [(i, i) for i in r0.sample(range(min(r, c)), 5)]
        out.append({
            "type": type(m).__name__,
            "shape": [r, c],
            "nonzero": sum(1 for x in m if x != 0),
            "trace": str(sum(m[i, i] for i in range(min(r, c)))),
            "probes": [str(m[i, j]) for i, j in probes],
            "entry_types": sorted({type(x).__name__ for x in m}),
        })
    return out


def eye():
    # square and wide shapes (rows <= cols)
    sizes = [(230, 230), (180, 260), (150, 300)]

    def run():
        return [Matrix.eye(r, c) for r, c in sizes]

    return run, summarize_matrices


def zeros():
    sizes = [(240, 240), (300, 160)]

    def run():
        return [Matrix.zeros(r, c) for r, c in sizes]

    return run, summarize_matrices


def immutable_eye_zeros():
    def run():
        return [ImmutableMatrix.eye(200), ImmutableMatrix.zeros(220, 180)]

    return run, summarize_matrices


WORKLOADS = {"eye": eye, "zeros": zeros, "immutable_eye_zeros": immutable_eye_zeros}


def optagent_measured(run, repeat):
    out = None
    for _ in range(repeat):
        out = run()
    return out


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in WORKLOADS:
        sys.exit(f"usage: run.py <{'|'.join(WORKLOADS)}>")
    run, summarize = WORKLOADS[sys.argv[1]]()
    out_path = os.environ.get("OPTAGENT_OUTPUT", "bench-output.json")
    if os.environ.get("OPTAGENT_SETUP_ONLY") == "1":
        with open(out_path, "w") as f:
            json.dump({"result": None}, f)
        return
    try:
        repeat = int(os.environ.get("OPTAGENT_PROFILE_REPEAT", "1"))
        assert repeat >= 1
    except (ValueError, AssertionError):
        print("OPTAGENT_PROFILE_REPEAT must be a positive integer", file=sys.stderr)
        sys.exit(2)
    start = time.perf_counter()
    out = optagent_measured(run, repeat)
    seconds = (time.perf_counter() - start) / repeat
    payload = {"seconds": seconds, "result": summarize(out)}
    if "OPTAGENT_PROFILE_REPEAT" in os.environ:
        payload["repeat"] = repeat
    with open(out_path, "w") as f:
        json.dump(payload, f)


if __name__ == "__main__":
    main()
