"""SWE-fficiency's correctness check, run as an optagent task's test command.

Written into the task folder by `optagent import swefficiency`. It runs the row's `test_cmd` over
its covering test files (the ones whose coverage meets the expert's diff), parses pytest's `-rA`
summary as SWE-fficiency's `parse_log_pytest` does, and fails unless every test of `PASS_TO_PASS`
passed, which is how SWE-fficiency's report (`scripts/eval/get_report.py`) decides correctness.

Usage: python swefficiency_tests.py <task folder>
"""

import json
import os
import shlex
import subprocess
import sys

STATUSES = ("PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL", "XPASS")


def is_test_file(path):
    # SWE-fficiency keeps covering entries whose file name is test*.py or *_test.py.
    name = path.rsplit("/", 1)[-1].lower()
    return name.endswith(".py") and (name.startswith("test") or name.endswith("_test.py"))


def relative(path):
    # The dataset names files inside SWE-fficiency's containers, under /testbed/.
    return path[len("/testbed/"):] if path.startswith("/testbed/") else path


def drop_trailing_info(rest):
    # "path::test[param] - message" -> "path::test[param]" (brackets may hold spaces).
    if "[" not in rest.split(" - ", 1)[0]:
        return rest.split()[0]
    prefix, _, tail = rest.partition("[")
    depth, out = 1, ["["]
    for ch in tail:
        out.append(ch)
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                break
    return prefix + "".join(out)


def statuses(log):
    found = {}
    for line in log.splitlines():
        for status in STATUSES:
            if line.startswith(status + " "):
                rest = line[len(status) + 1:].strip()
                if rest:
                    found[drop_trailing_info(rest)] = status
    return found


def main():
    task_dir = sys.argv[1]
    with open(os.path.join(task_dir, "swefficiency_tests.json")) as f:
        spec = json.load(f)
    files = [relative(p) for p in spec["covering_tests"] if is_test_file(p)]
    files = [p for p in files if os.path.exists(p)]
    want = spec["PASS_TO_PASS"]
    if not files:
        print("none of the covering test files exists in this tree", file=sys.stderr)
        return 1 if want else 0
    command = shlex.split(spec["test_cmd"]) + files
    print("running:", " ".join(shlex.quote(c) for c in command), flush=True)
    run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    got = statuses(run.stdout)
    missing = [t for t in want if "PASS" not in got.get(t, "")]
    print(f"{len(want) - len(missing)} of {len(want)} PASS_TO_PASS test(s) passed "
          f"({len(got)} result(s) parsed, exit {run.returncode})")
    if missing:
        for t in missing[:20]:
            print(f"not passed: {t} ({got.get(t, 'no result')})")
        if len(missing) > 20:
            print(f"... and {len(missing) - 20} more")
        print(run.stdout[-3000:], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
