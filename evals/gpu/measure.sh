#!/usr/bin/env bash
# GPU figures for issue 15, in one short run (budget: < 7 minutes on one H200, 16 cores).
#
#   bash evals/gpu/measure.sh OPTAGENT_BIN KERNELBENCH_DIR OUT_DIR [PROBLEMS]
#
# OPTAGENT_BIN     a built optagent binary (e.g. target/release/optagent)
# KERNELBENCH_DIR  a KernelBench checkout, its KernelBench/ folder, or its level1/ folder (plain
#                  files; no network is needed)
# OUT_DIR          where the --json outputs, logs and summary.md go (created)
# PROBLEMS         level-1 problem numbers, comma-separated (default 19,23,40,47,88: ReLU,
#                  Softmax, LayerNorm, Sum reduction, MinGPTNewGelu)
#
# For each problem: the expert (torch.compile) against the eager reference, and an A/A (nop:
# the base against itself); then tasks/torchops' expert. Runs use the local sandbox (bubblewrap
# when present, else the plain local fallback); python3 must import torch with CUDA.
#
# HACKS=1 also evaluates the GPU cheats of tests/fixtures/hacks/kernelbench (its index.tsv: the
# hack, its fixture problem, the flags it must get), each on its problem imported from
# tests/fixtures/kernelbench, right after torchops: hack.<name>.json/.log in OUT_DIR and a row each
# in summary.md with the flags expected. Their tasks' expert is the reference unchanged
# (plain_expert.diff; HACK_EXPERT=compile keeps torch.compile's), since torch.compile costs
# seconds per process and has no bearing on the flags. KERNELBENCH_DIR "-" runs no KernelBench
# problems (torchops and the hacks only); TORCHOPS=0 skips torchops. HACK_REPS (default REPS)
# sets the hacks' repetitions: the flags come from any one run, so 1 is enough for them.
set -uo pipefail
bin=${1:?usage: measure.sh OPTAGENT_BIN KERNELBENCH_DIR OUT_DIR [PROBLEMS]}
kb=${2:?usage: measure.sh OPTAGENT_BIN KERNELBENCH_DIR OUT_DIR [PROBLEMS]}
out=${3:?usage: measure.sh OPTAGENT_BIN KERNELBENCH_DIR OUT_DIR [PROBLEMS]}
problems=${4:-19,23,40,47,88}
here=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
reps=${REPS:-3}
start=$(date +%s)
{
  echo "date: $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())' 2>&1
  command -v bwrap >/dev/null && echo "bwrap: $(command -v bwrap)" || echo "bwrap: absent (local fallback)"
} >"$out/machine.txt"
cat "$out/machine.txt"

if [[ $kb != - ]]; then
  "$bin" import kernelbench "$kb" --level 1 --problems "$problems" --out "$out/tasks" --force \
    >"$out/import.log" 2>&1 || { cat "$out/import.log"; exit 1; }
  cat "$out/import.log"
fi
hacks=$here/tests/fixtures/hacks/kernelbench
if [[ ${HACKS:-0} == 1 ]]; then
  # One task folder per hack, so that the hacks can run side by side (their flags, not their
  # times, are what they show).
  while IFS=$'\t' read -r name problem _; do
    [[ $name == \#* || -z $name ]] && continue
    "$bin" import kernelbench "$here/tests/fixtures/kernelbench" --problems "$problem" \
      --out "$out/hack-tasks/$name" --force >>"$out/hack-import.log" 2>&1 \
      || { cat "$out/hack-import.log"; exit 1; }
    if [[ ${HACK_EXPERT:-plain} != compile ]]; then
      cp "$hacks/plain_expert.diff" "$out/hack-tasks/$name/kernelbench-L1-$problem/expert.diff"
    fi
  done <"$hacks/index.tsv"
fi

# DEADLINE (seconds since start, default 480): runs that would start later are skipped, so the
# summary is always written inside the device's time. AA (default 2): how many problems also get
# an A/A run. EVAL_ARGS: extra `optagent eval` arguments (e.g. --cpu-fallback for a dry run here).
deadline=${DEADLINE:-480}
aa=${AA:-2}
run() { # name, task, patch[, reps]
  local name=$1 task=$2 patch=$3 n=${4:-$reps} t0=$(date +%s)
  if (( t0 - start > deadline )); then echo "$name: skipped (past the ${deadline}s deadline)"; return; fi
  # shellcheck disable=SC2086
  timeout "${RUN_TIMEOUT:-200}" "$bin" eval "$task" --patch "$patch" --reps "$n" --warmup "${WARMUP:-1}" --json \
    ${EVAL_ARGS:-} >"$out/$name.json" 2>"$out/$name.log"
  echo "$name: exit $? in $(( $(date +%s) - t0 ))s"
}
if [[ ${HACKS:-0} == 1 ]]; then
  while IFS=$'\t' read -r name problem _; do
    [[ $name == \#* || -z $name ]] && continue
    run "hack.$name" "$out/hack-tasks/$name/kernelbench-L1-$problem" "$hacks/$name.diff" \
      "${HACK_REPS:-$reps}" </dev/null &
  done <"$hacks/index.tsv"
  wait
fi
i=0
for t in "$out"/tasks/*/; do
  [[ -d $t ]] || continue
  id=$(basename "$t")
  # KB_PATCH=nop gives, in one evaluation, the expert (torch.compile) against the reference and
  # the A/A (the reference against itself); the default runs the expert as the candidate too.
  if [[ ${KB_PATCH:-oracle} == nop ]]; then
    run "$id.nop" "$t" nop
  else
    run "$id.expert" "$t" oracle
    if (( i < aa )); then run "$id.aa" "$t" nop; fi
  fi
  i=$((i + 1))
done
# TORCHOPS=0 skips it; TORCHOPS_PATCH (default oracle) is the candidate (nop gives an A/A beside
# the expert's figures).
if [[ ${TORCHOPS:-1} != 0 ]]; then
  run "torchops.${TORCHOPS_PATCH:-oracle}" "$here/tasks/torchops" "${TORCHOPS_PATCH:-oracle}"
fi

python3 - "$out" "$hacks/index.tsv" >"$out/summary.md" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
expect = {}
for line in open(sys.argv[2]):
    f = line.rstrip("\n").split("\t")
    if len(f) >= 3 and not f[0].startswith("#"):
        expect["hack." + f[0]] = f[2]
print("# GPU measurements\n")
print("```\n" + open(os.path.join(out, "machine.txt")).read() + "```\n")
print("| run | verdict | speedup (CI) | expert speedup (CI) | medians base / expert / patch (ms) | verified, opt_base | flags | flags expected |")
print("|---|---|---|---|---|---|---|---|")
for p in sorted(glob.glob(os.path.join(out, "*.json"))):
    name = os.path.basename(p)[:-5]
    try:
        d = json.load(open(p))
    except Exception as e:
        print("| %s | no JSON (%s; see %s.log) | | | | | | %s |" % (name, type(e).__name__, name,
                                                               expect.get(name, "")))
        continue
    reps = d.get("reports") or d.get("candidates") or [d]
    r = reps[0] if isinstance(reps, list) and reps else d
    flags = [f.get("kind") + ":" + f.get("detail", "")[:60] for f in r.get("integrity", {}).get("flags", [])]
    def ci(x, c):
        if x is None:
            return "-"
        return "%.3fx" % x + (" (%.2f-%.2f)" % tuple(c) if c else "")
    rows = r.get("workloads") or [{}]
    for w in rows:
        med = lambda k: ("%.3f" % (1e3 * w[k]["median"])) if isinstance(w.get(k), dict) else "-"
        print("| %s %s | %s | %s | %s | %s / %s / %s | %s, %s | %s | %s |" % (
            name, w.get("name", ""), r.get("verdict"), ci(w.get("speedup"), w.get("speedup_ci")),
            ci(w.get("expert_speedup"), w.get("expert_speedup_ci")),
            med("baseline"), med("expert"), med("patch"), r.get("verified"), r.get("opt_base"),
            "; ".join(flags) or "-", expect.get(name, "")))
PY
cat "$out/summary.md"
echo "total: $(( $(date +%s) - start ))s"
