//! `optagent solve` against a local server that speaks the OpenAI API over real HTTP, with
//! scripted responses, through the same client users run against real providers.

#![allow(clippy::print_stderr)]

use std::path::Path;

use super::common::*;
use optagent_testkit::{MockReply, MockServer};
use serde_json::{json, Value};

fn solve_args<'a>(url: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    mock_solve_args("tasks/pyroute", "openai/mock-model", url, out, "5", extra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_session_profiles_edits_benches_submits_and_the_patch_matches_the_expert() {
    let _serial = MEASURING.write().await;
    let server = MockServer::start().await;
    let t = optagent_task::Task::load(&task("pyroute")).unwrap();
    let first = t.visible_workloads().next().unwrap().name.clone();
    assert!(first.contains("shortest_path"), "{first}");
    server.push(
        MockReply::tool_call("profile", json!({"workload": first}).to_string())
            .with_usage(1200, 40),
    );
    server.push(
        MockReply::tool_call(
            "search",
            json!({"mode": "definitions", "pattern": "shortest_path"}).to_string(),
        )
        .with_usage(2500, 30),
    );
    let expert = std::fs::read_to_string(task("pyroute").join("expert.diff")).unwrap();
    let edits = diff_to_edits(&expert);
    assert!(edits.len() >= 3, "the expert diff has several hunks");
    for e in &edits {
        server.push(MockReply::tool_call("edit", e.to_string()).with_usage(3000, 200));
    }
    server.push(MockReply::tool_call("bench", "{}").with_usage(4000, 10));
    server.push(
        MockReply::tool_call(
            "submit",
            json!({"summary": "heap-based Dijkstra, sets, incremental medians"}).to_string(),
        )
        .with_usage(4500, 20),
    );
    let out = tempfile::tempdir().unwrap();
    let out_s = out.path().to_str().unwrap().to_string();
    let url = server.url();
    let o = optagent(&solve_args(&url, &out_s, &[])).await;
    assert!(o.status.success(), "{}", text(&o));

    // The model was shown what the tools did.
    let reqs = server.requests();
    let results = tool_results(&reqs);
    assert!(
        results[0].contains("shortest_path"),
        "profile must name the hot function:\n{}",
        results[0]
    );
    assert!(
        results[0].contains('%'),
        "profile shows shares:\n{}",
        results[0]
    );
    assert!(
        results[1].contains("graph.py"),
        "search finds the definition:\n{}",
        results[1]
    );
    let bench = results.last().unwrap();
    assert!(
        bench.contains("verdict: ok") && bench.contains("significant"),
        "bench output:\n{bench}"
    );
    assert!(
        !bench.contains("expert"),
        "the expert's figures are never shown to the model"
    );
    // Budgets are shown every turn.
    assert!(results.iter().any(|r| r.contains("[budget] step")));
    // Every request carried the key; the key never reached the trajectory.
    assert!(server
        .authorizations()
        .iter()
        .all(|a| a.as_deref() == Some(&format!("Bearer {FAKE_KEY}")[..])));
    let traj = std::fs::read_to_string(out.path().join("rollout-0/trajectory.jsonl")).unwrap();
    assert!(!traj.contains(FAKE_KEY));
    let kinds: Vec<String> = traj
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for k in [
        "meta",
        "request",
        "model_response",
        "tool_call",
        "tool_result",
        "end",
    ] {
        assert!(kinds.iter().any(|x| x == k), "trajectory lacks {k}");
    }

    // The report: the rollout submitted, was verified and selected.
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("solve-report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["selected"], 0, "{report:#}");
    let ev = &report["rollouts"][0]["eval"];
    assert_eq!(ev["verdict"], "ok");
    assert_eq!(report["rollouts"][0]["outcome"]["end"]["kind"], "submitted");
    assert!(report["total_tokens"].as_u64().unwrap() > 20_000);

    // The solve's own evaluation (5 repetitions, the expert in the same session) scores the
    // expert's change as the expert's: faster than the base, close to the expert.
    assert_eq!(ev["opt_base"], true, "{ev:#}");
    let h = ev["hmean_expert_over_patch"].as_f64().unwrap();
    assert!(h > 0.8, "expert/patch {h}: {ev:#}");
    assert!(out.path().join("best.diff").is_file());

    let replay = format!(
        "replay:{}",
        out.path().join("rollout-0/trajectory.jsonl").display()
    );
    let out2 = tempfile::tempdir().unwrap();
    let o = optagent(&[
        "solve",
        "tasks/pyroute",
        "--model",
        &replay,
        "--out",
        out2.path().to_str().unwrap(),
        "--bench-reps",
        "3",
        "--reps",
        "3",
    ])
    .await;
    // With 3 repetitions the exact test cannot reach alpha 0.01 (its floor is p = 0.1), so
    // nothing is verified: solve runs to its end and says so with exit 3.
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let a = std::fs::read_to_string(out.path().join("rollout-0/patch.diff")).unwrap();
    let b = std::fs::read_to_string(out2.path().join("rollout-0/patch.diff")).unwrap();
    assert_eq!(a, b, "replaying the trajectory reproduces the patch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_arguments_unknown_tool_and_empty_reply_are_recovered_from() {
    let _serial = MEASURING.write().await;
    let server = MockServer::start().await;
    server.push(MockReply::tool_call(
        "edit",
        "{\"command\": \"replace\", \"path\": ",
    ));
    server.push(MockReply::tool_call("frobnicate", "{}"));
    server.push(MockReply::tool_call("view", "{}"));
    server.push(MockReply::empty());
    server.push(MockReply::tool_call(
        "view",
        json!({"path": "pyroute/graph.py", "start_line": 1, "end_line": 5}).to_string(),
    ));
    server.push(MockReply::tool_call("submit", "{}"));
    let out = tempfile::tempdir().unwrap();
    let url = server.url();
    let o = optagent(&solve_args(&url, out.path().to_str().unwrap(), &[])).await;
    // Submitted without a change: it ran, with no verified speedup (exit 3).
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let reqs = server.requests();
    let results = tool_results(&reqs);
    assert!(
        results[0].starts_with("error:") && results[0].contains("JSON"),
        "{}",
        results[0]
    );
    assert!(
        results[1].contains("no tool named `frobnicate`"),
        "{}",
        results[1]
    );
    assert!(
        results[2].starts_with("error:") && results[2].contains("path"),
        "{}",
        results[2]
    );
    assert!(user_messages(&reqs)
        .iter()
        .any(|m| m.contains("Your reply was empty")));
    assert!(
        results[3].contains("Weighted graphs"),
        "the model recovered: {}",
        results[3]
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("solve-report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["rollouts"][0]["outcome"]["end"]["kind"], "submitted");
    assert_eq!(report["rollouts"][0]["choice"]["outcome"], "no_patch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_then_success_and_a_provider_that_keeps_failing() {
    let _serial = MEASURING.write().await;
    // 429 with Retry-After, then a good answer: the run goes on.
    let server = MockServer::start().await;
    server.push(MockReply::status(429, "{\"error\": {\"message\": \"slow down\"}}").retry_after(1));
    server.push(MockReply::tool_call("submit", "{}"));
    let out = tempfile::tempdir().unwrap();
    let url = server.url();
    let t0 = std::time::Instant::now();
    let o = optagent(&solve_args(&url, out.path().to_str().unwrap(), &[])).await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(server.request_count(), 2);
    assert!(
        t0.elapsed().as_secs_f64() >= 1.0,
        "Retry-After was honoured"
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("solve-report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["rollouts"][0]["outcome"]["end"]["kind"], "submitted");

    // 503 forever: a clear error, and the trajectory so far is kept.
    let server = MockServer::with_handler(|_| MockReply::status(503, "overloaded")).await;
    let out = tempfile::tempdir().unwrap();
    let url = server.url();
    let o = optagent(&solve_args(
        &url,
        out.path().to_str().unwrap(),
        &["--max-retries", "2"],
    ))
    .await;
    // Every rollout ended in a model error: exit 4.
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("solve-report.json")).unwrap(),
    )
    .unwrap();
    let end = &report["rollouts"][0]["outcome"]["end"];
    assert_eq!(end["kind"], "model_error", "{report:#}");
    let detail = end["detail"].as_str().unwrap();
    assert!(
        detail.contains("giving up after 3 attempts") && detail.contains("503"),
        "{detail}"
    );
    let traj = std::fs::read_to_string(out.path().join("rollout-0/trajectory.jsonl")).unwrap();
    assert!(traj.contains("\"model_error\"") && traj.contains("\"end\""));
    assert!(
        text(&o).contains("model error"),
        "the user is told: {}",
        text(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solve_in_docker_runs_the_agents_commands_in_a_container_without_the_key() {
    let _serial = MEASURING.write().await;
    let ok = std::process::Command::new("docker")
        .args(["image", "inspect", "optagent/base:bookworm"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        optagent_testkit::skip(
            "solve_in_docker_runs_the_agents_commands_in_a_container_without_the_key",
            "no Docker engine or image optagent/base:bookworm (crates/optagent-sandbox/image/build.sh builds it)",
        );
        return;
    }
    let server = MockServer::start().await;
    server.push(MockReply::tool_call(
        "shell",
        json!({"command": "test -f /.dockerenv && echo inside-a-container; env; test \"$(ls /sys/class/net)\" = lo && echo no-network"}).to_string(),
    ));
    let expert = std::fs::read_to_string(task("pyroute").join("expert.diff")).unwrap();
    for e in diff_to_edits(&expert) {
        server.push(MockReply::tool_call("edit", e.to_string()));
    }
    server.push(MockReply::tool_call("submit", "{}"));
    let out = tempfile::tempdir().unwrap();
    let url = server.url();
    let o = optagent(&solve_args(
        &url,
        out.path().to_str().unwrap(),
        &["--sandbox", "docker"],
    ))
    .await;
    assert!(o.status.success(), "{}", text(&o));
    let results = tool_results(&server.requests());
    assert!(results[0].contains("inside-a-container"), "{}", results[0]);
    assert!(results[0].contains("no-network"), "{}", results[0]);
    assert!(
        !results[0].contains(FAKE_KEY) && !results[0].contains("MOCK_API_KEY"),
        "{}",
        results[0]
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("solve-report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["selected"], 0, "{report:#}");
    assert_eq!(
        report["rollouts"][0]["eval"]["machine"]["sandbox"],
        "docker"
    );
    assert_eq!(report["rollouts"][0]["eval"]["verdict"], "ok");
    // Only this test's containers count (their trees are under `out`); another run's containers
    // on the same engine, with the same `optagent=1` label, are none of its business.
    let left = std::process::Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "label=optagent=1",
            "--format",
            "{{.ID}} {{.Label \"optagent.root\"}}",
        ])
        .output()
        .unwrap();
    let ours: Vec<String> = String::from_utf8_lossy(&left.stdout)
        .lines()
        .filter(|l| {
            l.split_once(' ')
                .is_some_and(|(_, root)| Path::new(root).starts_with(out.path()))
        })
        .map(str::to_string)
        .collect();
    assert!(ours.is_empty(), "containers left behind: {ours:?}");
}

/// Edits of the hunks of `diff` that touch `file` only.
fn edits_for(diff: &str, file: &str) -> Vec<Value> {
    diff_to_edits(diff)
        .into_iter()
        .filter(|e| e["path"] == file)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_rollouts_the_larger_correct_speedup_is_selected_and_each_loss_explained() {
    let _serial = MEASURING.write().await;
    let expert = std::fs::read_to_string(task("pyroute").join("expert.diff")).unwrap();
    let wrong = std::fs::read_to_string(task("pyroute").join("wrong.diff")).unwrap();
    let submit = MockReply::tool_call("submit", "{}");
    // Rollout i sends seed i: its script is chosen by the seed, its step by the turns so far.
    let scripts: Vec<Vec<MockReply>> = vec![
        diff_to_edits(&expert)
            .into_iter()
            .map(|e| MockReply::tool_call("edit", e.to_string()))
            .chain([submit.clone()])
            .collect(),
        edits_for(&expert, "pyroute/graph.py")
            .into_iter()
            .map(|e| MockReply::tool_call("edit", e.to_string()))
            .chain([submit.clone()])
            .collect(),
        diff_to_edits(&wrong)
            .into_iter()
            .map(|e| MockReply::tool_call("edit", e.to_string()))
            .chain([submit.clone()])
            .collect(),
        vec![submit.clone()],
    ];
    assert!(scripts[1].len() > 1 && scripts[1].len() < scripts[0].len());
    let server = MockServer::with_handler(move |req: &Value| {
        let seed = req["seed"].as_i64().unwrap_or(-1) as usize;
        let step = req["messages"]
            .as_array()
            .map(|m| m.iter().filter(|x| x["role"] == "assistant").count())
            .unwrap_or(0);
        scripts
            .get(seed)
            .and_then(|s| s.get(step))
            .cloned()
            .unwrap_or_else(|| MockReply::tool_call("submit", "{}"))
    })
    .await;
    let out = tempfile::tempdir().unwrap();
    let url = server.url();
    let o = optagent(&solve_args(
        &url,
        out.path().to_str().unwrap(),
        &["-k", "4", "--parallel", "2"],
    ))
    .await;
    assert!(o.status.success(), "{}", text(&o));
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("solve-report.json")).unwrap(),
    )
    .unwrap();
    let r = &report["rollouts"];
    assert_eq!(report["selected"], 0, "{report:#}");
    assert_eq!(r[0]["choice"]["outcome"], "selected");
    assert_eq!(r[1]["choice"]["outcome"], "slower", "{:#}", r[1]["choice"]);
    assert_eq!(r[2]["choice"]["outcome"], "incorrect");
    assert!(
        r[2]["choice"]["why"]
            .as_str()
            .unwrap()
            .starts_with("wrong_result"),
        "{:#}",
        r[2]["choice"]
    );
    assert_eq!(r[3]["choice"]["outcome"], "no_patch");
    let s0 = r[0]["eval"]["speedup"].as_f64().unwrap();
    let s1 = r[1]["eval"]["speedup"].as_f64().unwrap();
    assert!(s0 > s1 && s1 > 1.0, "{s0} {s1}");
    let best = std::fs::read_to_string(out.path().join("best.diff")).unwrap();
    assert_eq!(
        best,
        std::fs::read_to_string(out.path().join("rollout-0/patch.diff")).unwrap()
    );
    let md = std::fs::read_to_string(out.path().join("solve-report.md")).unwrap();
    assert!(
        md.contains("lost: slower")
            && md.contains("lost: incorrect")
            && md.contains("lost: no patch"),
        "{md}"
    );
}
