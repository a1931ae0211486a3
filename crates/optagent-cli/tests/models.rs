//! `optagent solve` and `sweep` against mock servers that misbehave the way real local model
//! servers do: every call refused (exit 4), no verified speedup (exit 3), bad input (exit 2), a
//! request over the window (shortened and retried), a window the server reports, prose and
//! repeated text instead of tool calls (nudged, then `no_tool_calls`), and tool calls written as
//! text (run, and recorded).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use optagent_testkit::{MockReply, MockServer};
use serde_json::{json, Value};

fn solve_args<'a>(url: &'a str, out: &'a str, model: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    mock_solve_args("tasks/pyroute", model, url, out, "3", extra)
}

fn events(out: &std::path::Path, rollout: usize) -> Vec<Value> {
    std::fs::read_to_string(out.join(format!("rollout-{rollout}/trajectory.jsonl")))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn of_type<'a>(ev: &'a [Value], t: &str) -> Vec<&'a Value> {
    ev.iter().filter(|e| e["type"] == t).collect()
}

fn report(out: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("solve-report.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rollout_a_model_error_exits_4_and_no_speedup_exits_3() {
    let _serial = MEASURING.lock().await;
    // The provider refuses every call: no rollout runs to an end of its own.
    let server = MockServer::with_handler(|_| MockReply::error(401, "invalid api key")).await;
    let out = tempfile::tempdir().unwrap();
    let url = server.url();
    let o = optagent(&solve_args(
        &url,
        out.path().to_str().unwrap(),
        "openai/mock-model",
        &["-k", "2"],
    ))
    .await;
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(
        text(&o).contains("every one ended in a model error"),
        "{}",
        text(&o)
    );

    // The model submits nothing: it ran, there is no verified speedup.
    let server = MockServer::with_handler(|_| MockReply::tool_call("submit", "{}")).await;
    let out = tempfile::tempdir().unwrap();
    let url = server.url();
    let o = optagent(&solve_args(
        &url,
        out.path().to_str().unwrap(),
        "openai/mock-model",
        &[],
    ))
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exits_2() {
    let o = optagent(&["solve", "tasks/no-such-task", "--model", "openai/m"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = optagent(&["solve", "tasks/pyroute", "--model", "nosuchprovider/m"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("unknown provider"), "{}", text(&o));
    let o = optagent(&[
        "solve",
        "tasks/pyroute",
        "--model",
        "openai/m",
        "--frobnicate",
    ])
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = optagent(&["solve", "--help"]).await;
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("4  no rollout ran to an end of its own"),
        "{}",
        text(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_whose_every_rollout_is_a_model_error_exits_4() {
    let _serial = MEASURING.lock().await;
    let server = MockServer::with_handler(|_| MockReply::error(403, "model not allowed")).await;
    let dir = tempfile::tempdir().unwrap();
    let task = task("pyroute");
    let cfg = dir.path().join("sweep.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"errors\"\ntasks = [\"{}\"]\nk = 2\nconcurrency = 1\nmax_cost_usd = 1.0\noutput = \"{}\"\n[[models]]\nmodel = \"openai/mock-model\"\n[[budgets]]\nlabel = \"s3\"\nmax_steps = 3\n",
            task.display(),
            dir.path().join("out").display()
        ),
    )
    .unwrap();
    let url = server.url();
    let o = optagent(&[
        "sweep",
        cfg.to_str().unwrap(),
        "--base-url",
        &url,
        "--api-key-env",
        "MOCK_API_KEY",
    ])
    .await;
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(
        text(&o).contains("all 2 ended in a model error"),
        "{}",
        text(&o)
    );
}

/// A llama.cpp-like server whose real window is `n_ctx` mock tokens (3 bytes each, as its
/// `/tokenize` counts), reporting none of it up front: too long a request gets its
/// `exceed_context_size_error`. The model views the big graph module until told to submit.
async fn small_window_server(n_ctx: u64, views: usize) -> (MockServer, Arc<AtomicUsize>) {
    let answered = Arc::new(AtomicUsize::new(0));
    let a = answered.clone();
    let server = MockServer::with_handler(move |req: &Value| {
        let size = (req["messages"].to_string().len() as u64).div_ceil(3);
        if size > n_ctx {
            return MockReply::exceed_context(size, n_ctx);
        }
        let i = a.fetch_add(1, Ordering::SeqCst);
        if i < views {
            MockReply::tool_call("view", json!({"path": "pyroute/graph.py"}).to_string())
                .with_usage(size, 20)
        } else {
            MockReply::tool_call("submit", "{}").with_usage(size, 5)
        }
    })
    .await;
    (server, answered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_window_is_shortened_and_retried_not_ended() {
    let _serial = MEASURING.lock().await;
    let (server, answered) = small_window_server(6000, 6).await;
    let out = tempfile::tempdir().unwrap();
    let url = server.url();
    let o = optagent(&solve_args(
        &url,
        out.path().to_str().unwrap(),
        "llamacpp/smollm2",
        &["--max-steps", "10"],
    ))
    .await;
    // Ran to its own end (submitted, no patch): exit 3, not a model error.
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(answered.load(Ordering::SeqCst), 7);
    let r = report(out.path());
    assert_eq!(
        r["rollouts"][0]["outcome"]["end"]["kind"], "submitted",
        "{r:#}"
    );
    let ev = events(out.path(), 0);
    let overflows = of_type(&ev, "context_overflow");
    assert!(
        !overflows.is_empty(),
        "the window was overrun at least once"
    );
    assert!(overflows
        .iter()
        .all(|e| e["shortened"].as_u64().unwrap() > 0));
    // The server's n_ctx replaced the table's 32768.
    assert_eq!(overflows[0]["window"], 6000);
    assert_eq!(overflows[0]["window_source"], "server_error");
    let meta = &of_type(&ev, "meta")[0];
    assert_eq!(meta["context_window"], 32768);
    assert_eq!(meta["context_window_source"], "config");
    // Every reply was bounded: at most a quarter of the window once it was known.
    let reqs = server.requests();
    assert!(reqs.iter().all(|q| q["max_tokens"].as_u64().is_some()));
    assert!(reqs.last().unwrap()["max_tokens"].as_u64().unwrap() <= 1500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_reported_by_the_server_is_used_and_recorded() {
    let _serial = MEASURING.lock().await;
    let server = MockServer::with_handler(|_| MockReply::tool_call("submit", "{}")).await;
    server.serve_llamacpp_props(8192);
    let out = tempfile::tempdir().unwrap();
    let url = server.url();
    let o = optagent(&solve_args(
        &url,
        out.path().to_str().unwrap(),
        "llamacpp/smollm2",
        &[],
    ))
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let ev = events(out.path(), 0);
    let meta = &of_type(&ev, "meta")[0];
    assert_eq!(meta["context_window"], 8192, "{meta:#}");
    assert_eq!(meta["context_window_source"], "server");
    assert!(meta["context_window_detail"]
        .as_str()
        .unwrap()
        .contains("/props"));
    assert_eq!(meta["configured_context_window"], 32768);
    // A quarter of 8192.
    assert_eq!(server.requests()[0]["max_tokens"], 2048);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prose_and_repeated_text_are_nudged_then_the_rollout_ends_with_no_tool_calls() {
    let _serial = MEASURING.lock().await;
    let server = MockServer::start().await;
    server.push(
        MockReply::text("I will now optimize the code carefully.\n".repeat(300))
            .with_finish_reason("length"),
    );
    server.push(MockReply::text("Let me think about the graph."));
    server.push(MockReply::text("Still thinking."));
    let out = tempfile::tempdir().unwrap();
    let url = server.url();
    let o = optagent(&solve_args(
        &url,
        out.path().to_str().unwrap(),
        "openai/mock-model",
        &[],
    ))
    .await;
    assert_eq!(o.status.code(), Some(3), "not an error: {}", text(&o));
    let r = report(out.path());
    assert_eq!(
        r["rollouts"][0]["outcome"]["end"]["kind"], "no_tool_calls",
        "{r:#}"
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    let second: Vec<&Value> = reqs[1]["messages"].as_array().unwrap().iter().collect();
    let reply = second[second.len() - 2]["content"].as_str().unwrap();
    assert!(
        reply.matches("I will now optimize").count() == 2 && reply.contains("repeated"),
        "the repeated reply was cut in the history: {reply}"
    );
    let nudge = second.last().unwrap()["content"].as_str().unwrap();
    assert!(nudge.contains("cut off at the output limit"), "{nudge}");
    assert!(!nudge.contains("without calling a tool"), "{nudge}");
    assert!(
        nudge.contains("`view`") && nudge.contains("`submit`"),
        "{nudge}"
    );
    let third = reqs[2]["messages"].as_array().unwrap();
    let nudge = third.last().unwrap()["content"].as_str().unwrap();
    assert!(
        nudge.contains("without calling a tool") && nudge.contains("1 more reply"),
        "{nudge}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_written_as_text_are_run_and_recorded() {
    let _serial = MEASURING.lock().await;
    let server = MockServer::start().await;
    server.push(MockReply::text(
        "I will look at the graph first.\n<tool_call>\n{\"name\": \"view\", \"arguments\": {\"path\": \"pyroute/graph.py\", \"start_line\": 1, \"end_line\": 5}}\n</tool_call>",
    ));
    server.push(MockReply::text(
        "Nothing to change.\n```json\n{\"name\": \"submit\", \"arguments\": {\"summary\": \"no change\"}}\n```",
    ));
    let out = tempfile::tempdir().unwrap();
    let url = server.url();
    let o = optagent(&solve_args(
        &url,
        out.path().to_str().unwrap(),
        "openai/mock-model",
        &[],
    ))
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let r = report(out.path());
    assert_eq!(
        r["rollouts"][0]["outcome"]["end"]["kind"], "submitted",
        "{r:#}"
    );
    let results = tool_results(&server.requests());
    assert!(results[0].contains("Weighted graphs"), "{}", results[0]);
    let ev = events(out.path(), 0);
    let text_calls = of_type(&ev, "text_tool_calls");
    assert_eq!(text_calls.len(), 2);
    assert_eq!(text_calls[0]["form"], "tool_call_tag");
    assert!(text_calls[0]["raw"]
        .as_str()
        .unwrap()
        .contains("<tool_call>"));
    assert_eq!(text_calls[1]["form"], "fenced_json");
}
