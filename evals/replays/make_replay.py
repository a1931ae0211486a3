#!/usr/bin/env python3
"""Writes a replay trajectory that applies a task's expert diff through the agent's tools.

    python3 evals/replays/make_replay.py tasks/pyroute > evals/replays/pyroute-expert.jsonl

The file holds only `model_response` lines, the format `--model replay:<file>` plays back
(crates/optagent-model/src/replay.rs): the model looks at the package, makes
one `edit` call per hunk of `expert.diff`, benches again and submits. It lets a newcomer watch
the whole loop (tools, bench, verification, selection, report) with no model and no key.
"""
import json
import sys
from pathlib import Path


def hunks(diff):
    """(path, old, new) per hunk: old = context and removed lines, new = context and added."""
    out, path, old, new, in_hunk = [], None, [], [], False

    def flush():
        if in_hunk and (old or new):
            out.append((path, "".join(old), "".join(new)))

    for line in diff.splitlines(keepends=True):
        if line.startswith("+++ b/"):
            flush()
            path, old, new, in_hunk = line[6:].strip(), [], [], False
        elif line.startswith("@@"):
            flush()
            old, new, in_hunk = [], [], True
        elif line.startswith(("diff --git", "--- ", "index ")):
            flush()
            in_hunk = False
        elif in_hunk:
            body = line[1:] if line[:1] in "+- " else line
            if line.startswith("-"):
                old.append(body)
            elif line.startswith("+"):
                new.append(body)
            elif line.startswith("\\"):
                continue
            else:
                old.append(body)
                new.append(body)
    flush()
    return out


def response(n, name, args, text=None):
    return {
        "type": "model_response",
        "response": {
            "content": text,
            "tool_calls": [{"id": f"call_{n}", "name": name, "arguments": json.dumps(args)}],
            "finish_reason": "tool_calls",
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0},
            "model": "replay",
        },
    }


def main():
    task = Path(sys.argv[1])
    diff = (task / "expert.diff").read_text()
    calls = [("search", {"mode": "outline", "path": "pyroute/graph.py"}, "Let me look at the package first."),
             ("view", {"path": "pyroute/stats.py"}, "And at the statistics module.")]
    for path, old, new in hunks(diff):
        calls.append(("edit", {"command": "replace", "path": path, "old_str": old, "new_str": new}, None))
    calls.append(("bench", {}, "Check the change."))
    calls.append(("submit", {"summary": "Applied the known faster algorithms, hunk by hunk."}, None))
    for i, (name, args, text) in enumerate(calls):
        print(json.dumps(response(i, name, args, text)))


if __name__ == "__main__":
    main()
