"""Workloads of sympy__sympy-26710: python bench/run.py <key>, run in the sympy tree's root.

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


from sympy import primepi  # noqa: E402


def prime_counting():
    r = rng(1)
    ns = [10**9 + r.randrange(10**6), 6 * 10**8 + r.randrange(10**6)]

    def run():
        return [(n, primepi(n)) for n in ns]

    def summarize(out):
        return [[n, int(c)] for n, c in out]

    return run, summarize


WORKLOADS = {"prime_counting": prime_counting}


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
