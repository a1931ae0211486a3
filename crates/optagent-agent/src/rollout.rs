//! One rollout: the model, its tools and the task, turn after turn until the model submits or a
//! budget runs out. A model's mistakes come back to it as tool output; provider failures that
//! outlast the provider's retries end the rollout with the trajectory and the patch so far kept.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use optagent_eval::EvalOptions;
use optagent_model::{
    ChatModel, ChatRequest, ChatResponse, Message, ModelError, ToolCall, ToolSpec, Usage,
};
use optagent_sandbox::SandboxFactory;
use optagent_task::Task;
use optagent_tools::{Registry, ToolContext, ToolError, WorkloadInfo};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::budget::{Budget, Spent};
use crate::trajectory::{Redactor, Trajectory};
use crate::workspace::RolloutTrees;

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

/// The rollout's steps, in order: the trajectory and its `meta` event, the trees (with the
/// starting patch), the tools, the prompts, the turns ([`Conversation::run`]), then the patch and
/// the tear-down ([`finish`]).
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
    let window = crate::turns::Window::detect(cfg.model.as_ref()).await;
    record_meta(&cfg, &traj, &window);
    say(&cfg, format!("[{}] preparing the workspace", cfg.label));
    let trees = match prepare_trees(&cfg).await {
        Ok(t) => t,
        Err(e) => {
            let e = e.to_string();
            traj.event(
                "end",
                json!({"reason": {"kind": "setup_failed", "detail": e}}),
            );
            return RolloutOutcome::setup_failed(e, traj_path, started.elapsed().as_secs_f64());
        }
    };
    let tools = Toolbox::new(&cfg, &trees);
    let mut conv = Conversation::new(window);
    let end = match render_prompts(&cfg) {
        Ok(first) => {
            conv.messages = first;
            conv.run(&cfg, &tools, &traj).await
        }
        Err(e) => EndReason::SetupFailed(e.to_string()),
    };
    finish(&cfg, &trees, &traj, conv, end, started).await
}

/// The trajectory's first event: the task, model, budget, sampling and context window.
fn record_meta(cfg: &RolloutConfig, traj: &Trajectory, window: &crate::turns::Window) {
    let info = cfg.model.info();
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
}

/// The work and base trees; the starting patch goes in before the workspace is set up and
/// built (native code is built with it).
async fn prepare_trees(
    cfg: &RolloutConfig,
) -> Result<RolloutTrees, crate::workspace::PrepareError> {
    crate::workspace::prepare_with(
        &cfg.task,
        &cfg.run_dir.join("trees"),
        cfg.sandbox.as_ref(),
        cfg.start_patch.as_deref(),
    )
    .await
}

/// The system prompt and the first user message (the task, its budget and any extra text).
fn render_prompts(cfg: &RolloutConfig) -> Result<Vec<Message>, crate::prompts::PromptError> {
    let system = crate::prompts::system(&cfg.task)?;
    let mut first = crate::prompts::task_prompt(&cfg.task, &cfg.budget.describe())?;
    if let Some(extra) = &cfg.extra_prompt {
        first.push_str("\n\n");
        first.push_str(extra);
    }
    Ok(vec![Message::system(system), Message::user(first)])
}

/// The tools as the model sees them (specs) and as the loop runs them (registry and context).
struct Toolbox {
    registry: Registry,
    ctx: ToolContext,
    specs: Vec<ToolSpec>,
    names: Vec<String>,
}

impl Toolbox {
    /// Builds the tool context on the rollout's trees: sandboxes, languages, environment, output
    /// budget, visible workloads and the evaluator behind `bench`.
    fn new(cfg: &RolloutConfig, trees: &RolloutTrees) -> Toolbox {
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
        let specs: Vec<ToolSpec> = registry
            .specs()
            .into_iter()
            .map(|s| ToolSpec {
                name: s.name,
                description: s.description,
                parameters: s.parameters,
            })
            .collect();
        let names = specs.iter().map(|t| t.name.clone()).collect();
        Toolbox {
            registry,
            ctx,
            specs,
            names,
        }
    }
}

/// What one model call gave the loop.
enum Called {
    Reply(ChatResponse),
    /// Call again (the history was shortened, or the error may pass).
    Retry,
    End(EndReason),
}

/// What a reply asks the loop to do.
enum Turn {
    /// Run these tool calls.
    Run(Vec<ToolCall>),
    /// The model was nudged to call a tool: call it again.
    Nudged,
    End(EndReason),
}

/// The conversation and what it has spent so far.
struct Conversation {
    messages: Vec<Message>,
    window: crate::turns::Window,
    tokens: crate::context::TokenCount,
    spent: Spent,
    usage: Usage,
    artifacts: Vec<PathBuf>,
    summary: Option<String>,
    /// Messages already written to the trajectory in a `request` event.
    logged: usize,
    model_errors: usize,
    no_tool_turns: usize,
}

impl Conversation {
    fn new(window: crate::turns::Window) -> Self {
        Conversation {
            messages: vec![],
            window,
            tokens: crate::context::TokenCount::default(),
            spent: Spent::new(),
            usage: Usage::default(),
            artifacts: vec![],
            summary: None,
            logged: 0,
            model_errors: 0,
            no_tool_turns: 0,
        }
    }

    /// Turn after turn until the model submits, a budget runs out or the model cannot go on.
    async fn run(&mut self, cfg: &RolloutConfig, tools: &Toolbox, traj: &Trajectory) -> EndReason {
        loop {
            if let Some(b) = cfg.budget.exhausted(&self.spent) {
                return EndReason::Budget(b.to_string());
            }
            let (win, est) = self.shorten_context(cfg, traj).await;
            let max_tokens = cfg.model.info().output_limit.for_call(win, est);
            let resp = match self.call_model(cfg, tools, traj, est, max_tokens).await {
                Called::Reply(r) => r,
                Called::Retry => continue,
                Called::End(e) => return e,
            };
            self.count_budget(cfg, traj, &resp);
            let calls = match self.take_calls(cfg, tools, traj, &resp, max_tokens) {
                Turn::Run(c) => c,
                Turn::Nudged => continue,
                Turn::End(e) => return e,
            };
            if let Some(end) = self.dispatch_tools(cfg, tools, traj, &calls).await {
                return end;
            }
        }
    }

    /// Shortens old tool outputs once the conversation passes three quarters of the window;
    /// returns the window and the conversation's estimated size in tokens.
    async fn shorten_context(&mut self, cfg: &RolloutConfig, traj: &Trajectory) -> (u64, u64) {
        let win = self.window.tokens.max(1024);
        let mut est =
            crate::turns::count_tokens(cfg.model.as_ref(), &self.tokens, &self.messages).await;
        if est > win * 3 / 4 {
            // compact() works in chars/4 units; the server's count is `ratio` times that.
            let target = ((win / 2) as f64 / self.tokens.ratio()) as u64;
            let n = crate::context::compact(&mut self.messages, target, 4);
            self.tokens.invalidate();
            let after = self.tokens.count(&self.messages, None);
            traj.event(
                "compaction",
                json!({"estimated_tokens": est, "shortened": n, "after": after, "window": win}),
            );
            est = after;
        }
        (win, est)
    }

    /// Sends the conversation; a context overflow shortens the history and asks to call again,
    /// other errors are counted and end the rollout when fatal or too many in a row.
    async fn call_model(
        &mut self,
        cfg: &RolloutConfig,
        tools: &Toolbox,
        traj: &Trajectory,
        est: u64,
        max_tokens: Option<u64>,
    ) -> Called {
        let req = ChatRequest {
            messages: self.messages.clone(),
            tools: tools.specs.clone(),
            temperature: cfg.temperature,
            seed: cfg.seed,
            max_tokens: max_tokens.map(|n| n.min(u64::from(u32::MAX)) as u32),
        };
        traj.event(
            "request",
            json!({
                "step": self.spent.steps,
                "n_messages": self.messages.len(),
                "estimated_tokens": est,
                "max_tokens": max_tokens,
                "new_messages": &self.messages[self.logged..],
                "tools": tools.names,
            }),
        );
        self.logged = self.messages.len();
        match cfg.model.chat(&req).await {
            Ok(r) => {
                self.model_errors = 0;
                Called::Reply(r)
            }
            Err(ModelError::ContextOverflow {
                message,
                prompt_tokens,
                window: told,
                ..
            }) => self.overflowed(cfg, traj, message, prompt_tokens, told),
            Err(e) => {
                self.model_errors += 1;
                traj.event("model_error", json!({"step": self.spent.steps, "error": e.to_string(), "consecutive": self.model_errors}));
                say(cfg, format!("[{}] model error: {e}", cfg.label));
                if is_fatal(&e) || self.model_errors >= cfg.max_model_errors {
                    return Called::End(EndReason::ModelError(e.to_string()));
                }
                Called::Retry
            }
        }
    }

    /// Not the provider failing: the conversation is too long. Shorten and retry; the rollout
    /// ends only when there is nothing left to shorten.
    fn overflowed(
        &mut self,
        cfg: &RolloutConfig,
        traj: &Trajectory,
        message: String,
        prompt_tokens: Option<u64>,
        told: Option<u64>,
    ) -> Called {
        if let Some(w) = told.filter(|&w| w > 0 && w != self.window.tokens) {
            self.window = crate::turns::Window {
                tokens: w,
                source: "server_error",
                detail: Some(message.clone()),
            };
        }
        let before = crate::context::estimate_tokens(&self.messages);
        let n = crate::context::shorten_for_overflow(&mut self.messages);
        self.tokens.invalidate();
        self.logged = self.logged.min(self.messages.len());
        traj.event(
            "context_overflow",
            json!({"step": self.spent.steps, "error": message, "server_prompt_tokens": prompt_tokens, "window": self.window.tokens, "window_source": self.window.source, "shortened": n, "estimate_before": before, "estimate_after": crate::context::estimate_tokens(&self.messages)}),
        );
        say(
            cfg,
            format!(
                "[{}] the request did not fit the context window ({} tokens): {}",
                cfg.label,
                self.window.tokens,
                if n > 0 {
                    "history shortened, retrying"
                } else {
                    "nothing left to shorten"
                }
            ),
        );
        if n == 0 {
            return Called::End(EndReason::ModelError(format!(
                "context overflow with nothing left to shorten (window {} tokens): {message}",
                self.window.tokens
            )));
        }
        Called::Retry
    }

    /// Counts a reply against the budget (tokens, cost, one step) and records it.
    fn count_budget(&mut self, cfg: &RolloutConfig, traj: &Trajectory, resp: &ChatResponse) {
        self.tokens.observe(
            &[self.messages.as_slice(), &[resp.to_message()]].concat(),
            self.messages.len(),
            &resp.usage,
        );
        let cost = cfg.model.info().pricing.cost(&resp.usage);
        self.usage.add(&resp.usage);
        self.spent.tokens += resp.usage.prompt_tokens + resp.usage.completion_tokens;
        self.spent.cost_usd += cost;
        self.spent.steps += 1;
        traj.event(
            "model_response",
            json!({
                "step": self.spent.steps,
                "response": resp,
                "cost_usd": cost,
                "total": {"prompt_tokens": self.usage.prompt_tokens, "completion_tokens": self.usage.completion_tokens, "cost_usd": self.spent.cost_usd},
            }),
        );
    }

    /// The reply's tool calls, taken from its text when it has none of its own; a reply with
    /// none at all gets a nudge (`prompts/nudge.md`), and too many in a row end the rollout.
    fn take_calls(
        &mut self,
        cfg: &RolloutConfig,
        tools: &Toolbox,
        traj: &Trajectory,
        resp: &ChatResponse,
        max_tokens: Option<u64>,
    ) -> Turn {
        use crate::turns::NoTool;
        if !resp.tool_calls.is_empty() {
            self.messages.push(resp.to_message());
            self.no_tool_turns = 0;
            return Turn::Run(resp.tool_calls.clone());
        }
        match crate::turns::no_tool_call(resp, &tools.names, self.spent.steps, max_tokens) {
            NoTool::TextCalls { calls, event } => {
                traj.event("text_tool_calls", event);
                self.messages.push(Message::Assistant {
                    content: resp.content.clone(),
                    tool_calls: calls.clone(),
                });
                self.no_tool_turns = 0;
                Turn::Run(calls)
            }
            NoTool::Nudge { message, reason } => {
                if message != resp.to_message() {
                    // Cut text: the server's count of the reply no longer applies.
                    self.tokens.invalidate();
                }
                self.messages.push(message);
                self.no_tool_turns += 1;
                let max = cfg.max_no_tool_turns.max(1);
                let spent = &self.spent;
                say(
                    cfg,
                    format!(
                        "[{}] step {} | (no tool call: {reason:?}) | {} tok | ${:.4}",
                        cfg.label, spent.steps, spent.tokens, spent.cost_usd
                    ),
                );
                if self.no_tool_turns >= max {
                    return Turn::End(EndReason::NoToolCalls(format!(
                        "{} replies in a row without a tool call (last: {reason:?})",
                        self.no_tool_turns
                    )));
                }
                let nudge = crate::prompts::nudge(reason, &tools.names, max - self.no_tool_turns);
                self.messages.push(Message::user(format!(
                    "{nudge}\n{}",
                    cfg.budget.status_line(&self.spent)
                )));
                Turn::Nudged
            }
        }
    }

    /// Runs one turn's tool calls in order. After a fatal error or a submit the rest are not
    /// run (the model is told so); the turn's last output ends with the budget line. Returns
    /// [`EndReason::Submitted`] when the model submitted.
    async fn dispatch_tools(
        &mut self,
        cfg: &RolloutConfig,
        tools: &Toolbox,
        traj: &Trajectory,
        calls: &[ToolCall],
    ) -> Option<EndReason> {
        let mut submitted = false;
        let mut fatal: Option<String> = None;
        for call in calls {
            traj.event("tool_call", json!({"step": self.spent.steps, "id": call.id, "name": call.name, "arguments": call.arguments}));
            let t0 = Instant::now();
            let text = if let Some(f) = &fatal {
                format!("not run: an earlier call in this turn failed fatally ({f})")
            } else if submitted {
                "not run: the rollout was already submitted in this turn".to_string()
            } else {
                match tools
                    .registry
                    .dispatch(&tools.ctx, &call.name, &call.arguments)
                    .await
                {
                    Ok(out) => {
                        if out.submit {
                            submitted = true;
                            self.summary = out.summary;
                        }
                        self.artifacts.extend(out.artifacts);
                        out.text
                    }
                    Err(ToolError::Retry(m)) => format!("error: {m}"),
                    Err(ToolError::Fatal(m)) => {
                        let text = format!("fatal error: {m}");
                        fatal = Some(m);
                        text
                    }
                }
            };
            // What a command printed goes to the provider: no secret of this process's
            // environment may be in it (a command that scans `/proc` or prints a file of
            // credentials), in any encoding the redactor knows.
            let text = cfg.redactor.scrub(&text);
            let spent = &self.spent;
            say(
                cfg,
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
            self.messages.push(Message::tool(call.id.clone(), text));
        }
        if submitted {
            return Some(EndReason::Submitted);
        }
        if let Some(f) = fatal {
            traj.event("turn_ended", json!({"step": self.spent.steps, "fatal": f}));
        }
        // What is left, on the last tool output of the turn.
        if let Some(Message::Tool { content, .. }) = self.messages.last_mut() {
            content.push_str("\n\n");
            content.push_str(&cfg.budget.status_line(&self.spent));
        }
        None
    }
}

/// The work tree's diff against the base, written to `patch.diff`. A diff that cannot be taken
/// turns the end into [`EndReason::DiffFailed`] and keeps the trees (the edits are still there).
/// Returns the end, the patch, its path and whether to keep the trees.
fn write_patch(
    cfg: &RolloutConfig,
    trees: &RolloutTrees,
    traj: &Trajectory,
    end: EndReason,
) -> (EndReason, Option<String>, Option<PathBuf>, bool) {
    let (end, patch, keep_trees) = match trees.work.diff() {
        Ok(d) if !d.trim().is_empty() => (end, Some(d), cfg.keep_trees),
        Ok(_) => (end, None, cfg.keep_trees),
        Err(e) => {
            traj.event("error", json!({"taking_diff": e.to_string()}));
            let end = EndReason::DiffFailed(format!(
                "taking the diff failed after the rollout ended ({}): {e}; the tree is kept in {}",
                end.short(),
                cfg.run_dir.join("trees").display()
            ));
            (end, None, true)
        }
    };
    let patch_path = patch.as_ref().and_then(|p| {
        let path = cfg.run_dir.join("patch.diff");
        std::fs::write(&path, p).ok().map(|_| path)
    });
    (end, patch, patch_path, keep_trees)
}

/// Writes the patch, records the end, closes the sandboxes and removes the trees (unless kept).
async fn finish(
    cfg: &RolloutConfig,
    trees: &RolloutTrees,
    traj: &Trajectory,
    conv: Conversation,
    end: EndReason,
    started: Instant,
) -> RolloutOutcome {
    let (end, patch, patch_path, keep_trees) = write_patch(cfg, trees, traj, end);
    let spent = &conv.spent;
    let wall_s = started.elapsed().as_secs_f64();
    traj.event(
        "end",
        json!({
            "reason": end,
            "steps": spent.steps,
            "usage": conv.usage,
            "cost_usd": spent.cost_usd,
            "wall_s": wall_s,
            "patch_path": patch_path,
        }),
    );
    say(
        cfg,
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
        trajectory_path: traj.path().to_path_buf(),
        usage: conv.usage,
        cost_usd: spent.cost_usd,
        steps: spent.steps,
        wall_s,
        artifacts: conv.artifacts,
        summary: conv.summary,
    }
}
