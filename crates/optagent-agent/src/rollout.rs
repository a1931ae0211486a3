//! One rollout: the model, its tools and the task, turn after turn until the model submits or a
//! budget runs out. A model's mistakes come back to it as tool output; provider failures that
//! outlast the provider's retries end the rollout with the trajectory and the patch so far kept.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use optagent_eval::EvalOptions;
use optagent_model::{ChatModel, ChatRequest, Message, ModelError, ToolSpec, Usage};
use optagent_sandbox::SandboxFactory;
use optagent_task::Task;
use optagent_tools::{Registry, ToolContext, ToolError, WorkloadInfo};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::budget::{Budget, Spent};
use crate::trajectory::{Redactor, Trajectory};

/// Progress lines for whoever watches (the evaluator's type, shared by every layer).
pub use optagent_eval::Progress;

/// Everything one rollout needs.
#[derive(Clone)]
pub struct RolloutConfig {
    pub task: Task,
    pub model: Arc<dyn ChatModel>,
    pub budget: Budget,
    pub temperature: Option<f32>,
    pub seed: Option<i64>,
    /// The rollout's folder: trees, trajectory, patch, profiles, flamegraphs.
    pub run_dir: PathBuf,
    pub sandbox: Arc<dyn SandboxFactory>,
    /// How the `bench` tool measures (its work_dir is replaced by one under `run_dir`).
    pub bench: EvalOptions,
    pub progress: Option<Progress>,
    /// Scrubs the trajectory and every tool output before it is sent to the model.
    pub redactor: Redactor,
    /// Consecutive failed model calls (after the provider's own retries) before giving up.
    pub max_model_errors: usize,
    /// Replies without a tool call in a row that end the rollout
    /// ([`EndReason::NoToolCalls`]; default [`crate::turns::DEFAULT_MAX_NO_TOOL_TURNS`]).
    pub max_no_tool_turns: usize,
    /// Characters of tool output given to the model.
    pub output_budget: usize,
    /// Keep the trees after the rollout (default: removed, the patch is kept).
    pub keep_trees: bool,
    /// A label shown in progress lines (e.g. `r2`).
    pub label: String,
    /// A patch applied to the work tree before the model starts (refining in rounds); the
    /// rollout's patch is still the whole diff against the task's base.
    pub start_patch: Option<String>,
    /// Text appended to the first user message (a round's figures, a strategy).
    pub extra_prompt: Option<String>,
}

/// Why a rollout ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum EndReason {
    Submitted,
    /// A budget ran out: steps, tokens, cost or time.
    Budget(String),
    /// The provider kept failing, or refused the request.
    ModelError(String),
    /// The task's trees could not be made or built.
    SetupFailed(String),
    /// The rollout itself crashed (a bug in optagent); the others go on.
    Crashed(String),
    /// The rollout ran to an end, but its change could not be taken from the tree: an error,
    /// never "no patch" (the work is on disk in the kept tree; a sweep runs it again).
    DiffFailed(String),
    /// The model replied without a tool call too many times in a row (the model's own end, not
    /// an error: a sweep does not run it again).
    NoToolCalls(String),
}

impl EndReason {
    /// One word for the reason (`submitted`, `budget`, ...), as in the trajectory.
    pub fn short(&self) -> &'static str {
        match self {
            EndReason::Submitted => "submitted",
            EndReason::Budget(_) => "budget",
            EndReason::ModelError(_) => "model_error",
            EndReason::SetupFailed(_) => "setup_failed",
            EndReason::Crashed(_) => "crashed",
            EndReason::DiffFailed(_) => "diff_failed",
            EndReason::NoToolCalls(_) => "no_tool_calls",
        }
    }

    /// Whether the rollout failed for a reason outside the model's work (a provider outage, a
    /// broken setup, a crash, a diff that could not be taken): such a rollout is run again when a
    /// sweep resumes.
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            EndReason::ModelError(_)
                | EndReason::SetupFailed(_)
                | EndReason::Crashed(_)
                | EndReason::DiffFailed(_)
        )
    }
}

/// What a rollout produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolloutOutcome {
    pub end: EndReason,
    /// The diff against the base (`None` when the tree is unchanged).
    pub patch: Option<String>,
    pub patch_path: Option<PathBuf>,
    pub trajectory_path: PathBuf,
    pub usage: Usage,
    pub cost_usd: f64,
    pub steps: usize,
    pub wall_s: f64,
    pub artifacts: Vec<PathBuf>,
    /// The model's summary given with `submit`.
    pub summary: Option<String>,
}

impl RolloutOutcome {
    /// A rollout that ended before the model was called.
    fn setup_failed(why: String, trajectory_path: PathBuf, wall_s: f64) -> Self {
        Self::ended(EndReason::SetupFailed(why), trajectory_path, wall_s)
    }

    /// A rollout that ended with nothing to show: no patch, no usage.
    pub fn ended(end: EndReason, trajectory_path: PathBuf, wall_s: f64) -> Self {
        RolloutOutcome {
            end,
            patch: None,
            patch_path: None,
            trajectory_path,
            usage: Usage::default(),
            cost_usd: 0.0,
            steps: 0,
            wall_s,
            artifacts: vec![],
            summary: None,
        }
    }
}

fn is_fatal(e: &ModelError) -> bool {
    !matches!(
        e,
        ModelError::RetriesExhausted { .. } | ModelError::InvalidResponse { .. }
    )
}

fn say(cfg: &RolloutConfig, line: String) {
    tracing::info!("{line}");
    if let Some(p) = &cfg.progress {
        p(&line);
    }
}

/// The text of a caught panic.
pub fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Run one rollout to its end; a panic inside is caught and becomes [`EndReason::Crashed`].
pub async fn run_rollout(cfg: RolloutConfig) -> RolloutOutcome {
    use futures::FutureExt;
    let traj = cfg.run_dir.join("trajectory.jsonl");
    let t0 = Instant::now();
    match std::panic::AssertUnwindSafe(run_rollout_inner(cfg))
        .catch_unwind()
        .await
    {
        Ok(o) => o,
        Err(p) => RolloutOutcome::ended(
            EndReason::Crashed(panic_text(p.as_ref())),
            traj,
            t0.elapsed().as_secs_f64(),
        ),
    }
}

async fn run_rollout_inner(cfg: RolloutConfig) -> RolloutOutcome {
    let started = Instant::now();
    let traj_path = cfg.run_dir.join("trajectory.jsonl");
    let traj = match Trajectory::create(&traj_path, cfg.redactor.clone()) {
        Ok(t) => t,
        Err(e) => {
            let why = format!("cannot write the trajectory {}: {e}", traj_path.display());
            return RolloutOutcome::setup_failed(why, traj_path, 0.0);
        }
    };
    let info = cfg.model.info().clone();
    let mut window = crate::turns::Window::detect(cfg.model.as_ref()).await;
    let mut meta = json!({
        "task": cfg.task.id(),
        "model": info.id,
        "budget": cfg.budget,
        "temperature": cfg.temperature,
        "seed": cfg.seed,
        "sandbox": cfg.sandbox.kind(),
        "output_limit": info.output_limit,
        "start_patch": cfg.start_patch.is_some(),
        "extra_prompt": cfg.extra_prompt,
    });
    if let (Some(m), serde_json::Value::Object(w)) =
        (meta.as_object_mut(), window.meta(info.context_window))
    {
        m.extend(w);
    }
    traj.event("meta", meta);
    say(&cfg, format!("[{}] preparing the workspace", cfg.label));
    // The starting patch goes in before the workspace is built (native code is built with it).
    let trees = match crate::workspace::prepare_with(
        &cfg.task,
        &cfg.run_dir.join("trees"),
        cfg.sandbox.as_ref(),
        cfg.start_patch.as_deref(),
    )
    .await
    {
        Ok(t) => t,
        Err(e) => {
            traj.event(
                "end",
                json!({"reason": {"kind": "setup_failed", "detail": e}}),
            );
            return RolloutOutcome::setup_failed(e, traj_path, started.elapsed().as_secs_f64());
        }
    };
    let mut ctx = ToolContext::new(trees.work_sandbox.clone(), cfg.run_dir.clone());
    ctx.base_sandbox = Some(trees.base_sandbox.clone());
    ctx.languages = cfg.task.spec.languages.clone();
    ctx.env = cfg.task.spec.env.clone();
    ctx.output_budget = cfg.output_budget;
    ctx.workloads = cfg
        .task
        .visible_workloads()
        .map(|w| WorkloadInfo {
            name: w.name.clone(),
            command: w.command.clone(),
            timeout: Duration::from_secs(cfg.task.workload_timeout(w)),
        })
        .collect();
    let mut bench_opts = cfg.bench.clone();
    bench_opts.sandbox = cfg.sandbox.clone();
    ctx.bench = Some(crate::bench::EvalBench::new(
        cfg.task.clone(),
        bench_opts,
        trees.work.clone(),
        cfg.run_dir.join("bench"),
    ));
    let registry = Registry::standard();
    let tools: Vec<ToolSpec> = registry
        .specs()
        .into_iter()
        .map(|s| ToolSpec {
            name: s.name,
            description: s.description,
            parameters: s.parameters,
        })
        .collect();

    let mut spent = Spent::new();
    let mut usage = Usage::default();
    let mut artifacts = vec![];
    let mut summary = None;
    let mut messages = vec![];
    let end = 'run: {
        let system = match crate::prompts::system(&cfg.task) {
            Ok(s) => s,
            Err(e) => break 'run EndReason::SetupFailed(e),
        };
        let mut first = match crate::prompts::task_prompt(&cfg.task, &cfg.budget.describe()) {
            Ok(s) => s,
            Err(e) => break 'run EndReason::SetupFailed(e),
        };
        if let Some(extra) = &cfg.extra_prompt {
            first.push_str("\n\n");
            first.push_str(extra);
        }
        messages.push(Message::system(system));
        messages.push(Message::user(first));
        let mut logged = 0usize;
        let mut model_errors = 0usize;
        let mut no_tool_turns = 0usize;
        let mut tokens = crate::context::TokenCount::default();
        let tool_names: Vec<String> = tools.iter().map(|t| t.name.clone()).collect();
        loop {
            if let Some(b) = cfg.budget.exhausted(&spent) {
                break 'run EndReason::Budget(b.to_string());
            }
            let win = window.tokens.max(1024);
            let mut est = crate::turns::count_tokens(cfg.model.as_ref(), &tokens, &messages).await;
            if est > win * 3 / 4 {
                // compact() works in chars/4 units; the server's count is `ratio` times that.
                let target = ((win / 2) as f64 / tokens.ratio()) as u64;
                let n = crate::context::compact(&mut messages, target, 4);
                tokens.invalidate();
                let after = tokens.count(&messages, None);
                traj.event(
                    "compaction",
                    json!({"estimated_tokens": est, "shortened": n, "after": after, "window": win}),
                );
                est = after;
            }
            let max_tokens = info.output_limit.for_call(win, est);
            let req = ChatRequest {
                messages: messages.clone(),
                tools: tools.clone(),
                temperature: cfg.temperature,
                seed: cfg.seed,
                max_tokens: max_tokens.map(|n| n.min(u64::from(u32::MAX)) as u32),
            };
            traj.event(
                "request",
                json!({
                    "step": spent.steps,
                    "n_messages": messages.len(),
                    "estimated_tokens": est,
                    "max_tokens": max_tokens,
                    "new_messages": &messages[logged..],
                    "tools": tools.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
                }),
            );
            logged = messages.len();
            let resp = match cfg.model.chat(&req).await {
                Ok(r) => {
                    model_errors = 0;
                    r
                }
                Err(ModelError::ContextOverflow {
                    message,
                    prompt_tokens,
                    window: told,
                    ..
                }) => {
                    // Not the provider failing: the conversation is too long. Shorten and retry;
                    // the rollout ends only when there is nothing left to shorten.
                    if let Some(w) = told.filter(|&w| w > 0 && w != window.tokens) {
                        window = crate::turns::Window {
                            tokens: w,
                            source: "server_error",
                            detail: Some(message.clone()),
                        };
                    }
                    let before = crate::context::estimate_tokens(&messages);
                    let n = crate::context::shorten_for_overflow(&mut messages);
                    tokens.invalidate();
                    logged = logged.min(messages.len());
                    traj.event(
                        "context_overflow",
                        json!({"step": spent.steps, "error": message, "server_prompt_tokens": prompt_tokens, "window": window.tokens, "window_source": window.source, "shortened": n, "estimate_before": before, "estimate_after": crate::context::estimate_tokens(&messages)}),
                    );
                    say(
                        &cfg,
                        format!(
                            "[{}] the request did not fit the context window ({} tokens): {}",
                            cfg.label,
                            window.tokens,
                            if n > 0 {
                                "history shortened, retrying"
                            } else {
                                "nothing left to shorten"
                            }
                        ),
                    );
                    if n == 0 {
                        break 'run EndReason::ModelError(format!(
                            "context overflow with nothing left to shorten (window {} tokens): {message}",
                            window.tokens
                        ));
                    }
                    continue;
                }
                Err(e) => {
                    model_errors += 1;
                    traj.event("model_error", json!({"step": spent.steps, "error": e.to_string(), "consecutive": model_errors}));
                    say(&cfg, format!("[{}] model error: {e}", cfg.label));
                    if is_fatal(&e) || model_errors >= cfg.max_model_errors {
                        break 'run EndReason::ModelError(e.to_string());
                    }
                    continue;
                }
            };
            tokens.observe(
                &[messages.as_slice(), &[resp.to_message()]].concat(),
                messages.len(),
                &resp.usage,
            );
            let cost = info.pricing.cost(&resp.usage);
            usage.add(&resp.usage);
            spent.tokens += resp.usage.prompt_tokens + resp.usage.completion_tokens;
            spent.cost_usd += cost;
            spent.steps += 1;
            traj.event(
                "model_response",
                json!({
                    "step": spent.steps,
                    "response": resp,
                    "cost_usd": cost,
                    "total": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens, "cost_usd": spent.cost_usd},
                }),
            );
            let mut calls = resp.tool_calls.clone();
            if calls.is_empty() {
                match crate::turns::no_tool_call(&resp, &tool_names, spent.steps, max_tokens) {
                    crate::turns::NoTool::TextCalls {
                        calls: found,
                        event,
                    } => {
                        traj.event("text_tool_calls", event);
                        messages.push(optagent_model::Message::Assistant {
                            content: resp.content.clone(),
                            tool_calls: found.clone(),
                        });
                        calls = found;
                    }
                    crate::turns::NoTool::Nudge { message, reason } => {
                        if message != resp.to_message() {
                            // Cut text: the server's count of the reply no longer applies.
                            tokens.invalidate();
                        }
                        messages.push(message);
                        no_tool_turns += 1;
                        let max = cfg.max_no_tool_turns.max(1);
                        say(
                            &cfg,
                            format!(
                                "[{}] step {} | (no tool call: {reason:?}) | {} tok | ${:.4}",
                                cfg.label, spent.steps, spent.tokens, spent.cost_usd
                            ),
                        );
                        if no_tool_turns >= max {
                            break 'run EndReason::NoToolCalls(format!(
                                "{no_tool_turns} replies in a row without a tool call (last: {reason:?})"
                            ));
                        }
                        let nudge = crate::prompts::nudge(reason, &tool_names, max - no_tool_turns)
                            .unwrap_or_else(|e| {
                                tracing::warn!("{e}");
                                "Continue with a tool call; if you are done, call `submit`.".into()
                            });
                        messages.push(Message::user(format!(
                            "{nudge}\n{}",
                            cfg.budget.status_line(&spent)
                        )));
                        continue;
                    }
                }
            } else {
                messages.push(resp.to_message());
            }
            no_tool_turns = 0;
            let mut submitted = false;
            let mut fatal: Option<String> = None;
            for call in &calls {
                traj.event("tool_call", json!({"step": spent.steps, "id": call.id, "name": call.name, "arguments": call.arguments}));
                let t0 = Instant::now();
                let text = if let Some(f) = &fatal {
                    format!("not run: an earlier call in this turn failed fatally ({f})")
                } else if submitted {
                    "not run: the rollout was already submitted in this turn".to_string()
                } else {
                    match registry.dispatch(&ctx, &call.name, &call.arguments).await {
                        Ok(out) => {
                            if out.submit {
                                submitted = true;
                                summary =
                                    serde_json::from_str::<serde_json::Value>(&call.arguments)
                                        .ok()
                                        .and_then(|v| {
                                            v.get("summary")
                                                .and_then(|s| s.as_str())
                                                .map(str::to_string)
                                        });
                            }
                            artifacts.extend(out.artifacts.iter().cloned());
                            out.text
                        }
                        Err(ToolError::Retry(m)) => format!("error: {m}"),
                        Err(ToolError::Fatal(m)) => {
                            fatal = Some(m.clone());
                            format!("fatal error: {m}")
                        }
                    }
                };
                // What a command printed goes to the provider: no secret of this process's
                // environment may be in it (a command that scans `/proc` or prints a file of
                // credentials), in any encoding the redactor knows.
                let text = cfg.redactor.scrub(&text);
                say(
                    &cfg,
                    format!(
                        "[{}] step {} | {} ({:.1}s) | {} tok | ${:.4}",
                        cfg.label,
                        spent.steps,
                        call.name,
                        t0.elapsed().as_secs_f64(),
                        spent.tokens,
                        spent.cost_usd
                    ),
                );
                traj.event(
                    "tool_result",
                    json!({"step": spent.steps, "id": call.id, "name": call.name, "output": text, "seconds": t0.elapsed().as_secs_f64()}),
                );
                messages.push(Message::tool(call.id.clone(), text));
            }
            if submitted {
                break 'run EndReason::Submitted;
            }
            if let Some(f) = fatal {
                traj.event("turn_ended", json!({"step": spent.steps, "fatal": f}));
            }
            // What is left, on the last tool output of the turn.
            if let Some(Message::Tool { content, .. }) = messages.last_mut() {
                content.push_str("\n\n");
                content.push_str(&cfg.budget.status_line(&spent));
            }
        }
    };
    let mut end = end;
    let mut keep_trees = cfg.keep_trees;
    let patch = match trees.work.diff() {
        Ok(d) if !d.trim().is_empty() => Some(d),
        Ok(_) => None,
        Err(e) => {
            traj.event("error", json!({"taking_diff": e.to_string()}));
            // The edits are still in the tree: keep it so nothing is lost.
            keep_trees = true;
            end = EndReason::DiffFailed(format!(
                "taking the diff failed after the rollout ended ({}): {e}; the tree is kept in {}",
                end.short(),
                cfg.run_dir.join("trees").display()
            ));
            None
        }
    };
    let patch_path = patch.as_ref().and_then(|p| {
        let path = cfg.run_dir.join("patch.diff");
        std::fs::write(&path, p).ok().map(|_| path)
    });
    let wall_s = started.elapsed().as_secs_f64();
    traj.event(
        "end",
        json!({
            "reason": end,
            "steps": spent.steps,
            "usage": usage,
            "cost_usd": spent.cost_usd,
            "wall_s": wall_s,
            "patch_path": patch_path,
        }),
    );
    say(
        &cfg,
        format!(
            "[{}] ended: {:?} after {} steps, {} tokens, ${:.4}",
            cfg.label, end, spent.steps, spent.tokens, spent.cost_usd
        ),
    );
    trees.close().await;
    if !keep_trees {
        let _ = std::fs::remove_dir_all(cfg.run_dir.join("trees"));
    }
    RolloutOutcome {
        end,
        patch,
        patch_path,
        trajectory_path: traj_path,
        usage,
        cost_usd: spent.cost_usd,
        steps: spent.steps,
        wall_s,
        artifacts,
        summary,
    }
}
