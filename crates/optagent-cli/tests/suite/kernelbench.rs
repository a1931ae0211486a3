//! `optagent import kernelbench` on the fixture problems (tests/fixtures/kernelbench), and the
//! GPU cheats of tests/fixtures/hacks/kernelbench (its `index.tsv`: hack, problem, the flags it
//! must get, whether the CPU shows it) scored by `optagent eval`. The hacks' tasks get the
//! fixtures' `plain_expert.diff` as their expert (the reference unchanged): torch.compile's expert
//! costs over a minute per process on this CPU and has no bearing on a candidate's flags. The
//! torch.compile expert itself is checked in the sibling module `kernelbench_check`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use super::common::*;
use serde_json::Value;

/// One row of `index.tsv`.
#[derive(Clone)]
struct Hack {
    name: String,
    problem: String,
    /// Harness flag kinds, `wrong_result`, or empty for none.
    expect: Vec<String>,
    on_cpu: bool,
}

fn hacks_dir() -> PathBuf {
    repo_root().join("tests/fixtures/hacks/kernelbench")
}

fn hacks() -> Vec<Hack> {
    let index = std::fs::read_to_string(hacks_dir().join("index.tsv")).unwrap();
    let rows: Vec<Hack> = index
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(
                f.len(),
                4,
                "index.tsv: {l:?} has not 4 tab-separated fields"
            );
            assert!(matches!(f[3], "yes" | "no"), "index.tsv: {l:?}");
            Hack {
                name: f[0].into(),
                problem: f[1].into(),
                expect: f[2]
                    .split(',')
                    .filter(|k| *k != "-")
                    .map(str::to_string)
                    .collect(),
                on_cpu: f[3] == "yes",
            }
        })
        .collect();
    assert!(rows.len() >= 7, "index.tsv has {} rows", rows.len());
    rows
}

/// Why torch cannot be used here, if it cannot.
fn torch_missing() -> Option<String> {
    match std::process::Command::new("python3")
        .args(["-c", "import torch"])
        .output()
    {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "python3 cannot import torch (tests/torch/install.sh installs it): {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )),
        Err(e) => Some(format!("python3 cannot be run: {e}")),
    }
}

/// Why no CUDA GPU can be used here, if none can.
fn gpu_missing() -> Option<String> {
    let ok = |prog: &str, args: &[&str]| {
        std::process::Command::new(prog)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ok("nvidia-smi", &["-L"]) {
        return Some("no CUDA GPU here (nvidia-smi -L finds none)".into());
    }
    if !ok(
        "python3",
        &[
            "-c",
            "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)",
        ],
    ) {
        return Some("torch sees no CUDA device here".into());
    }
    None
}

/// The fixture problems imported through the CLI into `out`.
async fn import_fixtures(out: &Path) {
    let o = optagent(&[
        "import",
        "kernelbench",
        repo_root()
            .join("tests/fixtures/kernelbench")
            .to_str()
            .unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("5 task(s)"), "{}", text(&o));
}

fn task_dir(out: &Path, problem: &str) -> PathBuf {
    out.join(format!("kernelbench-L1-{problem}"))
}

/// `git apply --check` of `diff` in `dir`: None when it applies, else git's words.
fn apply_check(dir: &Path, diff: &Path) -> Option<String> {
    let o = std::process::Command::new("git")
        .args(["apply", "--check"])
        .arg(diff)
        .current_dir(dir)
        .output()
        .expect("git runs");
    (!o.status.success()).then(|| String::from_utf8_lossy(&o.stderr).into_owned())
}

/// `optagent eval <task> --patch <hack> --json` (with `extra`), the report parsed.
async fn eval_hack(task: &Path, hack: &Hack, extra: &[&str]) -> Value {
    let patch = hacks_dir().join(format!("{}.diff", hack.name));
    let mut args = vec![
        "eval",
        task.to_str().unwrap(),
        "--patch",
        patch.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = optagent(&args).await;
    assert!(o.status.success(), "{}: {}", hack.name, text(&o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{}: eval --json is not JSON ({e}): {}", hack.name, text(&o)))
}

/// The harness kinds among a report's flags (`harness` flags' details start with the kind).
fn harness_kinds(report: &Value) -> Vec<String> {
    report["integrity"]["flags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["kind"] == "harness")
        .filter_map(|f| f["detail"].as_str()?.split(':').next().map(str::to_string))
        .collect()
}

/// What a hack must get, asserted on its report.
fn assert_caught(hack: &Hack, report: &Value) {
    let kinds = harness_kinds(report);
    let what = format!(
        "{}: {}",
        hack.name,
        serde_json::to_string_pretty(report).unwrap()
    );
    if hack.expect == ["wrong_result"] {
        assert_eq!(report["correct"], false, "{what}");
        assert_ne!(report["verdict"], "ok", "{what}");
        assert!(
            report["reason"]
                .as_str()
                .is_some_and(|r| r.contains("wrong result")),
            "{what}"
        );
        return;
    }
    let mut want = hack.expect.clone();
    let mut got = kinds.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want, "{what}");
    // A flagged patch never counts for fast_p, however fast it looked.
    if !want.is_empty() {
        assert_eq!(report["verified"], false, "{what}");
    } else {
        assert_eq!(report["verdict"], "ok", "{what}");
        assert!(
            report["integrity"]["flags"]
                .as_array()
                .is_some_and(|f| f.is_empty()),
            "{what}"
        );
    }
}

/// The hacks' tasks: the fixtures imported, with the plain expert.
async fn hack_tasks(out: &Path) {
    import_fixtures(out).await;
    for e in std::fs::read_dir(out).unwrap() {
        let t = e.unwrap().path();
        std::fs::copy(hacks_dir().join("plain_expert.diff"), t.join("expert.diff")).unwrap();
    }
}

#[tokio::test]
async fn every_gpu_hack_applies_to_its_imported_fixture_problem() {
    let d = tempfile::tempdir().unwrap();
    import_fixtures(d.path()).await;
    let readme = std::fs::read_to_string(hacks_dir().join("README.md")).unwrap();
    for h in hacks() {
        let repo = task_dir(d.path(), &h.problem).join("repo");
        assert!(
            repo.join("solution.py").is_file(),
            "{}: no {}",
            h.name,
            repo.display()
        );
        let diff = hacks_dir().join(format!("{}.diff", h.name));
        assert_eq!(apply_check(&repo, &diff), None, "{}", h.name);
        assert!(
            readme.contains(&format!("| `{}` | `{}` |", h.name, h.problem)),
            "README.md has no row for {} on {}",
            h.name,
            h.problem
        );
    }
    for e in std::fs::read_dir(d.path()).unwrap() {
        let repo = e.unwrap().path().join("repo");
        assert_eq!(
            apply_check(&repo, &hacks_dir().join("plain_expert.diff")),
            None,
            "{}",
            repo.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpu_hacks_the_cpu_can_show_are_flagged_by_eval_with_cpu_fallback() {
    let test = "gpu_hacks_the_cpu_can_show_are_flagged_by_eval_with_cpu_fallback";
    if let Some(why) = torch_missing() {
        optagent_testkit::skip(test, &why);
        return;
    }
    // Side by side, each hack in its own imported copy: what is asserted is the flags, not the
    // times, so the runs need not wait for each other; `MEASURING` is held for reading (this
    // overlaps the other torch test, never a measurement).
    let _shared = MEASURING.read().await;
    let d = tempfile::tempdir().unwrap();
    let mut runs = tokio::task::JoinSet::new();
    for h in hacks().into_iter().filter(|h| h.on_cpu) {
        let out = d.path().join(&h.name);
        runs.spawn(async move {
            let t0 = std::time::Instant::now();
            hack_tasks(&out).await;
            let task = task_dir(&out, &h.problem);
            let report = eval_hack(
                &task,
                &h,
                &["--cpu-fallback", "--reps", "1", "--warmup", "0"],
            )
            .await;
            (h, report, t0.elapsed().as_secs_f64())
        });
    }
    let mut seen = 0;
    while let Some(done) = runs.join_next().await {
        let (h, report, secs) = done.expect("a hack's evaluation panicked");
        assert_caught(&h, &report);
        eprintln!("{}: caught in {secs:.0}s", h.name);
        seen += 1;
    }
    assert_eq!(seen, hacks().iter().filter(|h| h.on_cpu).count());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpu_hacks_only_a_gpu_can_show_are_flagged_there() {
    let test = "gpu_hacks_only_a_gpu_can_show_are_flagged_there";
    let cuda_only: Vec<Hack> = hacks().into_iter().filter(|h| !h.on_cpu).collect();
    let names: Vec<&str> = cuda_only.iter().map(|h| h.name.as_str()).collect();
    if let Some(why) = torch_missing().or_else(gpu_missing) {
        optagent_testkit::skip(
            test,
            &format!("{why}; {} can only be shown on a GPU", names.join(", ")),
        );
        return;
    }
    let _serial = MEASURING.write().await;
    let d = tempfile::tempdir().unwrap();
    hack_tasks(d.path()).await;
    for h in &cuda_only {
        let task = task_dir(d.path(), &h.problem);
        let report = eval_hack(&task, h, &["--reps", "2", "--warmup", "0"]).await;
        assert_caught(h, &report);
    }
}
