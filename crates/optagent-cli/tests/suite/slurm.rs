//! `optagent sweep --executor slurm` on a real single-node Slurm (`tests/slurm/up.sh` starts it;
//! `.ci/run` calls that). Two models over three tasks with K = 2 give the same records and Opt@K
//! through Slurm as through the local executor; a submitter killed half way and run again
//! finishes the rest without running any rollout twice, and leaves no job in the queue.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use super::common::*;
use optagent_testkit::{MockReply, MockServer};
use serde_json::{json, Value};

const SRC: &str = SLOW_WORK_SRC;
/// The expert: a few times faster.
const EXPERT: &str = "def work(n):\n    return sum(range(n))\n";
/// The agent's patch: far faster than the expert, so opt_commit holds under any noise.
const FAST: &str = "def work(n):\n    return n * (n - 1) // 2\n";

fn slurm_up() -> Result<(), String> {
    let o = std::process::Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .map_err(|e| format!("sinfo not found ({e}); run `bash tests/slurm/up.sh` as root"))?;
    let states = String::from_utf8_lossy(&o.stdout);
    if o.status.success()
        && states
            .lines()
            .any(|l| ["idle", "mixed", "allocated"].contains(&l.trim()))
    {
        Ok(())
    } else {
        Err(format!(
            "no idle Slurm node (sinfo: {} {}); run `bash tests/slurm/up.sh` as root",
            states.trim(),
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

/// Two models, three tasks, K = 2: 12 rollouts.
fn write_sweep(dir: &Path) -> std::path::PathBuf {
    for id in ["alpha", "beta", "gamma"] {
        write_work_task(&dir.join("tasks").join(id), id, EXPERT);
    }
    let cfg = dir.join("sweep.toml");
    std::fs::write(
        &cfg,
        r#"name = "slurm-test"
tasks = ["tasks/alpha", "tasks/beta", "tasks/gamma"]
k = 2
concurrency = 2
max_cost_usd = 100.0
output = "out"
[[models]]
model = "openai/mock-a"
[[models]]
model = "openai/mock-b"
[[budgets]]
label = "s10"
max_steps = 10
[executor]
kind = "local"
cpus_per_task = 1
time_limit = "00:20:00"
"#,
    )
    .unwrap();
    cfg
}

/// mock-a's rollout 0 and mock-b's rollout 1 make the fast version and submit; the others submit
/// nothing.
async fn model() -> MockServer {
    MockServer::with_handler(|req: &Value| {
        let seed = req["seed"].as_i64().unwrap_or(-1);
        let model = req["model"].as_str().unwrap_or("");
        let step = req["messages"]
            .as_array()
            .map(|m| m.iter().filter(|x| x["role"] == "assistant").count())
            .unwrap_or(0);
        let edits = (model == "mock-a" && seed == 0) || (model == "mock-b" && seed == 1);
        if edits && step == 0 {
            MockReply::tool_call(
                "edit",
                json!({"command": "replace", "path": "lib.py", "old_str": SRC, "new_str": FAST})
                    .to_string(),
            )
            .with_usage(1000, 100)
        } else {
            MockReply::tool_call("submit", "{}").with_usage(1000, 10)
        }
    })
    .await
}

fn sweep_cmd(cfg: &Path, url: &str, executor: &str) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_optagent"));
    c.args([
        "sweep",
        cfg.to_str().unwrap(),
        "--executor",
        executor,
        "--base-url",
        url,
        "--api-key-env",
        "MOCK_API_KEY",
        "--bench-reps",
        "3",
        "--reps",
        "5",
    ])
    .env("MOCK_API_KEY", FAKE_KEY)
    .env_remove("OPTAGENT_CONFIG")
    .env("XDG_CONFIG_HOME", "/nonexistent-optagent-config-home")
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    c
}

/// (task, model, rollout, status, verdict, opt_commit, patch) of every record of a folder.
type Row = (String, String, u64, String, String, bool, String);

fn rows(out: &Path) -> Vec<Row> {
    let mut v = vec![];
    let mut push = |r: &Value| {
        v.push((
            r["task"].as_str().unwrap().to_string(),
            r["model"].as_str().unwrap().to_string(),
            r["rollout"].as_u64().unwrap(),
            r["status"].as_str().unwrap().to_string(),
            r["eval"]["verdict"].as_str().unwrap_or("-").to_string(),
            r["eval"]["opt_commit"].as_bool().unwrap_or(false),
            r["patch"].as_str().unwrap_or("").to_string(),
        ))
    };
    if let Ok(t) = std::fs::read_to_string(out.join("results.jsonl")) {
        for l in t.lines().filter(|l| !l.trim().is_empty()) {
            push(&serde_json::from_str(l).unwrap());
        }
    }
    if let Ok(rd) = std::fs::read_dir(out.join("records")) {
        for e in rd.flatten() {
            if e.path().extension().is_some_and(|x| x == "json") {
                push(&serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap());
            }
        }
    }
    v.sort();
    v
}

/// Opt@K per configuration, as the written report gives it.
fn opt_at_k(out: &Path) -> BTreeSet<(String, String)> {
    let r: Value =
        serde_json::from_slice(&std::fs::read(out.join("report/report.json")).unwrap()).unwrap();
    let mut s = BTreeSet::new();
    for c in r["summaries"].as_array().expect("summaries in report.json") {
        s.insert((
            c["model"].as_str().unwrap_or("?").to_string(),
            format!("{}", c["opt_at_k"]),
        ));
    }
    s
}

fn our_jobs_in_queue(out: &Path) -> Vec<String> {
    let ids: Vec<String> = std::fs::read_to_string(out.join("slurm/jobs.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["job_id"].as_str().map(str::to_string))
        .collect();
    let q = std::process::Command::new("squeue")
        .args(["-h", "-r", "-o", "%F"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&q.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|j| ids.contains(j))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slurm_sweep_matches_local_and_resumes_after_a_kill_without_rerunning() {
    if let Err(why) = slurm_up() {
        optagent_testkit::skip(
            "slurm_sweep_matches_local_and_resumes_after_a_kill_without_rerunning",
            &why,
        );
        return;
    }
    let _serial = MEASURING.write().await;

    // The local executor.
    let local_model = model().await;
    let a = tempfile::tempdir().unwrap();
    let cfg_a = write_sweep(a.path());
    let o = sweep_cmd(&cfg_a, &local_model.url(), "local")
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let local_rows = rows(&a.path().join("out"));
    assert_eq!(local_rows.len(), 12, "{local_rows:#?}");
    let local_requests = local_model.request_count();

    // Slurm: the submitter is killed once a few rollouts are recorded, then run again.
    let slurm_model = model().await;
    let b = tempfile::tempdir().unwrap();
    let cfg_b = write_sweep(b.path());
    let out_b = b.path().join("out");
    let mut first = sweep_cmd(&cfg_b, &slurm_model.url(), "slurm")
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    loop {
        let n = std::fs::read_dir(out_b.join("records"))
            .map(|d| d.count())
            .unwrap_or(0);
        if n >= 3 {
            break;
        }
        if let Ok(Some(st)) = first.try_wait() {
            let o = first.wait_with_output().await.unwrap();
            panic!(
                "the submitter ended before it could be killed: {st:?}\n{}",
                text(&o)
            );
        }
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "no record appeared"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    first.kill().await.unwrap();
    let _ = first.wait().await;
    let o = sweep_cmd(&cfg_b, &slurm_model.url(), "slurm")
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("already done"), "{stdout}");

    let slurm_rows = rows(&out_b);
    assert_eq!(slurm_rows, local_rows, "the same records through Slurm");
    assert_eq!(opt_at_k(&out_b), opt_at_k(&a.path().join("out")));
    // Nothing ran twice: the model saw as many requests as in the local sweep, and every element
    // that ran a rollout said so once.
    assert_eq!(slurm_model.request_count(), local_requests);
    let mut ran = 0;
    for e in std::fs::read_dir(out_b.join("slurm/logs"))
        .unwrap()
        .flatten()
    {
        ran += std::fs::read_to_string(e.path())
            .unwrap()
            .lines()
            .filter(|l| l.contains(" -> "))
            .count();
    }
    assert_eq!(ran, 12, "one element per rollout");
    // Every record says where it ran.
    for e in std::fs::read_dir(out_b.join("records")).unwrap().flatten() {
        let r: Value = serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
        assert!(r["placement"]["slurm_job_id"].is_string(), "{r:#}");
        assert!(!r["placement"]["host"].as_str().unwrap().is_empty());
        assert!(!r["placement"]["cpus"].as_array().unwrap().is_empty());
    }
    // The report says where each rollout was measured.
    let md = std::fs::read_to_string(out_b.join("report/report.md")).unwrap();
    assert!(md.contains("(slurm job "), "{md}");
    assert!(
        our_jobs_in_queue(&out_b).is_empty(),
        "no job left in the queue"
    );

    // Status reads the same folder.
    let o = optagent(&["sweep", "status", out_b.to_str().unwrap()]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("12 done"),
        "{}",
        text(&o)
    );
}
