"""Workload runner: python3 bench/run.py <workload-key>

Does the workload's setup, times only the measured call with time.perf_counter and writes
{"seconds": ..., "result": ...} to the path in $OPTAGENT_OUTPUT (default: bench-output.json).
With OPTAGENT_SETUP_ONLY=1 it does the setup only and writes {"result": null}.
Under a profiler, OPTAGENT_PROFILE_REPEAT=N runs the measured section N times inside
optagent_measured(), reports the mean time per run and adds "repeat": N to the output.
"""

import json
import os
import random
import sys
import time

# Inputs depend on $OPTAGENT_SEED (0 when unset): the evaluator verifies with a seed the agent's
# bench tool never uses, so a patch tuned to the inputs it saw gains nothing.
INPUT_SEED = int(os.environ.get("OPTAGENT_SEED", "0"))


def seed(k):
    """The seed of input stream k under $OPTAGENT_SEED."""
    return k + 1000003 * INPUT_SEED

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from pyroute import Graph, Index, histogram, moving_median, tokenize  # noqa: E402
from pyroute.text import synthetic_corpus  # noqa: E402


def graph_shortest_path():
    g = Graph.random(300, avg_degree=6, max_weight=100, seed=seed(1))
    sources = list(range(0, 300, 15))

    def run():
        return [g.shortest_path(s) for s in sources]

    def summarize(all_dist):
        out = []
        for dist in all_dist:
            reached = [d for d in dist if d is not None]
            out.append([len(reached), sum(reached), max(reached)])
        return {"per_source": out, "sample": all_dist[0][::20]}

    return run, summarize


def graph_components():
    graphs = [Graph.random_forest(250, edges=115, seed=seed(100 + i)) for i in range(60)]

    def run():
        return [g.components() for g in graphs]

    def summarize(all_comps):
        out = []
        for comps in all_comps:
            sizes = sorted((len(c) for c in comps), reverse=True)
            out.append([len(comps), sizes[:3],
                        sum((i + 1) * c[0] for i, c in enumerate(comps)) % 1000003])
        return {"per_graph": out}

    return run, summarize


def text_index_add():
    docs, _ = synthetic_corpus(450, 50, seed=seed(3))

    def run():
        index = Index()
        for doc in docs:
            index.add(doc)
        return index

    def summarize(index):
        terms = index.terms()
        return {"docs": len(index), "terms": len(terms),
                "postings": sum(index.document_frequency(t) for t in terms),
                "top": sorted(terms, key=lambda t: (-index.document_frequency(t), t))[:5]}

    return run, summarize


def text_index_search():
    docs, vocab = synthetic_corpus(150, 40, seed=seed(4))
    index = Index(docs)
    rng = random.Random(seed(5))
    queries = []
    for _ in range(1000):
        k = rng.randint(2, 3)
        queries.append(" ".join(rng.choice(vocab[:12]) for _ in range(k)))

    def run():
        return [index.search(q) for q in queries]

    def summarize(results):
        return {"hits": [len(r) for r in results],
                "checksum": sum(sum(r) for r in results) % 1000003}

    return run, summarize


def text_tokenize():
    docs, _ = synthetic_corpus(400, 100, seed=seed(6))
    text = "\n".join(docs)

    def run():
        return tokenize(text)

    def summarize(words):
        return {"words": len(words), "chars": sum(len(w) for w in words),
                "head": words[:8]}

    return run, summarize


def stats_moving_median():
    rng = random.Random(seed(7))
    xs = [rng.gauss(0.0, 1.0) + 0.001 * i for i in range(30000)]

    def run():
        return moving_median(xs, 41)

    def summarize(out):
        return {"n": len(out), "sum": sum(out), "sample": out[:: len(out) // 16]}

    return run, summarize


def stats_histogram():
    rng = random.Random(seed(8))
    xs = [rng.random() ** 2 for _ in range(250000)]

    def run():
        return histogram(xs, 64, 0.0, 1.0)

    def summarize(counts):
        return {"counts": counts}

    return run, summarize


WORKLOADS = {
    "graph_shortest_path": graph_shortest_path,
    "graph_components": graph_components,
    "text_index_add": text_index_add,
    "text_index_search": text_index_search,
    "text_tokenize": text_tokenize,
    "stats_moving_median": stats_moving_median,
    "stats_histogram": stats_histogram,
}


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
    return out


def main(argv):
    if len(argv) != 2 or argv[1] not in WORKLOADS:
        sys.stderr.write("usage: python3 bench/run.py {%s}\n" % ",".join(sorted(WORKLOADS)))
        return 2
    run, summarize = WORKLOADS[argv[1]]()
    if os.environ.get("OPTAGENT_SETUP_ONLY") == "1":
        write_output({"result": None})
        return 0
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
