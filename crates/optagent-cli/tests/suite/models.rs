//! `optagent solve` and `sweep` against mock servers that misbehave the way real local model
//! servers do: every call refused (exit 4), no verified speedup (exit 3), bad input (exit 2), a
//! request over the window (shortened and retried), a window the server reports, prose and
//! repeated text instead of tool calls (nudged, then `no_tool_calls`), and tool calls written as
//! text (run, and recorded).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::common::*;
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
    let _serial = MEASURING.write().await;
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
    // The evaluator and the reports refuse what cannot be loaded the same way, naming it.
    for args in [
        &["eval", "tasks/no-such-task", "--patch", "oracle"][..],
        &["eval", "tasks/pyroute", "--patch", "no-such.diff"],
        &["report", "no-such-results.jsonl"],
        &["export", "no-such-sweep", "--out", "preds.jsonl"],
    ] {
        let o = optagent(args).await;
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("no-such"), "{args:?}: {}", text(&o));
    }
    let o = optagent(&["solve", "--help"]).await;
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("4  no rollout ran to an end of its own"),
        "{}",
        text(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_whose_every_rollout_is_a_model_error_exits_4() {
    let _serial = MEASURING.write().await;
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
    let _serial = MEASURING.write().await;
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
    let _serial = MEASURING.write().await;
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
    let _serial = MEASURING.write().await;
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
    let _serial = MEASURING.write().await;
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

// ---------------------------------------------------------------- a real tiny model

/// `llama-server` and the SmolLM2-135M-Instruct GGUF that `tests/models/llama.sh` builds and
/// fetches: `$OPTAGENT_LLAMA_SERVER` and `$OPTAGENT_LLAMA_MODEL` when set, else `bin/llama-server`
/// and `model/SmolLM2-135M-Instruct.Q4_1.gguf` under `$OPTAGENT_LLAMA_DIR` (default
/// `~/.cache/optagent/llama`). `Err` says what is missing.
fn real_llama() -> Result<(std::path::PathBuf, std::path::PathBuf), String> {
    use std::path::PathBuf;
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = var("OPTAGENT_LLAMA_DIR").unwrap_or_else(|| {
        var("XDG_CACHE_HOME")
            .or_else(|| var("HOME").map(|h| h.join(".cache")))
            .unwrap_or_else(|| PathBuf::from("/nonexistent"))
            .join("optagent/llama")
    });
    let server = var("OPTAGENT_LLAMA_SERVER").unwrap_or_else(|| dir.join("bin/llama-server"));
    let model = var("OPTAGENT_LLAMA_MODEL")
        .unwrap_or_else(|| dir.join("model/SmolLM2-135M-Instruct.Q4_1.gguf"));
    let missing: Vec<String> = [&server, &model]
        .iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        Ok((server, model))
    } else {
        Err(format!(
            "no {} (run `tests/models/llama.sh` to build llama-server and fetch SmolLM2, or set \
             OPTAGENT_LLAMA_SERVER and OPTAGENT_LLAMA_MODEL)",
            missing.join(" and no ")
        ))
    }
}

/// A `llama-server` child process, killed when dropped; its output goes to `log`.
struct LlamaServer {
    child: tokio::process::Child,
    port: u16,
    log: std::path::PathBuf,
}

impl LlamaServer {
    /// Starts `server` on a free local port serving `model` with an `n_ctx`-token window and
    /// `threads` threads, and waits (at most `ready_within`) until `/health` answers 200.
    async fn start(
        server: &std::path::Path,
        model: &std::path::Path,
        n_ctx: u64,
        threads: u64,
        log: std::path::PathBuf,
        ready_within: std::time::Duration,
    ) -> Result<LlamaServer, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free local port: {e}"))?
            .port();
        let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = tokio::process::Command::new(server)
            .args(["-m", &model.display().to_string()])
            .args(["-c", &n_ctx.to_string(), "-np", "1", "--jinja"])
            .args(["-t", &threads.to_string()])
            .args(["--alias", "smollm2", "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", server.display()))?;
        let mut s = LlamaServer { child, port, log };
        let t0 = std::time::Instant::now();
        loop {
            if let Ok(Some(status)) = s.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}) before it was ready:\n{}",
                    server.display(),
                    s.log_tail()
                ));
            }
            if http_status(port, "/health").await == Some(200) {
                return Ok(s);
            }
            if t0.elapsed() > ready_within {
                return Err(format!(
                    "{} not ready within {ready_within:?}:\n{}",
                    server.display(),
                    s.log_tail()
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// The status code of `GET path` on the local port, `None` when nothing answers.
async fn http_status(port: u16, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .ok()?;
        let mut buf = vec![];
        s.read_to_end(&mut buf).await.ok()?;
        let head = String::from_utf8_lossy(&buf);
        head.split_whitespace().nth(1)?.parse().ok()
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), fut)
        .await
        .ok()
        .flatten()
}

/// A whole number from the environment, else `default`.
fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("${name} = {v:?} is not a whole number")),
        _ => default,
    }
}

/// Seconds between two trajectory timestamps (RFC 3339).
fn seconds_between(a: &Value, b: &Value) -> f64 {
    let t = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("bad timestamp {v}: {e}"))
    };
    (t(b) - t(a)).num_milliseconds() as f64 / 1000.0
}

/// What must hold of one rollout's trajectory whatever the model said, checked against the
/// report's outcome; returns a line of figures (steps, seconds and tokens per step, the end).
fn check_real_trajectory(ev: &[Value], outcome: &Value, n_ctx: u64, max_steps: u64) -> String {
    let kind = outcome["end"]["kind"].as_str().unwrap_or_default();
    assert!(
        ["submitted", "budget", "no_tool_calls"].contains(&kind),
        "the rollout ended for a reason of its own, not {outcome:#}"
    );
    assert_eq!(ev.first().unwrap()["type"], "meta", "starts with meta");
    let meta = &ev[0];
    assert_eq!(
        meta["context_window"], n_ctx,
        "the server's window: {meta:#}"
    );
    assert_eq!(meta["context_window_source"], "server", "{meta:#}");
    let end = ev.last().unwrap();
    assert_eq!(end["type"], "end", "the trajectory is complete: {end:#}");
    assert_eq!(end["reason"]["kind"], kind, "trajectory and report agree");
    // Every request is answered, by a reply or a recorded error, before the next one.
    let mut open: Option<&Value> = None;
    let mut step_secs = vec![];
    let mut completion = vec![];
    for e in ev {
        match e["type"].as_str().unwrap_or_default() {
            "request" => {
                assert!(open.is_none(), "a request without an answer: {open:?}");
                open = Some(e);
            }
            "model_response" => {
                let req = open.take().expect("a reply follows a request");
                step_secs.push(seconds_between(&req["ts"], &e["ts"]));
                let usage = &e["response"]["usage"];
                let done = usage["completion_tokens"].as_u64().unwrap_or(0);
                if let Some(limit) = req["max_tokens"].as_u64() {
                    assert!(
                        done <= limit,
                        "a reply of {done} tokens past its limit {limit}"
                    );
                }
                assert!(
                    usage["prompt_tokens"].as_u64().unwrap_or(0) + done <= n_ctx,
                    "a reply past the window: {usage}"
                );
                completion.push(done);
            }
            "context_overflow" | "model_error" => {
                open.take().expect("an error follows a request");
            }
            _ => {}
        }
    }
    assert!(open.is_none(), "the last request was answered");
    let steps = outcome_steps(outcome);
    assert_eq!(completion.len() as u64, steps, "one reply per step");
    assert!(
        steps >= 1 && steps <= max_steps,
        "{steps} steps of {max_steps}"
    );
    let n = steps as f64;
    format!(
        "{steps} steps, {:.1} s/step (max {:.1}), {:.0} completion tokens/step (max {}), {} overflows recovered, ended: {kind} ({})",
        step_secs.iter().sum::<f64>() / n,
        step_secs.iter().cloned().fold(0.0, f64::max),
        completion.iter().sum::<u64>() as f64 / n,
        completion.iter().max().unwrap_or(&0),
        ev.iter().filter(|e| e["type"] == "context_overflow").count(),
        outcome["end"]["detail"].as_str().unwrap_or("")
    )
}

fn outcome_steps(outcome: &Value) -> u64 {
    outcome["steps"].as_u64().expect("the outcome's steps")
}

/// optagent against a real model server: llama.cpp's `llama-server` with SmolLM2-135M-Instruct
/// (built and fetched by `tests/models/llama.sh`; skipped when absent). A tiny model optimizes
/// nothing; what must hold whatever it says: every rollout ends for a reason of its own (not a
/// model error, not a context overflow), within a bound, with a complete trajectory whose
/// replies stayed within their limits and the window, and the report is written.
/// `OPTAGENT_LLAMA_K` (default 2), `OPTAGENT_LLAMA_STEPS` (default 8), `OPTAGENT_LLAMA_CTX`
/// (default 8192) and `OPTAGENT_LLAMA_MAX_OUTPUT` (output tokens per reply; default the
/// provider's, a quarter of the window) size the run; the figures are printed (`--nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr)] // the figures are printed for docs/models.md
async fn a_real_tiny_model_runs_every_rollout_to_a_stated_end() {
    let test = "models::a_real_tiny_model_runs_every_rollout_to_a_stated_end";
    let (server, model) = match real_llama() {
        Ok(found) => found,
        Err(why) => return optagent_testkit::skip(test, &why),
    };
    let _serial = MEASURING.write().await;
    let k = env_num("OPTAGENT_LLAMA_K", 2);
    let steps = env_num("OPTAGENT_LLAMA_STEPS", 8);
    let n_ctx = env_num("OPTAGENT_LLAMA_CTX", 8192);
    let max_output = env_num("OPTAGENT_LLAMA_MAX_OUTPUT", 0);
    // One thread: on a loaded machine llama.cpp's threads wait for each other at every step of
    // the graph (measured here with -t 2 under load ~10: 0.8 tokens/s; with -t 1: 34 tokens/s).
    let threads = env_num("OPTAGENT_LLAMA_THREADS", 1);
    // Each rollout's time budget, checked between steps; a step is bounded by its output limit.
    let minutes = env_num("OPTAGENT_LLAMA_MINUTES", 15);
    // $OPTAGENT_LLAMA_OUT keeps the run (report, trajectories, the server's log) for a look.
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("OPTAGENT_LLAMA_OUT")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let llama = LlamaServer::start(
        &server,
        &model,
        n_ctx,
        threads,
        dir.join("llama-server.log"),
        std::time::Duration::from_secs(180),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let out = dir.join("out");
    let url = llama.url();
    let (k_s, steps_s, minutes_s, out_s) = (
        k.to_string(),
        steps.to_string(),
        minutes.to_string(),
        out.display().to_string(),
    );
    let max_output_s = max_output.to_string();
    let mut args = vec![
        "solve",
        "tasks/pyroute",
        "--model",
        "llamacpp/smollm2",
        "--base-url",
        &url,
        "-k",
        &k_s,
        "--max-steps",
        &steps_s,
        "--max-minutes",
        &minutes_s,
        "--temperature",
        "0.7",
        "--out",
        &out_s,
        "--bench-reps",
        "3",
        "--reps",
        "3",
        "--json",
    ];
    if max_output > 0 {
        args.extend(["--max-output-tokens", &max_output_s]);
    }
    // Bounded: each rollout's budget plus a step past it (a reply and a bench run), and the
    // verification of whatever was patched.
    let bound = std::time::Duration::from_secs(k * (minutes + 10) * 60);
    let t0 = std::time::Instant::now();
    let o = tokio::time::timeout(bound, optagent(&args))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "optagent solve did not end within {bound:?}; llama-server's log:\n{}",
                llama.log_tail()
            )
        });
    let wall = t0.elapsed().as_secs_f64();
    let all = text(&o);
    assert!(!all.contains("panicked"), "{all}");
    // 0: a verified speedup (unlikely), 3: ran, none verified. Not 4 (every rollout a model
    // error), 1 or 2, nor a signal.
    assert!(
        matches!(o.status.code(), Some(0) | Some(3)),
        "{all}\nllama-server's log:\n{}",
        llama.log_tail()
    );
    let r = report(&out);
    let rollouts = r["rollouts"].as_array().expect("the report's rollouts");
    assert_eq!(rollouts.len() as u64, k, "{r:#}");
    let mut lines = vec![];
    for (i, ro) in rollouts.iter().enumerate() {
        let ev = events(&out, i);
        let line = check_real_trajectory(&ev, &ro["outcome"], n_ctx, steps);
        lines.push(format!("rollout {i}: {line}"));
    }
    eprintln!(
        "real tiny model (SmolLM2-135M-Instruct, llama-server -c {n_ctx}): K={k}, {steps} steps, \
         solve took {wall:.0} s, exit {:?}\n{}",
        o.status.code(),
        lines.join("\n")
    );
}
