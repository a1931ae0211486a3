//! `optagent tasks check --cpu-fallback` on a KernelBench problem imported as it is, with its
//! torch.compile expert: spec, tree, the 5 correctness trials of baseline, expert, oracle and
//! no-op, and their timed runs on the host. One problem, one repetition: torch.compile costs
//! about a minute per process on a 2-core CPU (so this test binary has no other test).

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_kernelbench_problem_passes_tasks_check_on_the_cpu() {
    let test = "an_imported_kernelbench_problem_passes_tasks_check_on_the_cpu";
    let torch = std::process::Command::new("python3")
        .args(["-c", "import torch"])
        .output();
    if !torch.is_ok_and(|o| o.status.success()) {
        optagent_testkit::skip(
            test,
            "python3 cannot import torch (tests/torch/install.sh installs it)",
        );
        return;
    }
    let _serial = MEASURING.lock().await;
    let d = tempfile::tempdir().unwrap();
    let o = optagent(&[
        "import",
        "kernelbench",
        repo_root().join("tests/fixtures/kernelbench").to_str().unwrap(),
        "--problems",
        "2",
        "--out",
        d.path().to_str().unwrap(),
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    let task = d.path().join("kernelbench-L1-2_ReLU");
    let o = optagent(&[
        "tasks",
        "check",
        task.to_str().unwrap(),
        "--cpu-fallback",
        "--reps",
        "1",
        "--warmup",
        "0",
        "--json",
    ])
    .await;
    let all: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("tasks check --json is not JSON ({e}): {}", text(&o)));
    let c = &all[0];
    assert_eq!(c["task"], "kernelbench-L1-2_ReLU", "{}", text(&o));
    assert_eq!(c["status"], "ok", "{}", text(&o));
    assert!(o.status.success(), "{}", text(&o));
    assert!(c["expert_speedup"].as_f64().is_some_and(|x| x > 0.0), "{c}");
    // Without a GPU the expert's speed is not judged, and the check says so where it would
    // have rejected the task; with one it was judged (status ok means it was faster).
    let judged = std::process::Command::new("nvidia-smi")
        .arg("-L")
        .output()
        .is_ok_and(|o| o.status.success());
    if !judged && c["significant_workloads"] == 0 {
        assert!(
            c["reasons"].to_string().contains("not judged"),
            "{}",
            text(&o)
        );
    }
}
