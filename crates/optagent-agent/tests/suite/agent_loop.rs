//! The agent loop against the mock model server: budgets that run out (cost, tokens, time) end
//! the rollout with their name, the model is warned from 80% of a budget on, and old tool
//! outputs are shortened, oldest first, when the conversation nears the context window.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use optagent_agent::trajectory::Redactor;
use optagent_agent::{run_rollout, Budget, EndReason, RolloutConfig, RolloutOutcome};
use optagent_eval::EvalOptions;
use optagent_model::{open_model, ApiKey, ModelOptions};
use optagent_sandbox::LocalFactory;
use optagent_task::Task;
use optagent_testkit::{MockReply, MockServer};
use serde_json::{json, Value};

fn write_task(dir: &Path) -> Task {
    std::fs::create_dir_all(dir.join("repo/bench")).unwrap();
    std::fs::write(
        dir.join("repo/lib.py"),
        "def work(n):\n    return sum(range(n))\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("repo/bench/run.py"),
        "import json, os\njson.dump({'seconds': 0.001, 'result': 1}, open(os.environ['OPTAGENT_OUTPUT'], 'w'))\n",
    )
    .unwrap();
    std::fs::write(dir.join("expert.diff"), "").unwrap();
    std::fs::write(
        dir.join("task.toml"),
        "id = \"loop\"\ninstruction = \"make work() faster\"\nlanguages = [\"python\"]\n[source]\npath = \"repo\"\n[expert]\npatch = \"expert.diff\"\n[[workloads]]\nname = \"loop.work\"\ncommand = \"python3 bench/run.py\"\n",
    )
    .unwrap();
    Task::load(dir).unwrap()
}

/// Run one rollout of `budget` against `server`, with a 4096-token window and $300 per million
/// input tokens (a reply reporting 1000 prompt tokens costs $0.30).
async fn rollout(server: &MockServer, budget: Budget) -> (tempfile::TempDir, RolloutOutcome) {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[providers.mock]\nbase_url = \"{}\"\nkey_required = false\nmax_retries = 0\n[providers.mock.models.\"small\"]\ncontext_window = 4096\ninput_per_mtok = 300.0\noutput_per_mtok = 0.0\n",
            server.url()
        ),
    )
    .unwrap();
    let model = open_model(
        "mock/small",
        &ModelOptions {
            config_path: Some(cfg),
            ignore_user_config: true,
            api_key: Some(ApiKey::new("sk-test-agent-loop-0000000000")),
            ..Default::default()
        },
    )
    .unwrap();
    let task = write_task(&d.path().join("task"));
    let rc = RolloutConfig {
        task,
        model,
        budget,
        temperature: None,
        seed: Some(0),
        run_dir: d.path().join("run"),
        sandbox: Arc::new(LocalFactory),
        bench: EvalOptions::new(d.path().join("bench")),
        progress: None,
        redactor: Redactor::new(vec![]),
        max_model_errors: 1,
        max_no_tool_turns: optagent_agent::turns::DEFAULT_MAX_NO_TOOL_TURNS,
        start_patch: None,
        extra_prompt: None,
        output_budget: 16_000,
        keep_trees: false,
        label: "t".into(),
    };
    let o = run_rollout(rc).await;
    (d, o)
}

fn shell(cmd: &str) -> MockReply {
    MockReply::tool_call("shell", json!({ "command": cmd }).to_string())
}

/// The content of the last tool message of a request body.
fn last_tool_output(req: &Value) -> String {
    req["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

fn unlimited() -> Budget {
    Budget {
        max_steps: 50,
        max_tokens: None,
        max_cost_usd: None,
        max_wall: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cost_budget_ends_the_rollout_after_a_warning_from_80_percent() {
    let server = MockServer::with_handler(|_| shell("echo hi").with_usage(1000, 0)).await;
    let budget = Budget {
        max_cost_usd: Some(1.0),
        ..unlimited()
    };
    let (_d, o) = rollout(&server, budget).await;
    // $0.30 a step: 0.9 after 3 steps (warned), 1.2 after 4 (spent).
    assert_eq!(o.end, EndReason::Budget("cost".into()), "{o:?}");
    assert_eq!(o.steps, 4);
    assert!((o.cost_usd - 1.2).abs() < 1e-9, "{}", o.cost_usd);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 4, "no call after the budget ran out");
    for (i, r) in reqs.iter().enumerate().skip(1) {
        let out = last_tool_output(r);
        assert!(out.contains("[budget] step"), "request {i}: {out}");
        let warned = out.contains("WARNING: your budget is nearly spent");
        // Request i follows i steps: $0.30 i of $1.
        assert_eq!(
            warned,
            i >= 3,
            "request {i} after ${:.2}: {out}",
            0.3 * i as f64
        );
    }
    assert!(last_tool_output(&reqs[3]).contains("cost $0.90/$1.00"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_budget_warns_at_exactly_80_percent_and_ends_at_100() {
    let server = MockServer::with_handler(|_| shell("echo hi").with_usage(900, 100)).await;
    let budget = Budget {
        max_tokens: Some(2500),
        ..unlimited()
    };
    let (_d, o) = rollout(&server, budget).await;
    // 1000 tokens a step: 2000 of 2500 (80%) after 2 steps, 3000 after 3.
    assert_eq!(o.end, EndReason::Budget("tokens".into()), "{o:?}");
    assert_eq!(o.steps, 3);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert!(!last_tool_output(&reqs[1]).contains("WARNING"), "40%");
    assert!(last_tool_output(&reqs[2]).contains("WARNING"), "80% warns");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_budget_ends_the_rollout() {
    // A reply slower than the whole time budget: the loop stops before a second call.
    let server =
        MockServer::with_handler(|_| shell("echo hi").delay(Duration::from_millis(1500))).await;
    let budget = Budget {
        max_wall: Some(Duration::from_secs(1)),
        ..unlimited()
    };
    let (_d, o) = rollout(&server, budget).await;
    assert_eq!(o.end, EndReason::Budget("time".into()), "{o:?}");
    assert_eq!(o.steps, 1);
    assert_eq!(server.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_step_budget_ends_the_rollout() {
    let server = MockServer::with_handler(|_| shell("echo hi")).await;
    let budget = Budget {
        max_steps: 2,
        ..unlimited()
    };
    let (_d, o) = rollout(&server, budget).await;
    assert_eq!(o.end, EndReason::Budget("steps".into()), "{o:?}");
    assert_eq!((o.steps, server.request_count()), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_tool_outputs_are_shortened_near_the_context_window() {
    // Six outputs of 5000 characters (about 1250 tokens each) in a 4096-token window: from the
    // fifth on, the conversation passes 3/4 of the window and the outputs older than the last
    // four are shortened, oldest first.
    // The server reports what a real one would: about a token per 4 characters of the request
    // (the loop counts from the server's usage, not from its own estimate alone).
    let server = MockServer::with_handler(|req: &Value| {
        let msgs = req["messages"].as_array().cloned().unwrap_or_default();
        let prompt = (serde_json::to_string(&msgs).unwrap().len() / 4) as u64;
        let step = msgs.iter().filter(|m| m["role"] == "assistant").count();
        let reply = if step < 6 {
            shell("head -c 5000 /dev/zero | tr '\\0' x")
        } else {
            MockReply::tool_call("submit", "{}")
        };
        reply.with_usage(prompt, 5)
    })
    .await;
    let (_d, o) = rollout(&server, unlimited()).await;
    assert_eq!(o.end, EndReason::Submitted, "{o:?}");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 7);
    let outputs: Vec<String> = reqs[6]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(outputs.len(), 6);
    for (i, out) in outputs.iter().enumerate() {
        if i < 2 {
            assert!(
                out.starts_with("[shortened to save context:"),
                "output {i} is old: {out}"
            );
            assert!(out.len() < 1000, "output {i}: {} chars", out.len());
        } else {
            assert!(!out.starts_with("[shortened"), "output {i} is recent");
            assert!(out.contains(&"x".repeat(5000)), "output {i} is whole");
        }
    }
    // The trajectory says when and how much.
    let traj = std::fs::read_to_string(&o.trajectory_path).unwrap();
    let shortened: u64 = traj
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "compaction")
        .map(|v| v["shortened"].as_u64().unwrap())
        .sum();
    assert_eq!(shortened, 2, "{traj}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_without_a_tool_call_is_nudged_and_submits_summary_reaches_the_outcome() {
    let server = MockServer::start().await;
    server.push_all([
        MockReply::text("I think I will look at lib.py."),
        shell("echo hi"),
        MockReply::tool_call(
            "submit",
            json!({"summary": "  summed with a formula  "}).to_string(),
        ),
    ]);
    let (_d, o) = rollout(&server, unlimited()).await;
    assert_eq!(o.end, EndReason::Submitted, "{o:?}");
    assert_eq!(o.steps, 3);
    // The summary comes from the tool's own output (trimmed), not a second parse.
    assert_eq!(o.summary.as_deref(), Some("summed with a formula"));
    let reqs = server.requests();
    let nudge = reqs[1]["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        nudge.starts_with("You replied without calling a tool.")
            && nudge.contains("[budget] step 1/50"),
        "{nudge}"
    );
}
