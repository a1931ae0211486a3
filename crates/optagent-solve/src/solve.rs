//! `optagent solve`: K rollouts, P at a time, then one interleaved verification of every
//! candidate and the best verified patch, with a report.

use std::path::PathBuf;
use std::sync::Arc;

use optagent_agent::judge::{Judge, JudgeVerdict};
use optagent_agent::prompts::{round_prompt, strategy, RoundFigure};
use optagent_agent::roundprofile::{differential_text, slowest_workloads, PROFILED_WORKLOADS};
use optagent_agent::trajectory::Redactor;
use optagent_agent::{Budget, EndReason, RolloutConfig, RolloutOutcome};
use optagent_eval::render::Figure;
use optagent_eval::{Candidate, EvalError, EvalOptions, EvalReport, PatchSource, WorkloadSet};
use optagent_model::ChatModel;
use optagent_sandbox::SandboxFactory;
use optagent_task::Task;
use serde::{Deserialize, Serialize};

use crate::merge::{merge_verified, MergeOutcome, MergeReport, Verified};
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
    /// Merge verified candidates that improve different workloads ([`crate::merge`]).
    pub merge: bool,
    /// Rounds of K rollouts; each round after the first starts from the best verified patch so
    /// far, which a round's best replaces only when verified faster in the same session.
    pub rounds: usize,
    /// Give each rollout a strategy prompt chosen by its seed (`prompts/strategies/`).
    pub diversify: bool,
}

/// One rollout as the report shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolloutSummary {
    pub index: usize,
    pub seed: i64,
    /// The round it ran in (0-based; always 0 without `--rounds`).
    #[serde(default)]
    pub round: usize,
    /// Its strategy prompt (`--diversify`), by name.
    #[serde(default)]
    pub strategy: Option<String>,
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
    /// What `--merge` did, one per round (empty without it).
    #[serde(default)]
    pub merges: Vec<MergeReport>,
    /// Set when the selected patch (`best.diff`) is a merged one: its index in `merges` (the
    /// candidate is `merges[i].merged[merges[i].selected]`); then `selected` is None, and the
    /// single patch that selection chose first lost to it.
    #[serde(default)]
    pub selected_merge: Option<usize>,
    /// Rounds run (`--rounds`; 1 is plain best-of-K).
    #[serde(default)]
    pub rounds: usize,
    /// What each round ended with.
    #[serde(default)]
    pub round_results: Vec<RoundSummary>,
}

/// The best verified patch so far.
#[derive(Debug, Clone)]
struct Best {
    patch: String,
    eval: EvalReport,
    /// Where it came from, as the report and the next round's prompt say it.
    source: String,
    rollout: Option<usize>,
    /// Index into the report's `merges`.
    merge: Option<usize>,
}

/// What one round of rollouts ended with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoundSummary {
    /// 0-based.
    pub round: usize,
    /// Indices of its rollouts.
    pub rollouts: Vec<usize>,
    /// The best verified patch after this round (`rollout 3`, `the merged patch of rollouts
    /// 0+1`), None while there is none.
    pub best: Option<String>,
    pub best_speedup: Option<f64>,
    /// Whether this round's best replaced the best of the rounds before.
    pub replaced: bool,
    pub note: String,
}

/// Why `solve` stopped before it could write its report. A rollout or a verification that fails
/// is not one of these: it is recorded in the report.
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    #[error("creating {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("a rollout panicked: {0}")]
    RolloutPanicked(#[from] tokio::task::JoinError),
    /// The prompt that tells round `round` (1-based) about the best patch so far.
    #[error("the prompt of round {round}: {detail}")]
    RoundPrompt { round: usize, detail: String },
    #[error("serializing the report: {0}")]
    SerializeReport(#[from] serde_json::Error),
    #[error("writing the report {path}: {source}")]
    WriteReport {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Run K rollouts from `start` (a patch applied before the model starts), P at a time; rollout
/// `first + i` gets seed `seed + first + i`.
async fn run_rollouts(
    cfg: &SolveConfig,
    first: usize,
    start: Option<String>,
    extra: Option<String>,
    lock: &Arc<tokio::sync::Mutex<()>>,
) -> Result<Vec<RolloutOutcome>, SolveError> {
    let sem = Arc::new(tokio::sync::Semaphore::new(cfg.parallel.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..cfg.k {
        let n = first + i;
        let sem = sem.clone();
        let mut bench = cfg.bench.clone();
        bench.measure_lock = Some(lock.clone());
        let extra = match (&extra, cfg.diversify) {
            (Some(a), true) => Some(format!("{a}\n\n{}", strategy(cfg.seed + n as i64).1)),
            (None, true) => Some(strategy(cfg.seed + n as i64).1),
            (a, false) => a.clone(),
        };
        let rc = RolloutConfig {
            task: cfg.task.clone(),
            model: cfg.model.clone(),
            budget: cfg.budget.clone(),
            temperature: cfg.temperature,
            seed: Some(cfg.seed + n as i64),
            run_dir: cfg.out_dir.join(format!("rollout-{n}")),
            sandbox: cfg.sandbox.clone(),
            bench,
            progress: cfg.progress.clone(),
            redactor: Redactor::from_env(&cfg.secret_vars),
            max_model_errors: 3,
            max_no_tool_turns: cfg.max_no_tool_turns,
            output_budget: 16_000,
            keep_trees: cfg.keep_trees,
            label: format!("r{n}"),
            start_patch: start.clone(),
            extra_prompt: extra,
        };
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            (i, optagent_agent::run_rollout(rc).await)
        });
    }
    let mut outcomes: Vec<Option<RolloutOutcome>> = vec![None; cfg.k];
    while let Some(r) = set.join_next().await {
        let (i, o) = r?;
        outcomes[i] = Some(o);
    }
    Ok(outcomes.into_iter().map(|o| o.expect("joined")).collect())
}

/// The differential profile of the best patch so far against the base, on the workloads where
/// it still spends the most time, as text for the next round's prompt (saying why where there
/// is none: no profiler, a tree that does not build).
async fn best_profile(cfg: &SolveConfig, best: &Best, round: usize) -> String {
    let workloads = slowest_workloads(&cfg.task, &best.eval, PROFILED_WORKLOADS);
    if workloads.is_empty() {
        return "No differential profile: the task has no visible workload to profile.".into();
    }
    if let Some(p) = &cfg.progress {
        p(&format!(
            "profiling the best patch so far against the base on {}",
            workloads.join(", ")
        ));
    }
    let dir = cfg.out_dir.join(format!("profile-round-{round}"));
    match differential_text(
        &cfg.task,
        &best.patch,
        &workloads,
        &dir,
        cfg.sandbox.as_ref(),
    )
    .await
    {
        Ok(t) => t,
        Err(e) => format!("No differential profile: {e}"),
    }
}

/// What the rollouts of round `round` (0-based) are told about the best patch so far
/// (`profile`: its differential profile, see [`best_profile`]).
fn round_text(
    round: usize,
    rounds: usize,
    best: Option<&Best>,
    task: &optagent_task::Task,
    profile: &str,
) -> Result<String, SolveError> {
    let figures: Vec<RoundFigure> = best
        .map(|b| {
            b.eval
                .workloads
                .iter()
                .filter(|w| w.visible && task.spec.workloads.iter().any(|t| t.name == w.name))
                .map(|w| RoundFigure {
                    name: w.name.clone(),
                    speedup: w.speedup,
                    significant: w.significant,
                })
                .collect()
        })
        .unwrap_or_default();
    round_prompt(
        round + 1,
        rounds,
        best.map(|b| b.source.as_str()).unwrap_or(""),
        // The best is verified: its speedup is defined and above 1.
        best.and_then(|b| b.eval.speedup).unwrap_or(1.0),
        &figures,
        profile,
    )
    .map_err(|e| SolveError::RoundPrompt {
        round: round + 1,
        detail: e.to_string(),
    })
}

/// What `solve` carries from one round to the next.
#[derive(Default)]
struct SolveState {
    rollouts: Vec<RolloutSummary>,
    merges: Vec<MergeReport>,
    round_results: Vec<RoundSummary>,
    best: Option<Best>,
    verification_error: Option<String>,
}

/// One round's candidates as its verification session scored them.
struct RoundVerification {
    /// The round's rollouts (0-based within the round) that produced a patch.
    with_patch: Vec<usize>,
    /// Each rollout's score (None: no patch, or the session failed).
    evals: Vec<Option<EvalReport>>,
    /// The best patch so far, measured in the same session.
    best_eval: Option<EvalReport>,
    /// Why the session could not run.
    error: Option<String>,
}

/// What selection made of one round.
struct RoundPick {
    /// The rollouts (within the round) that were scored, in the order selection saw them.
    scored: Vec<usize>,
    /// Selection's verdict on each of `scored`.
    choices: Vec<Choice>,
    /// The rollout (global index) selected in this round, when it became the best so far.
    selected: Option<usize>,
    replaced: bool,
    note: String,
}

/// A folder of the output for round `round`: `name` alone without `--rounds`.
fn round_dir(cfg: &SolveConfig, name: &str, round: usize, rounds: usize) -> PathBuf {
    cfg.out_dir.join(if rounds > 1 {
        format!("{name}-round-{round}")
    } else {
        name.into()
    })
}

/// Run the rollouts (in rounds, each from the best patch so far) and select.
pub async fn solve(cfg: SolveConfig) -> Result<SolveReport, SolveError> {
    let started = std::time::Instant::now();
    std::fs::create_dir_all(&cfg.out_dir).map_err(|source| SolveError::CreateDir {
        path: cfg.out_dir.clone(),
        source,
    })?;
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    let rounds = cfg.rounds.max(1);
    let mut sel = cfg.select.clone();
    sel.workloads = WorkloadSet::All;
    sel.sandbox = cfg.sandbox.clone();
    let mut st = SolveState::default();
    for round in 0..rounds {
        run_round(&cfg, &sel, &lock, round, rounds, &mut st).await?;
    }
    mark_beaten_by_later_rounds(&mut st);
    let report = finish_report(&cfg, st, rounds, started);
    write_report(&cfg.out_dir, &report)?;
    Ok(report)
}

/// One round: K rollouts from the best patch so far, one verification session, the judge,
/// selection and (with `--merge`) the merge of the round's verified patches.
async fn run_round(
    cfg: &SolveConfig,
    sel: &EvalOptions,
    lock: &Arc<tokio::sync::Mutex<()>>,
    round: usize,
    rounds: usize,
    st: &mut SolveState,
) -> Result<(), SolveError> {
    let first = round * cfg.k;
    let extra = if rounds > 1 {
        let profile = match &st.best {
            Some(b) => best_profile(cfg, b, round).await,
            None => String::new(),
        };
        Some(round_text(
            round,
            rounds,
            st.best.as_ref(),
            &cfg.task,
            &profile,
        )?)
    } else {
        None
    };
    if rounds > 1 {
        if let Some(p) = &cfg.progress {
            p(&format!(
                "round {} of {rounds}: {} rollout(s) from {}",
                round + 1,
                cfg.k,
                st.best
                    .as_ref()
                    .map(|b| format!("the best so far ({})", b.source))
                    .unwrap_or_else(|| "the base".into())
            ));
        }
    }
    let outcomes = run_rollouts(
        cfg,
        first,
        st.best.as_ref().map(|b| b.patch.clone()),
        extra,
        lock,
    )
    .await?;
    let mut sel = sel.clone();
    sel.work_dir = round_dir(cfg, "verify", round, rounds);
    let mut v = verify_round(cfg, &sel, first, &outcomes, st.best.as_ref()).await;
    judge_round(cfg, first, &outcomes, &mut v).await;
    let mut pick = select_round(first, &outcomes, &v, &mut st.best);
    record_rollouts(cfg, round, first, outcomes, &v, &pick, st);
    if cfg.merge {
        merge_round(cfg, &sel, round, rounds, &mut pick, st).await;
    }
    st.round_results.push(RoundSummary {
        round,
        rollouts: (first..first + cfg.k).collect(),
        best: st.best.as_ref().map(|b| b.source.clone()),
        best_speedup: st.best.as_ref().and_then(|b| b.eval.speedup),
        replaced: pick.replaced,
        note: pick.note,
    });
    Ok(())
}

/// Verify every candidate of the round, and the best so far, in one interleaved session
/// (`sel.work_dir` is the session's folder).
async fn verify_round(
    cfg: &SolveConfig,
    sel: &EvalOptions,
    first: usize,
    outcomes: &[RolloutOutcome],
    best: Option<&Best>,
) -> RoundVerification {
    let with_patch: Vec<usize> = (0..cfg.k)
        .filter(|&i| outcomes[i].patch.is_some())
        .collect();
    let mut cands: Vec<Candidate> = with_patch
        .iter()
        .map(|&i| {
            Candidate::new(
                format!("rollout-{}", first + i),
                PatchSource::Diff(outcomes[i].patch.clone().expect("has patch")),
            )
        })
        .collect();
    if let (false, Some(b)) = (cands.is_empty(), best) {
        cands.push(Candidate::new(
            "best-so-far",
            PatchSource::Diff(b.patch.clone()),
        ));
    }
    let mut v = RoundVerification {
        with_patch,
        evals: vec![None; cfg.k],
        best_eval: None,
        error: None,
    };
    if cands.is_empty() {
        return v;
    }
    if let Some(p) = &cfg.progress {
        p(&format!(
            "verifying {} candidate(s) in one session",
            cands.len()
        ));
    }
    match optagent_eval::evaluate(&cfg.task, &cands, sel).await {
        Ok(reports) => {
            for (j, r) in reports.into_iter().enumerate() {
                match v.with_patch.get(j) {
                    Some(&i) => v.evals[i] = Some(r),
                    None => v.best_eval = Some(r),
                }
            }
        }
        Err(EvalError::Skipped(why)) => v.error = Some(format!("skipped: {why}")),
        Err(e) => v.error = Some(e.to_string()),
    }
    if !cfg.keep_trees {
        let _ = std::fs::remove_dir_all(&sel.work_dir);
    }
    v
}

/// The optional judge reads every correct candidate before selection: a hack it finds is an
/// integrity flag, and a flagged candidate is never selected.
async fn judge_round(
    cfg: &SolveConfig,
    first: usize,
    outcomes: &[RolloutOutcome],
    v: &mut RoundVerification,
) {
    let Some(judge) = &cfg.judge else {
        return;
    };
    for &i in &v.with_patch {
        let diff = outcomes[i].patch.clone().unwrap_or_default();
        if let Some(r) = v.evals[i].as_mut() {
            if let Some(verdict) = judge.judge_report(&cfg.task, &diff, r).await {
                if let Some(p) = &cfg.progress {
                    p(&format!("[r{}] {}", first + i, verdict.summary()));
                }
            }
        }
    }
}

/// Selection over the round's verified candidates and the best so far (last); a rollout that
/// wins becomes the best so far.
fn select_round(
    first: usize,
    outcomes: &[RolloutOutcome],
    v: &RoundVerification,
    best: &mut Option<Best>,
) -> RoundPick {
    let scored: Vec<usize> = v
        .with_patch
        .iter()
        .copied()
        .filter(|&i| v.evals[i].is_some())
        .collect();
    let mut reports: Vec<EvalReport> = scored
        .iter()
        .map(|&i| v.evals[i].clone().expect("scored"))
        .collect();
    if let Some(e) = &v.best_eval {
        reports.push(e.clone());
    }
    let selection = select_best(&reports);
    let mut pick = RoundPick {
        scored,
        choices: selection.choices,
        selected: None,
        replaced: false,
        note: String::new(),
    };
    match selection.best {
        Some(j) if j < pick.scored.len() => {
            let i = pick.scored[j];
            pick.selected = Some(first + i);
            pick.replaced = true;
            *best = Some(Best {
                patch: outcomes[i].patch.clone().expect("has patch"),
                eval: v.evals[i].clone().expect("scored"),
                source: format!("rollout {}", first + i),
                rollout: Some(first + i),
                merge: None,
            });
        }
        Some(_) => {
            pick.note = "the best so far beat every rollout of this round in its session".into();
        }
        None if best.is_some() => {
            pick.note =
                "no candidate of this round was verified faster: the best so far stays".into();
        }
        None => pick.note = "no verified speedup".into(),
    }
    pick
}

/// Each rollout of the round as the report shows it, with selection's verdict on it.
fn record_rollouts(
    cfg: &SolveConfig,
    round: usize,
    first: usize,
    outcomes: Vec<RolloutOutcome>,
    v: &RoundVerification,
    pick: &RoundPick,
    st: &mut SolveState,
) {
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let choice = match (
            v.with_patch.contains(&i),
            pick.scored.iter().position(|&x| x == i),
        ) {
            (false, _) => Choice::NoPatch,
            (true, Some(j)) => pick.choices[j].clone(),
            (true, None) => {
                Choice::Incorrect(v.error.clone().unwrap_or_else(|| "not verified".into()))
            }
        };
        st.rollouts.push(RolloutSummary {
            index: first + i,
            seed: cfg.seed + (first + i) as i64,
            round,
            strategy: cfg
                .diversify
                .then(|| strategy(cfg.seed + (first + i) as i64).0),
            outcome,
            choice,
            eval: v.evals[i].clone(),
        });
    }
    if v.error.is_some() {
        st.verification_error = v.error.clone();
    }
}

/// `--merge`: merge the round's verified candidates (the selected one and those that lost only
/// by being slower) and verify the merge against its parts; a merge that wins replaces the best.
async fn merge_round(
    cfg: &SolveConfig,
    sel: &EvalOptions,
    round: usize,
    rounds: usize,
    pick: &mut RoundPick,
    st: &mut SolveState,
) {
    let first = round * cfg.k;
    let offered: Vec<Verified> = st.rollouts[first..]
        .iter()
        .filter(|r| matches!(r.choice, Choice::Selected | Choice::Slower(_)))
        .filter_map(|r| {
            Some(Verified {
                rollout: r.index,
                patch: r.outcome.patch.clone()?,
                eval: r.eval.clone()?,
            })
        })
        .collect();
    let mut m = merge_verified(
        &cfg.task,
        &offered,
        sel,
        &round_dir(cfg, "merge", round, rounds),
        cfg.keep_trees,
    )
    .await;
    m.round = round;
    if let Some(w) = m.selected {
        // A merge of this round replaces the best only where this round's single patch already
        // did (the merge session compares it with its parts, not with earlier rounds' best).
        match pick.selected {
            Some(s) => {
                let c = &m.merged[w];
                let e = c.eval.clone().expect("a selected merge was verified");
                st.rollouts[s].choice = Choice::Slower(format!(
                    "the merged patch of rollouts {} is faster: {:.3}x (second session)",
                    join(&c.from),
                    Figure(e.speedup)
                ));
                st.best = Some(Best {
                    patch: c.patch.clone(),
                    eval: e,
                    source: format!("the merged patch of rollouts {}", join(&c.from)),
                    rollout: None,
                    merge: Some(st.merges.len()),
                });
                pick.replaced = true;
            }
            None => {
                m.merged[w].outcome = MergeOutcome::Lost(
                    "it beat its parts, but they did not beat the best patch of an earlier round"
                        .into(),
                );
                m.selected = None;
            }
        }
    }
    st.merges.push(m);
}

/// A rollout that won its round but was later beaten says so.
fn mark_beaten_by_later_rounds(st: &mut SolveState) {
    let selected = st.best.as_ref().and_then(|b| b.rollout);
    for rr in &st.round_results {
        for &i in &rr.rollouts {
            if st.rollouts[i].choice == Choice::Selected && Some(i) != selected {
                st.rollouts[i].choice = Choice::Slower(format!(
                    "a later round's patch is faster ({})",
                    st.best.as_ref().map(|b| b.source.as_str()).unwrap_or("")
                ));
            }
        }
    }
}

/// The report of the rounds, with the best patch written to `best.diff`.
fn finish_report(
    cfg: &SolveConfig,
    st: SolveState,
    rounds: usize,
    started: std::time::Instant,
) -> SolveReport {
    let best_patch_path = st.best.as_ref().and_then(|b| {
        let p = cfg.out_dir.join("best.diff");
        std::fs::write(&p, &b.patch).ok().map(|_| p)
    });
    SolveReport {
        task: cfg.task.id().to_string(),
        model: cfg.model.info().id.clone(),
        k: cfg.k,
        rounds,
        total_cost_usd: st.rollouts.iter().map(|r| r.outcome.cost_usd).sum(),
        total_tokens: st
            .rollouts
            .iter()
            .map(|r| r.outcome.usage.prompt_tokens + r.outcome.usage.completion_tokens)
            .sum(),
        selected: st.best.as_ref().and_then(|b| b.rollout),
        selected_merge: st.best.as_ref().and_then(|b| b.merge),
        rollouts: st.rollouts,
        best_patch_path,
        wall_s: started.elapsed().as_secs_f64(),
        verification_error: st.verification_error,
        merges: st.merges,
        round_results: st.round_results,
    }
}

/// `solve-report.json` and `solve-report.md` in the output folder.
fn write_report(out_dir: &std::path::Path, report: &SolveReport) -> Result<(), SolveError> {
    let write = |name: &str, text: String| {
        let path = out_dir.join(name);
        std::fs::write(&path, text).map_err(|source| SolveError::WriteReport { path, source })
    };
    write("solve-report.json", serde_json::to_string_pretty(report)?)?;
    write("solve-report.md", render_markdown(report))
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
    render_selected(&mut s, r);
    if let Some(e) = &r.verification_error {
        let _ = writeln!(s, "Verification: {e}\n");
    }
    for ro in &r.rollouts {
        if let Some(v) = ro.eval.as_ref().and_then(JudgeVerdict::of) {
            let _ = writeln!(s, "Rollout {}: {}\n", ro.index, v.summary());
        }
    }
    render_rollout_table(&mut s, r);
    let strategies: Vec<String> = r
        .rollouts
        .iter()
        .filter_map(|ro| Some(format!("rollout {} {}", ro.index, ro.strategy.as_deref()?)))
        .collect();
    if !strategies.is_empty() {
        let _ = writeln!(s, "\nStrategies: {}.", strategies.join(", "));
    }
    for m in &r.merges {
        render_merge(&mut s, m, r.rounds > 1);
    }
    if r.rounds > 1 {
        render_rounds(&mut s, r);
    }
    let _ = writeln!(
        s,
        "\nTotal: {} tokens, ${:.4}, {:.0}s. Trajectories: rollout-*/trajectory.jsonl",
        r.total_tokens, r.total_cost_usd, r.wall_s
    );
    s
}

/// The report's first line: the selected patch (a rollout's or a merged one) and its figures.
fn render_selected(s: &mut String, r: &SolveReport) {
    use std::fmt::Write;
    let patch = || {
        r.best_patch_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    match r.selected {
        Some(i) => {
            let e = r.rollouts[i].eval.as_ref().expect("selected has eval");
            let _ = writeln!(
                s,
                "Selected rollout {i}: speedup {:.3}x (expert {:.3}x), opt_base {}, opt_commit {}, fast_p ({}), patch {}\n",
                Figure(e.speedup),
                Figure(e.expert_speedup),
                e.opt_base,
                e.opt_commit,
                e.fast_p_now().text(),
                patch()
            );
        }
        None => match r.selected_merge.and_then(|w| r.merges.get(w)) {
            Some(m) if m.selected.is_some() => {
                let c = &m.merged[m.selected.expect("checked")];
                let e = c.eval.as_ref().expect("a selected merge has eval");
                let _ = writeln!(
                    s,
                    "Selected the merged patch of rollouts {}: speedup {:.3}x (expert {:.3}x), opt_base {}, opt_commit {}, fast_p ({}), patch {}\n",
                    join(&c.from),
                    Figure(e.speedup),
                    Figure(e.expert_speedup),
                    e.opt_base,
                    e.opt_commit,
                    e.fast_p_now().text(),
                    patch()
                );
            }
            _ => {
                let _ = writeln!(s, "No rollout produced a verified speedup.\n");
            }
        },
    }
}

/// One row per rollout: how it ended, what it cost, its verification and selection's verdict.
fn render_rollout_table(s: &mut String, r: &SolveReport) {
    use std::fmt::Write;
    let _ = writeln!(
        s,
        "| rollout | ended | steps | tokens | cost | verdict | speedup | opt_commit | selection |\n|---|---|---|---|---|---|---|---|---|"
    );
    for ro in &r.rollouts {
        let o = &ro.outcome;
        let (verdict, speedup, oc) = match &ro.eval {
            Some(e) => (
                e.verdict.as_str().to_string(),
                format!("{:.3}x", Figure(e.speedup)),
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
}

/// The rounds section (`--rounds`): what each round ended with.
fn render_rounds(s: &mut String, r: &SolveReport) {
    use std::fmt::Write;
    let _ = writeln!(s, "\n## Rounds\n");
    for rr in &r.round_results {
        let _ = writeln!(
            s,
            "- round {}: rollouts {}; best so far {}{}{}",
            rr.round + 1,
            join(&rr.rollouts),
            rr.best.as_deref().unwrap_or("none"),
            rr.best_speedup
                .map(|x| format!(" ({x:.3}x)"))
                .unwrap_or_default(),
            if rr.replaced {
                " (replaced the previous best)".to_string()
            } else if rr.note.is_empty() {
                String::new()
            } else {
                format!("; {}", rr.note)
            }
        );
    }
}

fn join(xs: &[usize]) -> String {
    xs.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join("+")
}

/// The merge section of the Markdown report.
fn render_merge(s: &mut String, m: &MergeReport, rounds: bool) {
    use std::fmt::Write;
    if rounds {
        let _ = writeln!(s, "\n## Merge (round {})\n", m.round + 1);
    } else {
        let _ = writeln!(s, "\n## Merge\n");
    }
    if let Some(n) = &m.note {
        let _ = writeln!(s, "{n}\n");
    }
    for k in &m.skipped {
        let _ = writeln!(s, "- rollout {} not merged: {}", k.rollout, k.why);
    }
    for c in &m.merged {
        let speed = c
            .eval
            .as_ref()
            .map(|e| format!("{}, {:.3}x", e.verdict.as_str(), Figure(e.speedup)))
            .unwrap_or_else(|| "not verified".into());
        let outcome = match &c.outcome {
            MergeOutcome::Selected => "selected".to_string(),
            MergeOutcome::Lost(w) => format!("lost: {w}"),
        };
        let _ = writeln!(
            s,
            "- merged patch of rollouts {} ({}): {speed}; {outcome}",
            join(&c.from),
            c.patch_path.display()
        );
    }
    if !m.rechecked.is_empty() {
        let parts: Vec<String> = m
            .rechecked
            .iter()
            .map(|r| {
                format!(
                    "rollout {} {}, {:.3}x",
                    r.rollout,
                    r.eval.verdict.as_str(),
                    Figure(r.eval.speedup)
                )
            })
            .collect();
        let _ = writeln!(s, "- in the same session: {}", parts.join("; "));
    }
    if let Some(e) = &m.verification_error {
        let _ = writeln!(s, "- second session: {e}");
    }
}
