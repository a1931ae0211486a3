#!/usr/bin/env python3
"""Writes a replay that applies a real task's expert revision through the agent's tools.

    python3 evals/real/make_replay.py evals/real/sympy__sympy-27051 MIRROR > replay.jsonl

MIRROR is the task's git mirror (e.g. $OPTAGENT_GIT_MIRRORS/sympy/sympy.git). The diff between
the task's `source.rev` and `expert.rev` (less tests and files outside the package: .mailmap,
docs) becomes one `edit` call per hunk, then `submit`, in the `model_response` format that
`--model replay:<file>` plays back (evals/replays/README.md). `evals/real/sweep-replay.toml`
runs such a replay as a sweep, with no model and no key.
"""
import subprocess
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "replays"))
from make_replay import hunks, response  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    task, mirror = Path(sys.argv[1]), sys.argv[2]
    spec = tomllib.loads((task / "task.toml").read_text())
    base, expert = spec["source"]["rev"], spec["expert"]["rev"]
    package = spec["id"].split("__")[1].split("-")[0]
    diff = subprocess.run(
        ["git", "--git-dir", mirror, "diff", base, expert, "--", package,
         f":(exclude){package}/**/tests/**", f":(exclude){package}/test/**"],
        check=True, capture_output=True, text=True).stdout
    if not diff:
        sys.exit(f"no change under {package}/ between {base} and {expert} in {mirror}")
    calls = []
    for path, old, new in hunks(diff):
        calls.append(("edit", {"command": "replace", "path": path, "old_str": old, "new_str": new},
                      None))
    calls.append(("submit", {"summary": f"Applied the upstream change {expert[:10]}."}, None))
    for i, (name, args, text) in enumerate(calls):
        print(__import__("json").dumps(response(i, name, args, text)))


if __name__ == "__main__":
    main()
