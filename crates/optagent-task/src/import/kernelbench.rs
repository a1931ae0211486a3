//! KernelBench's problems as task folders (`optagent import kernelbench`).
//!
//! KernelBench (`ScalingIntelligence/KernelBench`) keeps one Python file per problem in
//! `KernelBench/level<N>/<number>_<Name>.py`: a `class Model(nn.Module)`, `get_inputs()`,
//! `get_init_inputs()` and module-level size constants. A solution is a `ModelNew` with the same
//! constructor and `forward`. KernelBench checks correctness on 5 random inputs with
//! `torch.allclose` at its fp32 tolerance (rtol = atol = 1e-4, `get_tolerance_for_precision` in
//! `src/kernelbench/eval.py`) and times 100 trials with CUDA events after a device synchronize and
//! an L2 flush (`src/kernelbench/timing.py`).
//!
//! Each problem becomes `<out>/kernelbench-L<level>-<stem>/`:
//! - `repo/reference.py`: the problem file as it is (protected);
//! - `repo/solution.py`: the same text with `Model` renamed `ModelNew`, the file the agent edits;
//! - `repo/bench/run.py` and `repo/bench/optagent_bench.py`: the workload (protected), timing
//!   `ModelNew` with optagent's GPU harness and checking every trial against `Model`;
//! - `expert.diff`: `solution.py` replaced by the reference under `torch.compile`, KernelBench's
//!   second baseline;
//! - `kernelbench.json`: where the problem came from.

use std::path::{Path, PathBuf};

use super::{task_folder, task_id, write, ImportError, Imported};

/// optagent's GPU timing harness, copied into every imported task's protected `bench/`.
pub const HARNESS: &str = include_str!("../../python/optagent_bench.py");
/// The workload script of an imported problem (placeholders filled by [`run_script`]).
const RUN_TEMPLATE: &str = include_str!("../../python/kernelbench_run.py");
/// The expert's `solution.py`: the reference under `torch.compile`.
pub const EXPERT_SOLUTION: &str = include_str!("../../python/kernelbench_expert.py");

/// KernelBench's fp32 tolerance (rtol = atol).
pub const TOLERANCE: f64 = 1e-4;
/// KernelBench's number of correctness trials.
pub const CORRECT_TRIALS: usize = 5;
/// Timed trials per workload process (KernelBench times 100 in one process; the evaluator
/// repeats the process instead).
pub const PERF_TRIALS: usize = 20;
/// Untimed calls before the trials (KernelBench: 3).
pub const WARMUP: usize = 3;

/// One problem file, checked.
#[derive(Debug, Clone)]
pub struct Problem {
    pub level: u32,
    pub path: PathBuf,
    /// The file name less `.py`, e.g. `19_ReLU`.
    pub stem: String,
    /// The number before the first `_`.
    pub number: Option<u32>,
    pub text: String,
}

/// The folders `level<N>` under `dir`, or under `dir/KernelBench`, or `dir` itself when it is one.
fn level_dirs(dir: &Path) -> Vec<(u32, PathBuf)> {
    let level_of =
        |p: &Path| -> Option<u32> { p.file_name()?.to_str()?.strip_prefix("level")?.parse().ok() };
    if let Some(l) = level_of(dir) {
        return vec![(l, dir.to_path_buf())];
    }
    for base in [dir.to_path_buf(), dir.join("KernelBench")] {
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(&base)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .filter_map(|p| level_of(&p).map(|l| (l, p)))
            .collect();
        if !found.is_empty() {
            found.sort();
            return found;
        }
    }
    vec![]
}

/// Read the problems under `dir` (a KernelBench checkout, its `KernelBench` folder or one
/// `level<N>` folder), of `level` when given, whose number or stem is in `only` when not empty.
pub fn read(dir: &Path, level: Option<u32>, only: &[String]) -> Result<Vec<Problem>, ImportError> {
    let parse = |message: String| ImportError::Parse {
        path: dir.to_path_buf(),
        message,
    };
    if !dir.is_dir() {
        return Err(parse(
            "not a folder (expected a KernelBench checkout)".into(),
        ));
    }
    let levels = level_dirs(dir);
    if levels.is_empty() {
        return Err(parse(
            "no level<N> folder in it, nor in its KernelBench/ folder (expected a KernelBench \
             checkout)"
                .into(),
        ));
    }
    let levels: Vec<_> = levels
        .into_iter()
        .filter(|(l, _)| level.is_none_or(|want| *l == want))
        .collect();
    if levels.is_empty() {
        return Err(parse(format!("no level{} folder", level.unwrap_or(0))));
    }
    let mut out = vec![];
    for (l, ldir) in levels {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&ldir)
            .map_err(|source| ImportError::Read {
                path: ldir.clone(),
                source,
            })?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "py"))
            .collect();
        files.sort();
        for path in files {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            let number = stem.split('_').next().and_then(|n| n.parse().ok());
            if !only.is_empty()
                && !only
                    .iter()
                    .any(|o| *o == stem || number.is_some_and(|n: u32| o == &n.to_string()))
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|source| ImportError::Read {
                path: path.clone(),
                source,
            })?;
            check_problem(&path, &text)?;
            out.push(Problem {
                level: l,
                path,
                stem,
                number,
                text,
            });
        }
    }
    if out.is_empty() {
        return Err(parse(if only.is_empty() {
            "no problem files (*.py) found".into()
        } else {
            format!("no problem matches --problems {}", only.join(","))
        }));
    }
    Ok(out)
}

/// A problem file must define `class Model`, `get_inputs` and `get_init_inputs` at the top level.
fn check_problem(path: &Path, text: &str) -> Result<(), ImportError> {
    for (what, prefix) in [
        ("class Model", "class Model("),
        ("def get_inputs", "def get_inputs("),
        ("def get_init_inputs", "def get_init_inputs("),
    ] {
        if !text.lines().any(|l| l.starts_with(prefix)) {
            return Err(ImportError::Parse {
                path: path.to_path_buf(),
                message: format!(
                    "no top-level `{what}` (a KernelBench problem defines class Model(nn.Module), \
                     get_inputs() and get_init_inputs())"
                ),
            });
        }
    }
    Ok(())
}

/// The editable solution: the problem's text with the word `Model` renamed `ModelNew`.
pub fn solution_text(p: &Problem) -> String {
    let mut out = String::from(
        "# The solution optagent measures: make ModelNew faster than reference.Model, with the same\n\
         # constructor arguments, forward signature and results (get_inputs/get_init_inputs here are\n\
         # not used: bench/run.py takes them from reference.py).\n",
    );
    let bytes = p.text.as_bytes();
    let mut i = 0;
    while i < p.text.len() {
        let rest = &p.text[i..];
        let word_start = i == 0 || !is_ident(bytes[i - 1]);
        if word_start && rest.starts_with("Model") {
            let end = i + "Model".len();
            if end >= bytes.len() || !is_ident(bytes[end]) {
                out.push_str("ModelNew");
                i = end;
                continue;
            }
        }
        let c = rest.chars().next().expect("in bounds");
        out.push(c);
        i += c.len_utf8();
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// A unified diff that replaces the whole of `path` (text `old`) with `new`.
pub fn replace_diff(path: &str, old: &str, new: &str) -> String {
    let lines = |s: &str| -> Vec<String> { s.lines().map(str::to_string).collect() };
    let (a, b) = (lines(old), lines(new));
    let mut d = format!(
        "--- a/{path}\n+++ b/{path}\n@@ -1,{} +1,{} @@\n",
        a.len(),
        b.len()
    );
    for l in &a {
        d.push_str(&format!("-{l}\n"));
    }
    for l in &b {
        d.push_str(&format!("+{l}\n"));
    }
    d
}

/// The task id of a problem: `kernelbench-L<level>-<stem>`.
pub fn problem_id(p: &Problem) -> Result<String, ImportError> {
    task_id(&format!("kernelbench-L{}-{}", p.level, p.stem)).map_err(|e| ImportError::Parse {
        path: p.path.clone(),
        message: e.to_string(),
    })
}

/// The workload script with the constants filled in.
pub fn run_script() -> String {
    RUN_TEMPLATE
        .replace("__TOLERANCE__", &format!("{TOLERANCE:e}"))
        .replace("__CORRECT_TRIALS__", &CORRECT_TRIALS.to_string())
        .replace("__PERF_TRIALS__", &PERF_TRIALS.to_string())
        .replace("__WARMUP__", &WARMUP.to_string())
}

fn task_toml(p: &Problem, id: &str) -> String {
    let name = p
        .stem
        .replace(|c: char| !(c.is_alphanumeric() || c == '_'), "_");
    format!(
        r#"# Imported by `optagent import kernelbench` from {src}
id = "{id}"
instruction = """
Make solution.ModelNew faster than the PyTorch reference (reference.Model, KernelBench level {level}
problem {stem}) on a CUDA GPU, computing the same outputs. ModelNew must keep Model's constructor
arguments (get_init_inputs() in reference.py) and forward signature (get_inputs()); you may write
custom CUDA kernels (torch.utils.cpp_extension.load_inline), Triton kernels, or use any PyTorch
operator. The workload `python3 bench/run.py` builds Model and ModelNew with the same seed, runs
ModelNew on fresh random inputs per trial (CUDA events after a device synchronize and an L2
flush) and compares every output with Model's within rtol = atol = {tol:e} (KernelBench's fp32
tolerance); `python3 bench/run.py --check` runs the correctness check alone. Inputs must not be
modified, work must finish on the calling stream, and results may not be cached between calls.
Only solution.py counts: reference.py and bench/ are reset before measuring.
"""
languages = ["python", "cuda"]
device = "cuda"
metric = "time"
protected = ["reference.py", "bench/**"]

[source]
path = "repo"

[expert]
patch = "expert.diff"

[tests]
commands = ["python3 bench/run.py --check"]
timeout = 900

[env]
PYTHONHASHSEED = "0"
PYTHONDONTWRITEBYTECODE = "1"

[measure]
reps = 10
warmup = 1
timeout = 900
# The workload's result is a summary per trial (shape, sums, samples); the element-wise check
# at KernelBench's tolerance runs in the workload itself.
rtol = 1e-3
atol = 1e-3

[[workloads]]
name = "kernelbench.level{level}.{name}.Model.forward"
command = "python3 bench/run.py"
"#,
        src = p.path.display(),
        level = p.level,
        stem = p.stem,
        tol = TOLERANCE,
    )
}

/// Import the problems under `dir` into `<out>/<id>/`, one task each.
pub fn import(
    dir: &Path,
    level: Option<u32>,
    only: &[String],
    out: &Path,
    force: bool,
) -> Result<Vec<Imported>, ImportError> {
    let problems = read(dir, level, only)?;
    let mut ids = std::collections::BTreeSet::new();
    for p in &problems {
        let id = problem_id(p)?;
        if !ids.insert(id.clone()) {
            return Err(ImportError::Parse {
                path: p.path.clone(),
                message: format!("two problems would both be task {id}"),
            });
        }
    }
    let mut done = vec![];
    for p in &problems {
        let id = problem_id(p)?;
        let tdir = task_folder(out, &id, force)?;
        let repo = tdir.join("repo");
        let solution = solution_text(p);
        write(&repo.join("reference.py"), &p.text)?;
        write(&repo.join("solution.py"), &solution)?;
        write(&repo.join("bench/run.py"), &run_script())?;
        write(&repo.join("bench/optagent_bench.py"), HARNESS)?;
        write(&repo.join(".gitignore"), "__pycache__/\n")?;
        write(
            &tdir.join("expert.diff"),
            &replace_diff("solution.py", &solution, EXPERT_SOLUTION),
        )?;
        let meta = serde_json::json!({
            "benchmark": "KernelBench",
            "level": p.level,
            "problem": p.stem,
            "number": p.number,
            "source_file": p.path.display().to_string(),
            "tolerance": TOLERANCE,
            "correct_trials": CORRECT_TRIALS,
            "perf_trials": PERF_TRIALS,
        });
        write(
            &tdir.join("kernelbench.json"),
            &format!("{}\n", serde_json::to_string_pretty(&meta).expect("json")),
        )?;
        write(&tdir.join("task.toml"), &task_toml(p, &id))?;
        let task = crate::Task::load(&tdir).map_err(|source| ImportError::Invalid {
            path: tdir.clone(),
            source,
        })?;
        done.push(Imported {
            id,
            dir: tdir,
            workloads: task.spec.workloads.len(),
        });
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> Problem {
        Problem {
            level: 1,
            path: "x/level1/1_A.py".into(),
            stem: "1_A".into(),
            number: Some(1),
            text: text.into(),
        }
    }

    #[test]
    fn the_solution_renames_the_word_model_only() {
        let p = problem("class Model(nn.Module):\n    def __init__(self):\n        super(Model, self).__init__()\n# MyModel Model_x Model.\n");
        let s = solution_text(&p);
        assert!(s.contains("class ModelNew(nn.Module):"), "{s}");
        assert!(s.contains("super(ModelNew, self)"), "{s}");
        assert!(s.contains("# MyModel Model_x ModelNew."), "{s}");
    }

    #[test]
    fn a_file_without_model_or_inputs_is_refused_by_name() {
        let d = tempfile::tempdir().unwrap();
        let l = d.path().join("level1");
        std::fs::create_dir_all(&l).unwrap();
        std::fs::write(l.join("1_X.py"), "class Model(nn.Module):\n    pass\n").unwrap();
        let e = read(d.path(), None, &[]).unwrap_err().to_string();
        assert!(e.contains("1_X.py") && e.contains("get_inputs"), "{e}");
        let e = read(d.path(), Some(2), &[]).unwrap_err().to_string();
        assert!(e.contains("no level2"), "{e}");
        let e = read(&d.path().join("nope"), None, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a folder"), "{e}");
    }

    /// tasks/torchops times its workloads with a copy of the harness, which must not drift.
    #[test]
    fn torchops_carries_the_current_harness() {
        let copy = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tasks/torchops/repo/bench/optagent_bench.py");
        let text = std::fs::read_to_string(&copy).unwrap();
        assert!(
            text == HARNESS,
            "{} differs from crates/optagent-task/python/optagent_bench.py: copy it over",
            copy.display()
        );
    }

    #[test]
    fn the_expert_diff_applies_to_the_solution() {
        let p = problem("class Model(nn.Module):\n    pass\n\ndef get_inputs():\n    return []\n");
        let sol = solution_text(&p);
        let d = replace_diff("solution.py", &sol, EXPERT_SOLUTION);
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("solution.py"), &sol).unwrap();
        std::fs::write(t.path().join("e.diff"), &d).unwrap();
        let ok = std::process::Command::new("patch")
            .args(["-p1", "-s", "-i", "e.diff"])
            .current_dir(t.path())
            .status();
        if let Ok(st) = ok {
            assert!(st.success());
            let got = std::fs::read_to_string(t.path().join("solution.py")).unwrap();
            assert_eq!(got, EXPERT_SOLUTION);
        }
    }
}
