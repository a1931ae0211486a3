//! `optagent import swefficiency` end to end: a row written here in SWE-fficiency's published
//! schema (its Hugging Face dataset, built by `scripts/annotate/curate/upload_to_huggingface.py`
//! in `swefficiency/swefficiency`), for a tiny local Python package whose expert patch is a real
//! speedup. The repository is reached through a mirror folder only (`OPTAGENT_OFFLINE=1`). The
//! imported task times the row's workload script as SWE-fficiency does (its printed `Mean:`), runs
//! the covering tests with the row's `test_cmd`, and requires every `PASS_TO_PASS` test to pass:
//! the expert is verified, and a patch that breaks a covered test is `tests_failed`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::common::*;
use serde_json::{json, Value};

const SLOW: &str =
    "def total(n):\n    s = 0\n    for i in range(n):\n        s += i * i\n    return s\n";
const FAST: &str = "def total(n):\n    return (n - 1) * n * (2 * n - 1) // 6\n";

const TESTS: &str = r#"import pytest

import tiny.core


def test_total():
    assert tiny.core.total(4) == 14


@pytest.mark.parametrize("n", [0, 1, 3])
def test_small(n):
    assert tiny.core.total(n) == sum(i * i for i in range(n))


def test_unrelated_failure():
    assert False, "fails before and after: not in PASS_TO_PASS"
"#;

/// A workload in the form SWE-fficiency's workloads take (setup, workload, `timeit.repeat`, the
/// mean and standard deviation printed).
const WORKLOAD: &str = r#"import timeit
import statistics

import tiny.core


def setup():
    global sizes
    sizes = [200 + j % 7 for j in range(3000)]


def workload():
    global sizes
    for n in sizes:
        tiny.core.total(n)


runtimes = timeit.repeat(workload, number=1, repeat=5, setup=setup)

print("Mean:", statistics.mean(runtimes))
print("Std Dev:", statistics.stdev(runtimes))
"#;

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// The upstream repository with its mirror under `<root>/mirrors/example/tiny.git`; returns the
/// base commit and the expert's diff.
fn upstream(root: &Path) -> (String, String) {
    let up = root.join("upstream");
    std::fs::create_dir_all(up.join("tiny")).unwrap();
    std::fs::create_dir_all(up.join("tests")).unwrap();
    git(&up, &["init", "-q", "-b", "main"]);
    git(&up, &["config", "user.email", "dev@example.com"]);
    git(&up, &["config", "user.name", "dev"]);
    std::fs::write(up.join("tiny/__init__.py"), "").unwrap();
    std::fs::write(up.join("tiny/core.py"), SLOW).unwrap();
    std::fs::write(up.join("tests/test_core.py"), TESTS).unwrap();
    std::fs::write(up.join("conftest.py"), "").unwrap();
    git(&up, &["add", "-A"]);
    git(&up, &["commit", "-qm", "tiny: a sum of squares"]);
    let base = git(&up, &["rev-parse", "HEAD"]).trim().to_string();
    std::fs::write(up.join("tiny/core.py"), FAST).unwrap();
    let patch = git(&up, &["diff"]);
    let o = Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(&up)
        .arg(root.join("mirrors/example/tiny.git"))
        .output()
        .unwrap();
    assert!(o.status.success());
    (base, patch)
}

/// One row in SWE-fficiency's published schema.
fn row(base: &str, patch: &str) -> Value {
    json!({
        "repo": "example/tiny",
        "instance_id": "example__tiny-42",
        "base_commit": base,
        "patch": patch,
        "test_patch": "",
        "problem_statement": "PERF: total() is quadratic in practice",
        "hints_text": "",
        "created_at": "2024-05-01T12:00:00Z",
        "version": "0.1",
        "PASS_TO_PASS": [
            "tests/test_core.py::test_total",
            "tests/test_core.py::test_small[0]",
            "tests/test_core.py::test_small[1]",
            "tests/test_core.py::test_small[3]"
        ],
        "FAIL_TO_PASS": [],
        "environment_setup_commit": base,
        "workload": WORKLOAD,
        "speedup": 20.0,
        "covering_tests": ["/testbed/tests/test_core.py"],
        "test_cmd": "pytest --no-header -rA --tb=no -p no:cacheprovider",
        "rebuild_cmd": "python -c 'import tiny.core'",
        "image_name": "ghcr.io/swefficiency/swefficiency-images:example__tiny-42",
        "single_thread_tests": []
    })
}

fn have_pytest() -> bool {
    Command::new("pytest")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn run(root: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_optagent"))
        .args(args)
        .env("OPTAGENT_GIT_MIRRORS", root.join("mirrors"))
        .env("OPTAGENT_OFFLINE", "1")
        .env_remove("OPTAGENT_GIT_CACHE")
        .current_dir(repo_root())
        .output()
        .await
        .expect("optagent runs")
}

fn imported(root: &Path) -> PathBuf {
    let (base, patch) = upstream(root);
    let data = root.join("swefficiency.jsonl");
    std::fs::write(&data, format!("{}\n", row(&base, &patch))).unwrap();
    let out = root.join("suite");
    let o = Command::new(env!("CARGO_BIN_EXE_optagent"))
        .args(["import", "swefficiency"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("example__tiny-42"),
        "{}",
        text(&o)
    );
    out.join("example__tiny-42")
}

fn verdict(o: &Output) -> Value {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_swefficiency_row_verifies_its_expert_and_its_tests_catch_a_wrong_patch() {
    const TEST: &str =
        "an_imported_swefficiency_row_verifies_its_expert_and_its_tests_catch_a_wrong_patch";
    if !have_pytest() {
        optagent_testkit::skip(
            TEST,
            "no `pytest` on PATH (the row's test_cmd); python3 -m pip install pytest",
        );
        return;
    }
    let _serial = MEASURING.write().await;
    let d = tempfile::tempdir().unwrap();
    let task = imported(d.path());
    let t = task.to_str().unwrap();
    let r = verdict(
        &run(
            d.path(),
            &["eval", t, "--patch", "oracle", "--json", "--reps", "5"],
        )
        .await,
    );
    assert_eq!(r["task"], "example__tiny-42", "{r}");
    assert_eq!(r["verdict"], "ok", "{r}");
    assert_eq!(r["verified"], true, "{r}");
    assert_eq!(r["workloads"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["workloads"][0]["name"], "tiny.workload", "{r}");
    assert!(r["speedup"].as_f64().unwrap() > 3.0, "{r}");

    // A patch that keeps the speed but breaks a PASS_TO_PASS test fails the task's tests.
    let wrong = d.path().join("wrong.diff");
    std::fs::write(
        &wrong,
        format!(
            "--- a/tiny/core.py\n+++ b/tiny/core.py\n@@ -1,5 +1,2 @@\n{}+def total(n):\n+    return n * n\n",
            SLOW.lines().map(|l| format!("-{l}\n")).collect::<String>()
        ),
    )
    .unwrap();
    let w = wrong.to_str().unwrap();
    let r = verdict(
        &run(
            d.path(),
            &["eval", t, "--patch", w, "--json", "--reps", "3"],
        )
        .await,
    );
    assert_eq!(r["verdict"], "tests_failed", "{r}");
    let why = r["reason"].as_str().unwrap_or_default();
    assert!(
        why.contains("tests/test_core.py::test_total"),
        "the reason names the PASS_TO_PASS test that no longer passes: {r}"
    );
}
