//! `optagent solve`: K rollouts, P at a time, then one interleaved verification of every
//! candidate and the best verified patch, with a report.

use std::path::PathBuf;
use std::sync::Arc;

use optagent_agent::judge::{Judge, JudgeVerdict};
use optagent_agent::trajectory::Redactor;
use optagent_agent::{Budget, EndReason, RolloutConfig, RolloutOutcome};
use optagent_eval::{Candidate, EvalError, EvalOptions, EvalReport, PatchSource, WorkloadSet};
use optagent_model::ChatModel;
use optagent_sandbox::SandboxFactory;
use optagent_task::Task;
use serde::{Deserialize, Serialize};

use crate::select::{select_best, Choice};

pub use optagent_eval::Progress;

#[derive(Clone)]
pub struct SolveConfig {
    pub task: Task,
    pub model: Arc<dyn ChatModel>,
    pub k: usize,
    pub parallel: usize,
    pub budget: Budget,
    /// Temperature of every rollout (`None`: the provider's default).
    pub temperature: Option<f32>,
    /// Rollout i gets seed `seed + i`.
    pub seed: i64,
    pub out_dir: PathBuf,
    pub sandbox: Arc<dyn SandboxFactory>,
    /// How the agent's `bench` measures (visible workloads).
    pub bench: EvalOptions,
    /// How selection verifies (all workloads, more repetitions).
    pub select: EvalOptions,
    pub progress: Option<Progress>,
    pub keep_trees: bool,
    /// Replies without a tool call in a row that end a rollout (`no_tool_calls`).
    pub max_no_tool_turns: usize,
    /// Variables whose values must never be written (the provider's key variable).
    pub secret_vars: Vec<String>,
    /// The optional LLM judge, asked about every correct candidate before selection; its
    /// verdict goes into the candidate's `eval.integrity.judge`.
    pub judge: Option<Judge>,
}

/// One rollout as the report shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolloutSummary {
    pub index: usize,
    pub seed: i64,
    pub outcome: RolloutOutcome,
    pub choice: Choice,
    /// The verification score of its patch (None without a patch).
    pub eval: Option<EvalReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SolveReport {
    pub task: String,
    pub model: String,
    pub k: usize,
    pub rollouts: Vec<RolloutSummary>,
    pub selected: Option<usize>,
    pub best_patch_path: Option<PathBuf>,
    pub total_cost_usd: f64,
    pub total_tokens: u64,
    pub wall_s: f64,
    /// Set when verification itself could not run (e.g. a CUDA task on a machine without GPU).
    pub verification_error: Option<String>,
}

/// Run the rollouts and select.
pub async fn solve(cfg: SolveConfig) -> Result<SolveReport, String> {
    let started = std::time::Instant::now();
    std::fs::create_dir_all(&cfg.out_dir)
        .map_err(|e| format!("creating {}: {e}", cfg.out_dir.display()))?;
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    let sem = Arc::new(tokio::sync::Semaphore::new(cfg.parallel.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..cfg.k {
        let sem = sem.clone();
        let mut bench = cfg.bench.clone();
        bench.measure_lock = Some(lock.clone());
        let rc = RolloutConfig {
            task: cfg.task.clone(),
            model: cfg.model.clone(),
            budget: cfg.budget.clone(),
            temperature: cfg.temperature,
            seed: Some(cfg.seed + i as i64),
            run_dir: cfg.out_dir.join(format!("rollout-{i}")),
            sandbox: cfg.sandbox.clone(),
            bench,
            progress: cfg.progress.clone(),
            redactor: Redactor::from_env(&cfg.secret_vars),
            max_model_errors: 3,
            max_no_tool_turns: cfg.max_no_tool_turns,
            output_budget: 16_000,
            keep_trees: cfg.keep_trees,
            label: format!("r{i}"),
        };
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            (i, optagent_agent::run_rollout(rc).await)
        });
    }
    let mut outcomes: Vec<Option<RolloutOutcome>> = vec![None; cfg.k];
    while let Some(r) = set.join_next().await {
        let (i, o) = r.map_err(|e| format!("a rollout panicked: {e}"))?;
        outcomes[i] = Some(o);
    }
    let outcomes: Vec<RolloutOutcome> = outcomes.into_iter().map(|o| o.expect("joined")).collect();

    // Verify every candidate in one interleaved session.
    let with_patch: Vec<usize> = (0..cfg.k)
        .filter(|&i| outcomes[i].patch.is_some())
        .collect();
    let cands: Vec<Candidate> = with_patch
        .iter()
        .map(|&i| {
            Candidate::new(
                format!("rollout-{i}"),
                PatchSource::Diff(outcomes[i].patch.clone().expect("has patch")),
            )
        })
        .collect();
    let mut evals: Vec<Option<EvalReport>> = vec![None; cfg.k];
    let mut verification_error = None;
    if !cands.is_empty() {
        if let Some(p) = &cfg.progress {
            p(&format!(
                "verifying {} candidate(s) in one session",
                cands.len()
            ));
        }
        let mut sel = cfg.select.clone();
        sel.workloads = WorkloadSet::All;
        sel.sandbox = cfg.sandbox.clone();
        sel.work_dir = cfg.out_dir.join("verify");
        match optagent_eval::evaluate(&cfg.task, &cands, &sel).await {
            Ok(reports) => {
                for (j, r) in reports.into_iter().enumerate() {
                    evals[with_patch[j]] = Some(r);
                }
            }
            Err(EvalError::Skipped(why)) => verification_error = Some(format!("skipped: {why}")),
            Err(e) => verification_error = Some(e.to_string()),
        }
        if !cfg.keep_trees {
            let _ = std::fs::remove_dir_all(&sel.work_dir);
        }
    }
    if let Some(judge) = &cfg.judge {
        for &i in &with_patch {
            let diff = outcomes[i].patch.clone().unwrap_or_default();
            if let Some(r) = evals[i].as_mut() {
                if let Some(v) = judge.judge_report(&cfg.task, &diff, r).await {
                    if let Some(p) = &cfg.progress {
                        p(&format!("[r{i}] {}", v.summary()));
                    }
                }
            }
        }
    }
    let verified: Vec<EvalReport> = with_patch
        .iter()
        .filter_map(|&i| evals[i].clone())
        .collect();
    let selection = select_best(&verified);
    let selected = selection.best.map(|j| with_patch[j]);
    let mut rollouts = vec![];
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let choice = match with_patch.iter().position(|&x| x == i) {
            None => Choice::NoPatch,
            Some(j) if evals[i].is_some() => selection.choices[j].clone(),
            Some(_) => Choice::Incorrect(
                verification_error
                    .clone()
                    .unwrap_or_else(|| "not verified".into()),
            ),
        };
        rollouts.push(RolloutSummary {
            index: i,
            seed: cfg.seed + i as i64,
            outcome,
            choice,
            eval: evals[i].clone(),
        });
    }
    let best_patch_path = selected.and_then(|i| {
        let p = cfg.out_dir.join("best.diff");
        std::fs::write(&p, rollouts[i].outcome.patch.as_deref().unwrap_or(""))
            .ok()
            .map(|_| p)
    });
    let report = SolveReport {
        task: cfg.task.id().to_string(),
        model: cfg.model.info().id.clone(),
        k: cfg.k,
        total_cost_usd: rollouts.iter().map(|r| r.outcome.cost_usd).sum(),
        total_tokens: rollouts
            .iter()
            .map(|r| r.outcome.usage.prompt_tokens + r.outcome.usage.completion_tokens)
            .sum(),
        rollouts,
        selected,
        best_patch_path,
        wall_s: started.elapsed().as_secs_f64(),
        verification_error,
    };
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    std::fs::write(cfg.out_dir.join("solve-report.json"), json)
        .map_err(|e| format!("writing the report: {e}"))?;
    std::fs::write(
        cfg.out_dir.join("solve-report.md"),
        render_markdown(&report),
    )
    .map_err(|e| format!("writing the report: {e}"))?;
    Ok(report)
}

fn end_text(e: &EndReason) -> String {
    match e {
        EndReason::Submitted => "submitted".into(),
        EndReason::Budget(b) => format!("budget ({b}) ran out"),
        EndReason::ModelError(m) => format!("model error: {m}"),
        EndReason::SetupFailed(m) => format!("setup failed: {m}"),
        EndReason::Crashed(m) => format!("crashed: {m}"),
        EndReason::DiffFailed(m) => format!("error: {m}"),
        EndReason::NoToolCalls(m) => format!("no tool calls: {m}"),
    }
}

/// The report as Markdown (also what `solve` prints at the end).
pub fn render_markdown(r: &SolveReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "# optagent solve: {} with {}\n", r.task, r.model);
    match r.selected {
        Some(i) => {
            let e = r.rollouts[i].eval.as_ref().expect("selected has eval");
            let _ = writeln!(
                s,
                "Selected rollout {i}: speedup {:.3}x (expert {:.3}x), opt_base {}, opt_commit {}, patch {}\n",
                e.speedup,
                e.expert_speedup,
                e.opt_base,
                e.opt_commit,
                r.best_patch_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
            );
        }
        None => {
            let _ = writeln!(s, "No rollout produced a verified speedup.\n");
        }
    }
    if let Some(e) = &r.verification_error {
        let _ = writeln!(s, "Verification: {e}\n");
    }
    for ro in &r.rollouts {
        if let Some(v) = ro.eval.as_ref().and_then(JudgeVerdict::of) {
            let _ = writeln!(s, "Rollout {}: {}\n", ro.index, v.summary());
        }
    }
    let _ = writeln!(
        s,
        "| rollout | ended | steps | tokens | cost | verdict | speedup | opt_commit | selection |\n|---|---|---|---|---|---|---|---|---|"
    );
    for ro in &r.rollouts {
        let o = &ro.outcome;
        let (verdict, speedup, oc) = match &ro.eval {
            Some(e) => (
                e.verdict.as_str().to_string(),
                format!("{:.3}x", e.speedup),
                e.opt_commit.to_string(),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let choice = match &ro.choice {
            Choice::Selected => "selected".to_string(),
            Choice::NoPatch => "lost: no patch".to_string(),
            Choice::Incorrect(w) => format!("lost: incorrect ({w})"),
            Choice::NotSignificant => "lost: no significant speedup".to_string(),
            Choice::Slower(w) => format!("lost: slower ({w})"),
            Choice::Flagged(w) => format!("lost: flagged ({w})"),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | ${:.4} | {} | {} | {} | {} |",
            ro.index,
            end_text(&o.end).replace('|', "/"),
            o.steps,
            o.usage.prompt_tokens + o.usage.completion_tokens,
            o.cost_usd,
            verdict,
            speedup,
            oc,
            choice.replace('|', "/")
        );
    }
    let _ = writeln!(
        s,
        "\nTotal: {} tokens, ${:.4}, {:.0}s. Trajectories: rollout-*/trajectory.jsonl",
        r.total_tokens, r.total_cost_usd, r.wall_s
    );
    s
}
