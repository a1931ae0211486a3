//! `optagent sweep`: models x tasks x K x budgets. Each finished rollout is verified by the
//! evaluator and appended to `results.jsonl` at once; a killed sweep, run again, skips every
//! rollout already recorded. Concurrency is limited per provider and overall; measurements never
//! overlap; a spending cap stops new rollouts from starting, and those running finish.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::sweep_config::{BudgetSpec, ConfigError, SweepConfig};
use optagent_agent::trajectory::Redactor;
use optagent_agent::{Budget, EndReason, RolloutConfig};
use optagent_eval::{Candidate, EvalOptions, PatchSource, WorkloadSet};
use optagent_model::{ChatModel, ModelError, ModelOptions};
use optagent_report::record::{
    append_record, completed_keys, read_sweep_records, results_path, write_record_file, Placement,
    RecordKey, RolloutRecord, RolloutStatus,
};
use optagent_report::ReportError;
use optagent_sandbox::SandboxFactory;
use optagent_task::{Task, TaskError};

use optagent_report::modes::{
    append_mode_record, mode_summaries, modes_markdown, modes_path, read_mode_records, ModeRecord,
};

use crate::lock::{LockError, OutputLock};
use crate::solve::{SolveConfig, SolveError, SolveReport};

/// What the sweep tells its watcher.
#[derive(Debug, Clone)]
pub enum SweepEvent {
    /// The plan: rollouts in all, already done, to run now.
    Planned {
        total: usize,
        done: usize,
        todo: usize,
        spent_usd: f64,
    },
    Started {
        key: RecordKey,
    },
    Finished {
        key: RecordKey,
        status: RolloutStatus,
        opt_commit: bool,
        cost_usd: f64,
        spent_usd: f64,
    },
    /// The spending cap was reached: no more rollouts start.
    CapReached {
        spent_usd: f64,
        cap_usd: f64,
    },
    Line(String),
}

pub type Watcher = Arc<dyn Fn(SweepEvent) + Send + Sync>;

/// Why a sweep (or one cell of it) could not run or record its results. A rollout that fails is
/// not one of these: it is recorded with status `error` and runs again on resume.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("creating {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Reading or writing the records and the report of the output folder.
    #[error(transparent)]
    Records(#[from] ReportError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error("model {model}: {source}")]
    Model {
        model: String,
        #[source]
        source: ModelError,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("serializing the modes table: {0}")]
    SerializeModes(#[from] serde_json::Error),
    /// A solve of a modes sweep.
    #[error(transparent)]
    Solve(#[from] SolveError),
    #[error("the sweep has no rollout {key:?} (was its config changed?)")]
    NoSuchCell { key: RecordKey },
}

fn create_dir(path: &Path) -> Result<(), SweepError> {
    std::fs::create_dir_all(path).map_err(|source| SweepError::CreateDir {
        path: path.to_path_buf(),
        source,
    })
}

#[derive(Clone)]
pub struct SweepOptions {
    pub config: SweepConfig,
    /// Overrides for opening every model (a --base-url, a config file).
    pub model_opts: ModelOptions,
    pub sandbox: Arc<dyn SandboxFactory>,
    /// The agent's bench.
    pub bench: EvalOptions,
    /// Verification of each rollout's patch (all workloads).
    pub verify: EvalOptions,
    pub watcher: Option<Watcher>,
    /// Variables whose values must never be written (the providers' key variables).
    pub secret_vars: Vec<String>,
    /// The optional LLM judge, asked about every correct patch after verification.
    pub judge: Option<optagent_agent::judge::Judge>,
}

/// How a sweep run ended.
#[derive(Debug, Clone)]
pub struct SweepOutcome {
    pub results: PathBuf,
    pub ran: usize,
    pub skipped_done: usize,
    pub not_started_cap: usize,
    pub spent_usd: f64,
    pub report_dir: PathBuf,
    /// Rollouts run now that ended in a model error (the provider failed or refused every
    /// call): when it equals `ran` (and `ran > 0`) no rollout could run to an end of its own.
    pub model_errors: usize,
}

pub(crate) struct Job {
    pub task: Arc<Task>,
    pub model_idx: usize,
    pub budget: BudgetSpec,
    pub rollout: usize,
    pub key: RecordKey,
}

fn budget_of(b: &BudgetSpec) -> Budget {
    Budget {
        max_steps: b.max_steps,
        max_tokens: b.max_tokens,
        max_cost_usd: b.max_cost_usd,
        max_wall: b.max_wall_s.map(Duration::from_secs_f64),
    }
}

/// What a sweep has to do, worked out from its config and the records already written.
pub(crate) struct Prepared {
    pub out: PathBuf,
    pub tasks: Vec<Arc<Task>>,
    pub models: Vec<Arc<dyn ChatModel>>,
    /// Every rollout of the sweep, in a fixed order (budget, model, task, rollout index).
    pub cells: Vec<Job>,
    /// Keys recorded as finished (an errored rollout is not finished: it runs again).
    pub done: HashSet<RecordKey>,
    /// Dollars spent by every record so far (errored and superseded ones too: that money is gone).
    pub spent0: f64,
}

/// Loads the tasks and models and reads the records of the output folder (`results.jsonl` and
/// the per-rollout files of a cluster sweep).
pub(crate) fn prepare(opts: &SweepOptions) -> Result<Prepared, SweepError> {
    let cfg = &opts.config;
    let out = cfg.output_dir();
    create_dir(&out)?;
    let existing = read_sweep_records(&out)?;
    // Rollouts that ended in an error (a provider outage, a crash) are run again on resume;
    // their new record supersedes the old one (the later one wins when results are read).
    let finished: Vec<RolloutRecord> = existing
        .iter()
        .filter(|r| r.status != RolloutStatus::Error)
        .cloned()
        .collect();
    let done: HashSet<RecordKey> = completed_keys(&finished);
    let spent0: f64 = existing.iter().map(|r| r.cost_usd).sum();

    let mut tasks = vec![];
    for dir in cfg.task_dirs() {
        tasks.push(Arc::new(Task::load(&dir)?));
    }
    let mut models: Vec<Arc<dyn ChatModel>> = vec![];
    for m in &cfg.models {
        models.push(
            optagent_model::open_model(&m.model, &opts.model_opts).map_err(|source| {
                SweepError::Model {
                    model: m.model.clone(),
                    source,
                }
            })?,
        );
    }
    let mut cells = vec![];
    for budget in &cfg.budgets {
        for (mi, m) in cfg.models.iter().enumerate() {
            for t in &tasks {
                for r in 0..cfg.k {
                    let key = (
                        t.id().to_string(),
                        m.model.clone(),
                        cfg.agent.clone(),
                        budget.label.clone(),
                        r,
                    );
                    cells.push(Job {
                        task: t.clone(),
                        model_idx: mi,
                        budget: budget.clone(),
                        rollout: r,
                        key,
                    });
                }
            }
        }
    }
    Ok(Prepared {
        out,
        tasks,
        models,
        cells,
        done,
        spent0,
    })
}

/// Run (or resume) a sweep here.
pub async fn sweep(opts: SweepOptions) -> Result<SweepOutcome, SweepError> {
    let cfg = &opts.config;
    let say = |e: SweepEvent| {
        if let Some(w) = &opts.watcher {
            w(e);
        }
    };
    let out = cfg.output_dir();
    create_dir(&out)?;
    // Held until the sweep returns: one sweep per output folder.
    let _lock = OutputLock::acquire(&out)?;
    if !cfg.modes.is_empty() {
        return sweep_modes(&opts, &say, &out).await;
    }
    let results = results_path(&out);
    let Prepared {
        tasks,
        models,
        cells,
        done,
        spent0,
        ..
    } = prepare(&opts)?;
    let total = cells.len();
    let jobs: Vec<Job> = cells
        .into_iter()
        .filter(|c| !done.contains(&c.key))
        .collect();
    let skipped_done = total - jobs.len();
    say(SweepEvent::Planned {
        total,
        done: skipped_done,
        todo: jobs.len(),
        spent_usd: spent0,
    });
    let shared = Shared {
        opts: opts.clone(),
        out: out.clone(),
        results: results.clone(),
        overall: Arc::new(tokio::sync::Semaphore::new(cfg.concurrency.max(1))),
        measure_lock: Arc::new(tokio::sync::Mutex::new(())),
        spent: Arc::new(Mutex::new(spent0)),
        write_lock: Arc::new(Mutex::new(())),
    };
    let provider_sems = provider_semaphores(cfg);
    let mut set = tokio::task::JoinSet::new();
    for job in jobs {
        let m = &cfg.models[job.model_idx];
        let model = models[job.model_idx].clone();
        let psem = provider_sems[m.provider()].clone();
        set.spawn(run_queued(shared.clone(), job, model, m.temperature, psem));
    }
    let (ran, capped, model_errors) =
        collect_jobs(set, &say, &shared.spent, cfg.max_cost_usd).await;
    let task_ids: Vec<String> = tasks.iter().map(|t| t.id().to_string()).collect();
    let report_dir = write_sweep_report(&out, &task_ids, cfg.k)?;
    let spent_usd = *shared.spent.lock().unwrap_or_else(|e| e.into_inner());
    Ok(SweepOutcome {
        results,
        ran,
        skipped_done,
        not_started_cap: capped,
        spent_usd,
        report_dir,
        model_errors,
    })
}

/// What every rollout of a running sweep shares.
#[derive(Clone)]
struct Shared {
    opts: SweepOptions,
    out: PathBuf,
    /// `results.jsonl`.
    results: PathBuf,
    /// The sweep's overall concurrency.
    overall: Arc<tokio::sync::Semaphore>,
    /// Measurements never overlap.
    measure_lock: Arc<tokio::sync::Mutex<()>>,
    /// Dollars spent so far (the records before this run included).
    spent: Arc<Mutex<f64>>,
    /// One append to `results.jsonl` at a time.
    write_lock: Arc<Mutex<()>>,
}

/// One semaphore per provider, sized by the smallest limit any of its models asks for (the
/// sweep's concurrency when none does).
fn provider_semaphores(cfg: &SweepConfig) -> BTreeMap<String, Arc<tokio::sync::Semaphore>> {
    let mut per_provider: BTreeMap<String, usize> = BTreeMap::new();
    for m in &cfg.models {
        let lim = m.max_concurrency.unwrap_or(cfg.concurrency).max(1);
        let e = per_provider.entry(m.provider().to_string()).or_insert(lim);
        *e = (*e).min(lim);
    }
    per_provider
        .into_iter()
        .map(|(p, n)| (p, Arc::new(tokio::sync::Semaphore::new(n))))
        .collect()
}

/// One rollout of the sweep once the overall and its provider's limits let it start: `Err`
/// with its key when the spending cap was reached first (nothing run), else whether it ended in
/// a model error. Its record is appended to `results.jsonl`.
async fn run_queued(
    sh: Shared,
    job: Job,
    model: Arc<dyn ChatModel>,
    temperature: Option<f64>,
    provider: Arc<tokio::sync::Semaphore>,
) -> Result<bool, RecordKey> {
    let _g1 = sh.overall.clone().acquire_owned().await.expect("open");
    let _g2 = provider.acquire_owned().await.expect("open");
    let before = *sh.spent.lock().unwrap_or_else(|e| e.into_inner());
    if before >= sh.opts.config.max_cost_usd {
        return Err(job.key);
    }
    if let Some(w) = &sh.opts.watcher {
        w(SweepEvent::Started {
            key: job.key.clone(),
        });
    }
    let (rec, model_error) = run_job(
        &sh.opts,
        &job,
        model,
        temperature,
        &sh.out,
        sh.measure_lock.clone(),
    )
    .await;
    let now = {
        let mut s = sh.spent.lock().unwrap_or_else(|e| e.into_inner());
        *s += rec.cost_usd;
        *s
    };
    {
        let _w = sh.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = append_record(&sh.results, &rec) {
            tracing::error!(error = %e, "cannot append a result");
        }
    }
    if let Some(w) = &sh.opts.watcher {
        w(SweepEvent::Finished {
            key: job.key.clone(),
            status: rec.status,
            opt_commit: rec.succeeded(),
            cost_usd: rec.cost_usd,
            spent_usd: now,
        });
    }
    Ok(model_error)
}

/// Waits for every rollout of the sweep: (ran, not started for the cap, ended in a model error).
/// The first rollout refused for the cap says so once.
async fn collect_jobs(
    mut set: tokio::task::JoinSet<Result<bool, RecordKey>>,
    say: &dyn Fn(SweepEvent),
    spent: &Mutex<f64>,
    cap: f64,
) -> (usize, usize, usize) {
    let (mut ran, mut capped, mut model_errors) = (0, 0, 0);
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(model_error)) => {
                ran += 1;
                model_errors += usize::from(model_error);
            }
            Ok(Err(_)) => {
                capped += 1;
                if capped == 1 {
                    say(SweepEvent::CapReached {
                        spent_usd: *spent.lock().unwrap_or_else(|e| e.into_inner()),
                        cap_usd: cap,
                    });
                }
            }
            Err(e) => {
                // A crash outside the rollout (in verification): nothing recorded for it, so a
                // resumed sweep runs it again; the others go on.
                say(SweepEvent::Line(format!("a rollout's task failed: {e}")));
            }
        }
    }
    (ran, capped, model_errors)
}

/// Writes `<out>/report/` from every record of the folder: the report of the rollout records
/// (`report.md` and the rest), and with mode records (`modes.jsonl`) the modes table
/// (`modes.md`, `modes.json`).
pub fn write_sweep_report(
    out: &Path,
    task_ids: &[String],
    k: usize,
) -> Result<PathBuf, SweepError> {
    let records = read_sweep_records(out)?;
    let report_dir = out.join("report");
    let mode_records = read_mode_records(&modes_path(out))?;
    if !records.is_empty() || mode_records.is_empty() {
        optagent_report::render::write_report(&records, task_ids, k, &report_dir)?;
    }
    if !mode_records.is_empty() {
        create_dir(&report_dir)?;
        let summaries = mode_summaries(&mode_records, task_ids);
        let write = |path: PathBuf, text: String| {
            std::fs::write(&path, text).map_err(|source| SweepError::Write { path, source })
        };
        write(report_dir.join(MODES_MD), modes_markdown(&summaries))?;
        write(
            report_dir.join("modes.json"),
            serde_json::to_string_pretty(&summaries)?,
        )?;
    }
    Ok(report_dir)
}

/// The modes table's file in the report folder.
pub const MODES_MD: &str = "modes.md";

/// A modes sweep (`modes = [...]`): one `solve` per (budget, model, task, mode), each recorded
/// in `modes.jsonl` as it finishes; a resumed sweep skips the solves recorded. The spending cap
/// is checked before each solve starts. Called by [`sweep`] with the output folder locked.
async fn sweep_modes(
    opts: &SweepOptions,
    say: &dyn Fn(SweepEvent),
    out: &Path,
) -> Result<SweepOutcome, SweepError> {
    let cfg = &opts.config;
    let Prepared { tasks, models, .. } = prepare(opts)?;
    let path = modes_path(out);
    let existing = read_mode_records(&path)?;
    let done: HashSet<_> = existing.iter().map(|r| r.key()).collect();
    let mut spent: f64 = existing.iter().map(|r| r.cost_usd).sum();
    let plan = modes_plan(cfg, &tasks);
    let total = plan.len();
    let todo: Vec<ModeCell> = plan
        .into_iter()
        .filter(|p| !done.contains(&p.key))
        .collect();
    let skipped_done = total - todo.len();
    say(SweepEvent::Planned {
        total,
        done: skipped_done,
        todo: todo.len(),
        spent_usd: spent,
    });
    let (mut ran, mut capped, mut model_errors) = (0, 0, 0);
    for cell in todo {
        if spent >= cfg.max_cost_usd {
            if capped == 0 {
                say(SweepEvent::CapReached {
                    spent_usd: spent,
                    cap_usd: cfg.max_cost_usd,
                });
            }
            capped += 1;
            continue;
        }
        let key = &cell.key;
        let rkey: RecordKey = (
            key.0.clone(),
            key.1.clone(),
            format!("{}+{}", key.2, key.4),
            key.3.clone(),
            0,
        );
        say(SweepEvent::Started { key: rkey.clone() });
        let run_dir = out
            .join("runs")
            .join(optagent_task::tree::path_component(&key.0))
            .join(optagent_task::tree::path_component(&key.1))
            .join(optagent_task::tree::path_component(&key.3))
            .join(optagent_task::tree::path_component(&key.4));
        // A solve killed midway left its folder: start it afresh.
        let _ = std::fs::remove_dir_all(&run_dir);
        let sc = mode_solve_config(opts, &cell, models[cell.model_idx].clone(), &run_dir);
        let report = crate::solve::solve(sc).await?;
        let rec = mode_record(
            cfg,
            key,
            &report,
            &rel(out, &run_dir.join("solve-report.json")),
        );
        spent += rec.cost_usd;
        append_mode_record(&path, &rec)?;
        ran += 1;
        let errors = report
            .rollouts
            .iter()
            .filter(|r| matches!(r.outcome.end, EndReason::ModelError(_)))
            .count();
        model_errors += usize::from(errors == report.rollouts.len() && errors > 0);
        say(SweepEvent::Finished {
            key: rkey,
            status: if rec.selected.is_some() {
                RolloutStatus::Submitted
            } else {
                RolloutStatus::NoPatch
            },
            opt_commit: rec.any_succeeded,
            cost_usd: rec.cost_usd,
            spent_usd: spent,
        });
    }
    let task_ids: Vec<String> = tasks.iter().map(|t| t.id().to_string()).collect();
    let report_dir = write_sweep_report(out, &task_ids, cfg.k)?;
    Ok(SweepOutcome {
        results: path,
        ran,
        skipped_done,
        not_started_cap: capped,
        spent_usd: spent,
        report_dir,
        model_errors,
    })
}

/// The key of a mode record: (task, model, agent, budget, mode).
type ModeKey = (String, String, String, String, String);

/// One solve of a modes sweep.
struct ModeCell {
    budget: BudgetSpec,
    model_idx: usize,
    task: Arc<Task>,
    mode: optagent_report::modes::Mode,
    key: ModeKey,
}

/// Every solve of a modes sweep, in a fixed order (budget, model, task, mode).
fn modes_plan(cfg: &SweepConfig, tasks: &[Arc<Task>]) -> Vec<ModeCell> {
    let modes = cfg.parsed_modes();
    let mut plan = vec![];
    for budget in &cfg.budgets {
        for (mi, m) in cfg.models.iter().enumerate() {
            for t in tasks {
                for mode in &modes {
                    let key = (
                        t.id().to_string(),
                        m.model.clone(),
                        cfg.agent.clone(),
                        budget.label.clone(),
                        mode.label(),
                    );
                    plan.push(ModeCell {
                        budget: budget.clone(),
                        model_idx: mi,
                        task: t.clone(),
                        mode: *mode,
                        key,
                    });
                }
            }
        }
    }
    plan
}

/// How one solve of a modes sweep runs: the sweep's K, concurrency and verification, and the
/// mode's merge, rounds and diversity, into `run_dir`.
fn mode_solve_config(
    opts: &SweepOptions,
    cell: &ModeCell,
    model: Arc<dyn ChatModel>,
    run_dir: &Path,
) -> SolveConfig {
    let cfg = &opts.config;
    let progress = opts.watcher.clone().map(|w| {
        let f: crate::solve::Progress = Arc::new(move |l: &str| w(SweepEvent::Line(l.to_string())));
        f
    });
    SolveConfig {
        task: (*cell.task).clone(),
        model,
        k: cfg.k,
        parallel: cfg.concurrency,
        budget: budget_of(&cell.budget),
        temperature: cfg.models[cell.model_idx].temperature.map(|t| t as f32),
        seed: 0,
        out_dir: run_dir.to_path_buf(),
        sandbox: opts.sandbox.clone(),
        bench: opts.bench.clone(),
        select: opts.verify.clone(),
        progress,
        keep_trees: false,
        max_no_tool_turns: optagent_agent::turns::DEFAULT_MAX_NO_TOOL_TURNS,
        secret_vars: opts.secret_vars.clone(),
        judge: opts.judge.clone(),
        merge: cell.mode.merge,
        rounds: cell.mode.rounds,
        diversify: cell.mode.diversify,
    }
}

/// What a mode's solve of one task ended with, as a line of `modes.jsonl`.
fn mode_record(cfg: &SweepConfig, key: &ModeKey, r: &SolveReport, report_path: &str) -> ModeRecord {
    let mut evals: Vec<&optagent_eval::EvalReport> = vec![];
    let mut candidates = 0;
    for ro in &r.rollouts {
        if ro.outcome.patch.is_some() {
            candidates += 1;
        }
        evals.extend(ro.eval.as_ref());
    }
    for m in &r.merges {
        for c in &m.merged {
            candidates += 1;
            evals.extend(c.eval.as_ref());
        }
    }
    let (selected, eval) = match (r.selected, r.selected_merge) {
        (Some(i), _) => (Some(format!("rollout {i}")), r.rollouts[i].eval.clone()),
        (None, Some(w)) => {
            let m = &r.merges[w];
            let c = m.selected.map(|s| &m.merged[s]);
            (
                c.map(|c| {
                    let from: Vec<String> = c.from.iter().map(|x| x.to_string()).collect();
                    format!("the merged patch of rollouts {}", from.join("+"))
                }),
                c.and_then(|c| c.eval.clone()),
            )
        }
        (None, None) => (None, None),
    };
    ModeRecord {
        sweep: cfg.name.clone(),
        task: key.0.clone(),
        model: key.1.clone(),
        agent: key.2.clone(),
        budget: key.3.clone(),
        mode: key.4.clone(),
        k: r.k,
        rounds: r.rounds,
        rollouts: r.rollouts.len(),
        candidates,
        verified_candidates: evals
            .iter()
            .filter(|e| optagent_eval::is_verified(e))
            .count(),
        any_succeeded: evals.iter().any(|e| optagent_eval::counts_for_opt(e)),
        selected,
        eval,
        prompt_tokens: r
            .rollouts
            .iter()
            .map(|x| x.outcome.usage.prompt_tokens)
            .sum(),
        completion_tokens: r
            .rollouts
            .iter()
            .map(|x| x.outcome.usage.completion_tokens)
            .sum(),
        cost_usd: r.total_cost_usd,
        wall_s: r.wall_s,
        report_path: report_path.to_string(),
        finished_at: chrono::Utc::now().to_rfc3339(),
    }
}

/// How one cell (one rollout of a cluster sweep) ended.
#[derive(Debug, Clone)]
pub enum CellOutcome {
    /// Ran; its record was written to this file.
    Recorded {
        record: Box<RolloutRecord>,
        file: PathBuf,
    },
    /// Already finished by an earlier element: nothing run.
    AlreadyDone,
    /// The sweep's spending cap was reached before it could start: nothing run.
    CapReached { spent_usd: f64, cap_usd: f64 },
}

/// Runs one rollout of a sweep (a cluster element's job) and writes its record to a file of its
/// own ([`optagent_report::write_record_file`]): many elements on a shared filesystem never
/// append to one file. The spending cap is checked against every record written so far.
pub async fn run_cell(opts: SweepOptions, key: &RecordKey) -> Result<CellOutcome, SweepError> {
    let p = prepare(&opts)?;
    let job = p
        .cells
        .iter()
        .find(|c| &c.key == key)
        .ok_or_else(|| SweepError::NoSuchCell { key: key.clone() })?;
    if p.done.contains(key) {
        return Ok(CellOutcome::AlreadyDone);
    }
    let cap = opts.config.max_cost_usd;
    if p.spent0 >= cap {
        return Ok(CellOutcome::CapReached {
            spent_usd: p.spent0,
            cap_usd: cap,
        });
    }
    let m = &opts.config.models[job.model_idx];
    let model = p.models[job.model_idx].clone();
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    let (rec, _) = run_job(&opts, job, model, m.temperature, &p.out, lock).await;
    let file = write_record_file(&p.out, &rec)?;
    Ok(CellOutcome::Recorded {
        record: Box::new(rec),
        file,
    })
}

/// Where this process runs: the host, its allowed CPUs and the Slurm job, if any.
pub fn placement_here() -> Placement {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    Placement {
        host: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "unknown".into()),
        cpus: optagent_sandbox::available_cpus(),
        slurm_job_id: env("SLURM_JOB_ID"),
        slurm_array_job_id: env("SLURM_ARRAY_JOB_ID"),
        slurm_array_task_id: env("SLURM_ARRAY_TASK_ID").and_then(|v| v.parse().ok()),
    }
}

fn rel(out: &Path, p: &Path) -> String {
    p.strip_prefix(out)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

async fn run_job(
    opts: &SweepOptions,
    job: &Job,
    model: Arc<dyn ChatModel>,
    temperature: Option<f64>,
    out: &Path,
    measure_lock: Arc<tokio::sync::Mutex<()>>,
) -> (RolloutRecord, bool) {
    let run_dir = out
        .join("runs")
        .join(optagent_task::tree::path_component(&job.key.0))
        .join(optagent_task::tree::path_component(&job.key.1))
        .join(optagent_task::tree::path_component(&job.key.3))
        .join(format!("r{}", job.rollout));
    // A rollout killed midway left its folder: start it afresh.
    let _ = std::fs::remove_dir_all(&run_dir);
    let mut bench = opts.bench.clone();
    bench.measure_lock = Some(measure_lock.clone());
    let label = format!("{}/{}/{}/r{}", job.key.0, job.key.1, job.key.3, job.rollout);
    let progress = opts.watcher.clone().map(|w| {
        let f: optagent_agent::rollout::Progress =
            Arc::new(move |l: &str| w(SweepEvent::Line(l.to_string())));
        f
    });
    let rc = RolloutConfig {
        task: (*job.task).clone(),
        model,
        budget: budget_of(&job.budget),
        temperature: temperature.map(|t| t as f32),
        seed: Some(job.rollout as i64),
        run_dir: run_dir.clone(),
        sandbox: opts.sandbox.clone(),
        bench,
        progress,
        redactor: Redactor::from_env(&opts.secret_vars),
        max_model_errors: 3,
        max_no_tool_turns: optagent_agent::turns::DEFAULT_MAX_NO_TOOL_TURNS,
        output_budget: 16_000,
        keep_trees: false,
        label,
        start_patch: None,
        extra_prompt: None,
    };
    let o = optagent_agent::run_rollout(rc).await;
    let model_error = matches!(o.end, EndReason::ModelError(_));
    let (status, error) = match (&o.end, &o.patch) {
        (EndReason::ModelError(e), _)
        | (EndReason::SetupFailed(e), _)
        | (EndReason::Crashed(e), _)
        | (EndReason::DiffFailed(e), _) => (RolloutStatus::Error, Some(e.clone())),
        (_, Some(_)) => (RolloutStatus::Submitted, None),
        (_, None) => (RolloutStatus::NoPatch, None),
    };
    let mut eval = None;
    let mut error = error;
    if let Some(p) = &o.patch {
        let mut v = opts.verify.clone();
        v.workloads = WorkloadSet::All;
        v.sandbox = opts.sandbox.clone();
        v.measure_lock = Some(measure_lock);
        v.progress = None;
        v.work_dir = run_dir.join("verify");
        match optagent_eval::evaluate(
            &job.task,
            &[Candidate::new(
                format!("r{}", job.rollout),
                PatchSource::Diff(p.clone()),
            )],
            &v,
        )
        .await
        {
            Ok(mut r) => eval = r.pop(),
            Err(e) => error = Some(format!("verification failed: {e}")),
        }
        if let (Some(judge), Some(r)) = (&opts.judge, eval.as_mut()) {
            if let Some(v) = judge.judge_report(&job.task, p, r).await {
                if let Some(w) = &opts.watcher {
                    w(SweepEvent::Line(format!("[{}] {}", job.key.0, v.summary())));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&v.work_dir);
    }
    let flamegraphs = o
        .artifacts
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .map(|p| rel(out, p))
        .collect();
    let record = RolloutRecord {
        sweep: opts.config.name.clone(),
        task: job.key.0.clone(),
        model: job.key.1.clone(),
        agent: job.key.2.clone(),
        rollout: job.rollout,
        budget: job.key.3.clone(),
        seed: job.rollout as u64,
        status,
        error,
        patch: o.patch.clone(),
        patch_path: o.patch_path.as_ref().map(|p| rel(out, p)),
        trajectory_path: Some(rel(out, &o.trajectory_path)),
        flamegraphs,
        eval,
        prompt_tokens: o.usage.prompt_tokens,
        completion_tokens: o.usage.completion_tokens,
        cost_usd: o.cost_usd,
        wall_s: o.wall_s,
        steps: o.steps,
        finished_at: chrono::Utc::now().to_rfc3339(),
        placement: Some(placement_here()),
    };
    (record, model_error)
}
