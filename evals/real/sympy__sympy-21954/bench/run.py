"""Workloads of sympy__sympy-21954: python bench/run.py <key>, run in the sympy tree's root.

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


from sympy import Rational  # noqa: E402


def rational_from_ints():
    r = rng(1)
    pairs = [(r.randrange(-10**6, 10**6), r.randrange(1, 10**6)) for _ in range(40000)]

    def run():
        return [Rational(p, q) for p, q in pairs]

    def summarize(out):
        num = sum(x.p for x in out)
        den = sum(x.q for x in out) % 1000000007
        return {"n": len(out), "sum_p": num, "sum_q_mod": den,
                "types": sorted({type(x).__name__ for x in out}),
                "sample": [str(x) for x in out[::4000]]}

    return run, summarize


def rational_mixed():
    # integers with a Rational or an integer-valued string on one side
    r = rng(2)
    pairs = []
    for i in range(12000):
        p, q = r.randrange(-10**5, 10**5), r.randrange(1, 10**5)
        k = i % 3
        if k == 0:
            pairs.append((Rational(p, 7), q))
        elif k == 1:
            pairs.append((p, Rational(q, 3)))
        else:
            pairs.append((str(p), q))

    def run():
        return [Rational(p, q) for p, q in pairs]

    def summarize(out):
        return {"n": len(out), "sum_p": sum(x.p for x in out),
                "sum_q_mod": sum(x.q for x in out) % 1000000007,
                "sample": [str(x) for x in out[::1000]]}

    return run, summarize


WORKLOADS = {"rational_from_ints": rational_from_ints, "rational_mixed": rational_mixed}


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
