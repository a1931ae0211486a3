//! `optagent import gso` end to end: a GSO-format row written here, in GSO's exact schema, for a
//! tiny local Python package whose expert commit is a real speedup. The repository is reached
//! through a mirror folder only (`OPTAGENT_OFFLINE=1`: the network is never tried); the imported
//! task sets up a virtual environment from the row's install commands, runs the row's test scripts
//! with GSO's protocol, and scores the expert `opt_commit: true` and a wrong patch `wrong_result`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::common::*;
use serde_json::{json, Value};

const SLOW: &str =
    "def total(n):\n    s = 0\n    for i in range(n):\n        s += i * i\n    return s\n";
const FAST: &str = "def total(n):\n    return (n - 1) * n * (2 * n - 1) // 6\n";

/// A GSO-style test script: GSO's harness arguments, the result stored under the prefix with
/// `--reference` and checked with `--eqcheck`, and `Execution time:` appended to the out file.
/// The experiment calls `total()` `calls` times on small sizes, so the expert's closed form still
/// takes tens of milliseconds (hundreds of thousands of calls), far above the microsecond GSO's
/// `Execution time:` line resolves, and `opt_commit`'s 5% agreement is a fair test.
fn test_script(calls: u64) -> String {
    format!(
        r#"import argparse
import json
import time

import tiny.core


def setup():
    return [20 + j % 7 for j in range({calls})]


def experiment(sizes):
    return {{"totals": [tiny.core.total(n) for n in sizes]}}


def run_test(eqcheck=False, reference=False, prefix=""):
    sizes = setup()
    t0 = time.perf_counter()
    result = experiment(sizes)
    elapsed = time.perf_counter() - t0
    ref_file = f"{{prefix}}_result.json"
    if reference:
        with open(ref_file, "w") as f:
            json.dump(result, f)
    if eqcheck:
        with open(ref_file) as f:
            ref = json.load(f)
        assert ref == result, "result != reference"
    return elapsed


def main():
    parser = argparse.ArgumentParser(description="Measure performance of API.")
    parser.add_argument("output_file", type=str)
    parser.add_argument("--eqcheck", action="store_true")
    parser.add_argument("--reference", action="store_true")
    parser.add_argument("--file_prefix", type=str)
    args = parser.parse_args()
    execution_time = run_test(args.eqcheck, args.reference, args.file_prefix)
    with open(args.output_file, "a") as f:
        f.write(f"Execution time: {{execution_time:.6f}}s\n")


if __name__ == "__main__":
    main()
"#
    )
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The upstream repository, a bare mirror of it under `<root>/mirrors/example/tiny.git`, and the
/// expert commit's hash.
fn upstream(root: &Path) -> String {
    let up = root.join("upstream");
    std::fs::create_dir_all(up.join("tiny")).unwrap();
    git(&up, &["init", "-q", "-b", "main"]);
    git(&up, &["config", "user.email", "dev@example.com"]);
    git(&up, &["config", "user.name", "dev"]);
    std::fs::write(up.join("tiny/__init__.py"), "").unwrap();
    std::fs::write(up.join("tiny/core.py"), SLOW).unwrap();
    std::fs::write(up.join("README"), "tiny\n").unwrap();
    git(&up, &["add", "-A"]);
    git(&up, &["commit", "-qm", "tiny: a sum of squares"]);
    std::fs::write(up.join("tiny/core.py"), FAST).unwrap();
    git(&up, &["commit", "-qam", "tiny: closed form for total()"]);
    let sha = git(&up, &["rev-parse", "HEAD"]);
    let o = Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(&up)
        .arg(root.join("mirrors/example/tiny.git"))
        .output()
        .unwrap();
    assert!(o.status.success());
    sha
}

/// One row in GSO's schema (`gso-bench/gso`, `src/gso/data/dataset.py`).
fn row(sha: &str) -> Value {
    let id = format!("example__tiny-{}", &sha[..7]);
    json!({
        "instance_id": id,
        "repo": "example/tiny",
        "base_commit": format!("{sha}^"),
        "opt_commit": sha,
        "api": "tiny.core.total",
        "prob_script": "import tiny.core\n\ndef experiment(n):\n    return {'total': tiny.core.total(n)}\n",
        "tests": [test_script(400_000), test_script(300_000)],
        "hints_text": "tiny: closed form for total()",
        "setup_commands": ["sudo apt-get update -y"],
        "install_commands": [
            "git clean -xfd",
            "python3 -m venv --without-pip .venv",
            "source .venv/bin/activate",
            "which python",
            "python -c \"import os, site; open(os.path.join(site.getsitepackages()[0], 'tiny-src.pth'), 'w').write(os.getcwd())\""
        ],
        "created_at": "2024-05-01 12:00:00",
        "arch": "x86_64",
        "instance_image_tag": "latest",
        "gt_commit_message": "tiny: closed form for total()",
        "gt_diff": "diff --git a/tiny/core.py b/tiny/core.py\n"
    })
}

/// `optagent` offline, with the mirror folder.
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

fn imported(root: &Path) -> (PathBuf, String) {
    let sha = upstream(root);
    let id = format!("example__tiny-{}", &sha[..7]);
    let data = root.join("gso.jsonl");
    std::fs::write(&data, format!("{}\n", row(&sha))).unwrap();
    let out = root.join("suite");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_optagent"))
        .args(["import", "gso"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&id),
        "{}",
        text(&o)
    );
    (out.join(&id), id)
}

fn verdict(o: &Output) -> Value {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

/// The oracle is the expert's own change: verified, opt_base, and `opt_commit` (its mean time
/// within 5% of the expert's, GSO's rule), with the expert/oracle ratio near 1. Identical code
/// sits on GSO's 0.95 line, so `opt_commit` is the noise's call wherever runs of the same code
/// spread by more than 5% (seen here: 54-190 ms within one tree at load 10 on 2 cores, and 0.93
/// in Docker at load 1.7 with the suite's other tests running); what is asserted is the ratio
/// between 0.67 and 1.5 (equal code, not a different speed), and a false `opt_commit` is reported with the ratio, not asserted.
fn assert_oracle_matches_expert(test: &str, r: &Value) {
    assert_eq!(r["verdict"], "ok", "{r}");
    assert_eq!(r["opt_base"], true, "{r}");
    assert_eq!(r["verified"], true, "{r}");
    let h = r["hmean_expert_over_patch"].as_f64().unwrap();
    assert!(h > 0.67 && h < 1.5, "expert/oracle {h}: {r}");
    if r["opt_commit"] != true {
        let load = r["machine"]["load1_start"].as_f64().unwrap_or(0.0);
        let cores = r["machine"]["cores"].as_f64().unwrap_or(1.0);
        optagent_testkit::skip(
            test,
            &format!(
                "opt_commit not asserted: load {load} on {cores} cores spreads equal code by more \
                 than its 5% (expert/oracle {h:.2})"
            ),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_gso_row_scores_its_expert_opt_commit_and_a_wrong_patch_wrong_result() {
    let _serial = MEASURING.write().await;
    let d = tempfile::tempdir().unwrap();
    let (task, id) = imported(d.path());
    let t = task.to_str().unwrap();
    let r = verdict(
        &run(
            d.path(),
            &["eval", t, "--patch", "oracle", "--json", "--reps", "8"],
        )
        .await,
    );
    assert_eq!(r["task"], id.as_str());
    assert_oracle_matches_expert(
        "an_imported_gso_row_scores_its_expert_opt_commit_and_a_wrong_patch_wrong_result",
        &r,
    );
    assert_eq!(r["workloads"].as_array().unwrap().len(), 2);
    assert!(r["speedup"].as_f64().unwrap() > 2.0, "{r}");

    // The scripts' own equivalence check catches a patch that changes the result.
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
    assert_eq!(r["verdict"], "wrong_result", "{r}");
    assert!(r["reason"].as_str().unwrap().contains("!="), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_gso_row_scores_its_expert_in_docker() {
    let _serial = MEASURING.write().await;
    let probe = Command::new("docker")
        .args(["image", "inspect", "optagent/base:bookworm"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(_) => {
            optagent_testkit::skip(
                "an_imported_gso_row_scores_its_expert_in_docker",
                "image optagent/base:bookworm not built (optagent sandbox build-image)",
            );
            return;
        }
        Err(e) => {
            eprintln!(
                "SKIP: an_imported_gso_row_scores_its_expert_in_docker: no docker client ({e})"
            );
            return;
        }
    }
    let d = tempfile::tempdir().unwrap();
    let (task, _) = imported(d.path());
    let t = task.to_str().unwrap();
    let o = run(
        d.path(),
        &[
            "eval",
            t,
            "--patch",
            "oracle",
            "--json",
            "--reps",
            "5",
            "--sandbox",
            "docker",
        ],
    )
    .await;
    let r = verdict(&o);
    assert_oracle_matches_expert("an_imported_gso_row_scores_its_expert_in_docker", &r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_check_over_a_suite_says_which_tasks_are_usable_and_why_not() {
    let _serial = MEASURING.write().await;
    let d = tempfile::tempdir().unwrap();
    let (_task, id) = imported(d.path());
    let suite = d.path().join("suite");
    // A task whose repository has no mirror here (and the network is off).
    let mut other = row(&"f".repeat(40));
    other["instance_id"] = "nowhere__gone-fffffff".into();
    other["repo"] = "nowhere/gone".into();
    let data = d.path().join("other.jsonl");
    std::fs::write(&data, format!("{other}\n")).unwrap();
    let o = run(
        d.path(),
        &[
            "import",
            "gso",
            data.to_str().unwrap(),
            "--out",
            suite.to_str().unwrap(),
        ],
    )
    .await;
    assert!(o.status.success(), "{}", text(&o));
    // And one whose spec is broken.
    std::fs::create_dir_all(suite.join("broken")).unwrap();
    std::fs::write(suite.join("broken/task.toml"), "id = \"broken\"\n").unwrap();

    let o = run(
        d.path(),
        &[
            "tasks",
            "check",
            suite.to_str().unwrap(),
            "--json",
            "--reps",
            "8",
        ],
    )
    .await;
    assert!(
        !o.status.success(),
        "two of three are not usable: {}",
        text(&o)
    );
    let all: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let by = |task: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|c| c["task"] == task)
            .unwrap_or_else(|| panic!("{task} missing from {all}"))
            .clone()
    };
    let ok = by(&id);
    assert_eq!(ok["status"], "ok", "{ok}");
    assert_eq!(ok["significant_workloads"], 2, "{ok}");
    let gone = by("nowhere__gone-fffffff");
    assert_eq!(gone["status"], "unusable", "{gone}");
    let why = gone["reasons"][0].as_str().unwrap();
    assert!(
        why.contains("https://github.com/nowhere/gone")
            && why.contains(
                &d.path()
                    .join("mirrors/nowhere/gone.git")
                    .display()
                    .to_string()
            ),
        "{why}"
    );
    let broken = by("broken");
    assert_eq!(broken["status"], "invalid", "{broken}");
    assert!(
        broken["reasons"][0]
            .as_str()
            .unwrap()
            .contains("instruction"),
        "{broken}"
    );

    // The table names the same (for the two that need no measuring).
    let (b, g) = (suite.join("broken"), suite.join("nowhere__gone-fffffff"));
    let o = run(
        d.path(),
        &["tasks", "check", b.to_str().unwrap(), g.to_str().unwrap()],
    )
    .await;
    assert!(!o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("0 of 2 task(s) usable here"), "{out}");
    for line in ["broken", "nowhere__gone-fffffff"] {
        assert!(out.lines().any(|l| l.starts_with(line)), "{line}: {out}");
    }
    assert!(out.contains("unusable") && out.contains("invalid"), "{out}");
}
