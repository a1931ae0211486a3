"""ASV benchmarks as optagent workloads, without the asv package.

Written into a task folder by `optagent import asv`. Two modes:

  python asv_workload.py list <benchmark dir>
      prints one JSON object per line, {"name", "benchmark", "index"}, for every time_*
      benchmark and every combination of its parameters, named as asv names them:
      `<module path below the benchmark dir>.<Class>.<method>` (or `.<function>`), followed for a
      parameterized benchmark by `(<repr of each value>, ...)`, the form `asv compare` prints.

  python asv_workload.py run <benchmark dir> <benchmark> <index>
      runs one benchmark at one parameter combination in this fresh process: setup(*params),
      one warm-up call, then `repeat` samples (the benchmark's, else 10) of `number` calls (the
      benchmark's, else 1), teardown(*params); writes {"seconds": <median seconds per call>} to
      $OPTAGENT_OUTPUT.

Discovery follows asv_runner's (`asv_runner/discovery.py`): the benchmark dir is imported as a
package, every module below it is walked, classes and functions whose name matches asv's
`time_` / `Time` pattern are benchmarks, and `params`, `param_names`, `setup`, `teardown`,
`number`, `repeat` come from the function, then its class, then its module.
"""

import importlib
import inspect
import itertools
import json
import os
import pkgutil
import re
import statistics
import sys
import timeit

TIME_NAME = re.compile(r"^(Time[A-Z_].+)|(time_.+)$")


def import_root(bench_dir):
    bench_dir = os.path.abspath(bench_dir)
    parent, package = os.path.split(bench_dir)
    # The tree being measured (the working directory) comes first, so its code is what runs,
    # then the suite's parent folder, from which the suite is imported as a package.
    sys.path[:0] = [os.getcwd(), parent]
    return importlib.import_module(package)


def modules(root):
    yield root
    for info in pkgutil.walk_packages(getattr(root, "__path__", []), root.__name__ + "."):
        yield importlib.import_module(info.name)


def first_attr(sources, name, default):
    for s in sources:
        if hasattr(s, name):
            return getattr(s, name)
    return default


def benchmarks(root):
    found = []
    for module in modules(root):
        parts = module.__name__.split(".")[1:]
        for attr, obj in sorted(vars(module).items()):
            if inspect.isclass(obj) and obj.__module__ == module.__name__:
                for name in sorted(dir(obj)):
                    if TIME_NAME.match(name) and callable(getattr(obj, name)):
                        found.append((".".join(parts + [attr, name]), module, obj, name))
            elif inspect.isfunction(obj) and obj.__module__ == module.__name__:
                if TIME_NAME.match(attr):
                    found.append((".".join(parts + [attr]), module, None, attr))
    return found


def repr_no_address(value):
    text = repr(value)
    match = re.match(r"^(<.*) at (0x[\da-fA-F]*)(>)$", text)
    return match[1] + match[3] if match else text


def param_lists(params):
    params = list(params)
    if params and not isinstance(params[0], (tuple, list)):
        return [params]
    return [list(p) for p in params]


def combos(module, klass, name):
    func = getattr(klass, name) if klass is not None else getattr(module, name)
    sources = [func] + ([klass] if klass is not None else []) + [module]
    lists = param_lists(first_attr(sources, "params", []))
    return sources, lists, list(itertools.product(*lists)) if lists else [()]


def display(name, values):
    if not values:
        return name
    shown = [" ".join(repr_no_address(v).split()) for v in values]
    return f"{name}({', '.join(shown)})"


def cmd_list(bench_dir):
    root = import_root(bench_dir)
    for full, module, klass, name in benchmarks(root):
        _, _, all_values = combos(module, klass, name)
        for i, values in enumerate(all_values):
            print(json.dumps({"name": display(full, values), "benchmark": full, "index": i}))


def cmd_run(bench_dir, wanted, index):
    root = import_root(bench_dir)
    for full, module, klass, name in benchmarks(root):
        if full == wanted:
            break
    else:
        sys.exit(f"no time_ benchmark named {wanted!r} under {bench_dir}")
    sources, _, all_values = combos(module, klass, name)
    if not 0 <= index < len(all_values):
        sys.exit(f"{wanted} has {len(all_values)} parameter combination(s), not index {index}")
    values = all_values[index]
    owner = klass() if klass is not None else module
    func = getattr(owner, name)
    holders = [owner] if klass is not None else []
    setup = first_attr(holders + [module], "setup", None)
    teardown = first_attr(holders + [module], "teardown", None)
    if setup is not None:
        setup(*values)
    # A fixed schedule: the benchmark's own `number` (else 1) calls per sample and `repeat`
    # (else 10) samples after one warm-up call. asv grows `number` until a sample takes 10 ms;
    # that would make a faster tree run more calls, and the process's wall time (which the
    # evaluator checks the reported seconds against) would no longer follow the work done.
    number = int(first_attr(sources, "number", 0) or 0) or 1
    repeat = first_attr(sources, "repeat", 0) or 0
    repeat = int(repeat[1] if isinstance(repeat, (tuple, list)) else repeat) or 10
    timer = timeit.Timer(lambda: func(*values))
    timer.timeit(1)
    samples = [timer.timeit(number) / number for _ in range(repeat)]
    if teardown is not None:
        teardown(*values)
    out = os.environ.get("OPTAGENT_OUTPUT")
    if out:
        with open(out, "w") as f:
            json.dump({"seconds": statistics.median(samples)}, f)
    print(f"{display(wanted, values)}: {statistics.median(samples):.6g} s per call "
          f"({repeat} samples of {number} call(s))")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "list":
        cmd_list(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "run":
        cmd_run(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
