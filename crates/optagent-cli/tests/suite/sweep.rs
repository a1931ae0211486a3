//! `optagent sweep` against the mock model server: a sweep killed midway resumes and ends with the
//! same results as an uninterrupted one; the report and the predictions export follow.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use super::common::*;
use optagent_testkit::{MockReply, MockServer};
use serde_json::{json, Value};

const SRC: &str = SLOW_WORK_SRC;
const FAST: &str = "def work(n):\n    return n * (n - 1) // 2\n";

fn write_sweep(dir: &Path) -> std::path::PathBuf {
    write_work_task(&dir.join("tasks/alpha"), "alpha", FAST);
    write_work_task(&dir.join("tasks/beta"), "beta", FAST);
    let cfg = dir.join("sweep.toml");
    std::fs::write(
        &cfg,
        r#"name = "resume-test"
tasks = ["tasks/alpha", "tasks/beta"]
k = 2
concurrency = 1
max_cost_usd = 100.0
output = "out"
[[models]]
model = "openai/mock-model"
[[budgets]]
label = "s10"
max_steps = 10
"#,
    )
    .unwrap();
    cfg
}

/// Rollout 0 of each task makes the fast version and submits; rollout 1 submits nothing.
async fn model() -> MockServer {
    MockServer::with_handler(|req: &Value| {
        let seed = req["seed"].as_i64().unwrap_or(-1);
        let step = req["messages"]
            .as_array()
            .map(|m| m.iter().filter(|x| x["role"] == "assistant").count())
            .unwrap_or(0);
        match (seed, step) {
            (0, 0) => MockReply::tool_call(
                "edit",
                json!({"command": "replace", "path": "lib.py", "old_str": SRC, "new_str": FAST})
                    .to_string(),
            )
            .with_usage(1000, 100),
            _ => MockReply::tool_call("submit", "{}").with_usage(1000, 10),
        }
    })
    .await
}

fn sweep_cmd(cfg: &Path, url: &str) -> tokio::process::Command {
    let mut c = optagent_cmd();
    c.args([
        "sweep",
        cfg.to_str().unwrap(),
        "--base-url",
        url,
        "--api-key-env",
        "MOCK_API_KEY",
        "--bench-reps",
        "3",
        "--reps",
        "5",
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    c
}

/// (task, rollout, status, verdict, patch) of one record.
type Row = (String, u64, String, String, String);

/// The rows of every record, and the number of lines.
fn outcome(results: &Path) -> (BTreeSet<Row>, usize) {
    let text = std::fs::read_to_string(results).unwrap();
    let mut set = BTreeSet::new();
    let mut n = 0;
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(l).unwrap();
        n += 1;
        set.insert((
            v["task"].as_str().unwrap().to_string(),
            v["rollout"].as_u64().unwrap(),
            v["status"].as_str().unwrap().to_string(),
            v["eval"]["verdict"].as_str().unwrap_or("-").to_string(),
            v["patch"].as_str().unwrap_or("").to_string(),
        ));
    }
    (set, n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sweep_resumes_to_the_same_results_as_an_uninterrupted_one() {
    let _serial = MEASURING.write().await;
    let server = model().await;
    let url = server.url();

    // Uninterrupted.
    let a = tempfile::tempdir().unwrap();
    let cfg_a = write_sweep(a.path());
    let o = sweep_cmd(&cfg_a, &url).output().await.unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let (full, n_full) = outcome(&a.path().join("out/results.jsonl"));
    assert_eq!(n_full, 4, "2 tasks x k=2");
    assert_eq!(
        full.iter()
            .filter(|r| r.2 == "submitted" && r.3 == "ok")
            .count(),
        2,
        "{full:#?}"
    );
    assert_eq!(full.iter().filter(|r| r.2 == "no_patch").count(), 2);

    // Killed after its first record, then run again.
    let b = tempfile::tempdir().unwrap();
    let cfg_b = write_sweep(b.path());
    let results_b = b.path().join("out/results.jsonl");
    let mut child = sweep_cmd(&cfg_b, &url).spawn().unwrap();
    let t0 = std::time::Instant::now();
    loop {
        let lines = std::fs::read_to_string(&results_b)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines >= 1 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "no record appeared"
        );
        if let Ok(Some(st)) = child.try_wait() {
            panic!("sweep ended before it could be killed: {st:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().await.unwrap();
    let (partial, n_partial) = outcome(&results_b);
    assert!(n_partial < 4, "killed midway: {n_partial} records");
    let o = sweep_cmd(&cfg_b, &url).output().await.unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!("{n_partial} already done")),
        "{stdout}"
    );
    let (resumed, n_resumed) = outcome(&results_b);
    assert_eq!(n_resumed, 4, "no rollout recorded twice");
    assert!(partial.is_subset(&resumed));
    assert_eq!(resumed, full, "same results as the uninterrupted sweep");

    // The report and the export.
    for f in ["report.md", "report.json", "report.html"] {
        assert!(b.path().join("out/report").join(f).exists(), "{f}");
    }
    let preds = b.path().join("preds.jsonl");
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_optagent"))
        .args([
            "export",
            b.path().join("out").to_str().unwrap(),
            "--out",
            preds.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<Value> = std::fs::read_to_string(&preds)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "one prediction per task");
    for p in &lines {
        assert!(p["model_patch"]
            .as_str()
            .unwrap()
            .contains("return n * (n - 1) // 2"));
        assert_eq!(p["model_name_or_path"], "openai/mock-model");
        assert!(p["instance_id"] == "alpha" || p["instance_id"] == "beta");
    }
}

/// One task, k = 1: rollout 0 makes the fast version and submits.
fn write_small_sweep(dir: &Path, name: &str) -> std::path::PathBuf {
    write_work_task(&dir.join("tasks/alpha"), "alpha", FAST);
    let cfg = dir.join("sweep.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"{name}\"\ntasks = [\"tasks/alpha\"]\nk = 1\nconcurrency = 1\n\
             max_cost_usd = 100.0\noutput = \"out\"\n[[models]]\nmodel = \"openai/mock-model\"\n\
             [[budgets]]\nlabel = \"s10\"\nmax_steps = 10\n"
        ),
    )
    .unwrap();
    cfg
}

/// Runs a sweep given by `cfg_arg` (as typed) from the folder `cwd`, and returns its one record.
async fn sweep_from(cwd: &Path, cfg_arg: &str, url: &str, results: &Path) -> Value {
    let mut c = sweep_cmd(Path::new(cfg_arg), url);
    c.current_dir(cwd);
    let o = c.output().await.unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let recs: Vec<Value> = std::fs::read_to_string(results)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 1, "{recs:#?}");
    recs.into_iter().next().unwrap()
}

fn assert_submitted_and_verified(rec: &Value) {
    assert_eq!(rec["status"], "submitted", "{rec:#}");
    assert!(rec["error"].is_null(), "{rec:#}");
    assert!(
        rec["patch"]
            .as_str()
            .unwrap_or("")
            .contains("return n * (n - 1) // 2"),
        "{rec:#}"
    );
    assert_eq!(rec["eval"]["verdict"], "ok", "{rec:#}");
    // The patch is the expert's, thousands of times faster than the base: opt_base holds under
    // any noise. (opt_commit, the same patch within 5% of itself, needs a quiet machine.)
    assert_eq!(rec["eval"]["opt_base"], true, "{rec:#}");
    assert_eq!(rec["eval"]["improvements"], 1, "{rec:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_relative_sweep_path_from_its_own_folder_keeps_the_patch() {
    let _serial = MEASURING.write().await;
    let server = model().await;
    let d = tempfile::tempdir().unwrap();
    write_small_sweep(d.path(), "relative-own");
    let rec = sweep_from(
        d.path(),
        "sweep.toml",
        &server.url(),
        &d.path().join("out/results.jsonl"),
    )
    .await;
    assert_submitted_and_verified(&rec);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_relative_sweep_path_from_its_parent_keeps_the_patch() {
    let _serial = MEASURING.write().await;
    let server = model().await;
    let d = tempfile::tempdir().unwrap();
    let evals = d.path().join("evals");
    write_small_sweep(&evals, "relative-parent");
    let rec = sweep_from(
        d.path(),
        "evals/sweep.toml",
        &server.url(),
        &evals.join("out/results.jsonl"),
    )
    .await;
    assert_submitted_and_verified(&rec);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_diff_that_cannot_be_taken_is_an_error_not_no_patch() {
    let _serial = MEASURING.write().await;
    // The model edits, then breaks the tree's git repository: the diff cannot be taken.
    let server = MockServer::with_handler(|req: &Value| {
        let step = req["messages"]
            .as_array()
            .map(|m| m.iter().filter(|x| x["role"] == "assistant").count())
            .unwrap_or(0);
        match step {
            0 => MockReply::tool_call(
                "edit",
                json!({"command": "replace", "path": "lib.py", "old_str": SRC, "new_str": FAST})
                    .to_string(),
            ),
            1 => MockReply::tool_call("shell", json!({"command": "rm -rf .git"}).to_string()),
            _ => MockReply::tool_call("submit", "{}"),
        }
    })
    .await;
    let d = tempfile::tempdir().unwrap();
    let cfg = write_small_sweep(d.path(), "diff-fails");
    let results = d.path().join("out/results.jsonl");
    let o = sweep_cmd(&cfg, &server.url()).output().await.unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let rec: Value = serde_json::from_str(
        std::fs::read_to_string(&results)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(rec["status"], "error", "{rec:#}");
    let err = rec["error"].as_str().unwrap_or("");
    assert!(err.contains("taking the diff failed"), "{err}");
    // An error is run again on resume: a second sweep records a new line for the same key.
    let o = sweep_cmd(&cfg, &server.url()).output().await.unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("0 already done"),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_to_string(&results).unwrap().lines().count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_two_sweeps_on_one_folder_the_second_is_refused_naming_the_first() {
    let _serial = MEASURING.write().await;
    // The first sweep's model answers slowly, so it still holds the folder when the second starts.
    let server = MockServer::with_handler(|_req: &Value| {
        MockReply::tool_call("submit", "{}").delay(Duration::from_secs(3))
    })
    .await;
    let d = tempfile::tempdir().unwrap();
    let cfg = write_small_sweep(d.path(), "two-at-once");
    let lock = d.path().join("out/.optagent.lock");
    let first = sweep_cmd(&cfg, &server.url()).spawn().unwrap();
    let first_pid = first.id().unwrap();
    let t0 = std::time::Instant::now();
    while !std::fs::read_to_string(&lock)
        .map(|t| t.contains("pid"))
        .unwrap_or(false)
    {
        assert!(t0.elapsed() < Duration::from_secs(60), "no lock appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = sweep_cmd(&cfg, &server.url()).output().await.unwrap();
    assert!(!second.status.success(), "{}", text(&second));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("in use by another sweep"), "{err}");
    assert!(err.contains(&format!("pid {first_pid}")), "{err}");
    let o = first.wait_with_output().await.unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let n = std::fs::read_to_string(d.path().join("out/results.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(n, 1, "only the first sweep wrote a record");
}

/// Issue 10 item 7: `optagent report` printed `ReportPaths { ... }` (a Rust debug struct). It
/// prints the files written, one a line, and the headline figures.
#[tokio::test]
async fn report_prints_files_and_headline_figures() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../optagent-report/tests/fixtures/results-3x4.jsonl");
    let out = tempfile::tempdir().unwrap();
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_optagent"))
        .args([
            "report",
            fixture.to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        !stdout.contains("ReportPaths") && !stdout.contains('{'),
        "{stdout}"
    );
    let files: Vec<&str> = stdout
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    assert_eq!(files.len(), 7, "{stdout}");
    for f in &files {
        assert!(Path::new(f).is_file(), "{f}");
    }
    assert!(files[0].ends_with("report.md"), "{stdout}");
    assert!(
        stdout.contains("Opt@1 33.3%, Opt@4 66.7% (2/3 tasks), geomean speedup 2.154×"),
        "{stdout}"
    );
}
