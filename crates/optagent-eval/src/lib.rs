//! The evaluator: the ground truth every other part of optagent stands on.
//!
//! [`evaluate`] takes a task and candidate patches and, in one session, prepares a tree for the
//! baseline, the expert and each candidate ([`prepare`]), checks correctness (patch, build, tests,
//! result equivalence), measures every workload with fresh processes interleaved in rotating order
//! ([`measure`]), and scores each candidate with the public benchmarks' rules ([`score`]).
//! [`render`] prints the readable table. [`taskbox`] opens the sandbox of a task's tree.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod calibrate;
pub mod clock;
pub mod equiv;
pub mod fast_p;
pub mod gso;
pub mod guard;
pub mod integrity;
pub mod machine;
pub mod measure;
pub mod prepare;
pub mod render;
pub mod report;
pub mod runner;
pub mod score;
pub mod swefficiency;
pub mod taskbox;
pub mod value;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use optagent_sandbox::{LocalFactory, SandboxFactory};
use optagent_task::{Device, Metric, Task};

pub use fast_p::{settle, FastP};
pub use integrity::{counts_for_opt, is_verified, reaches_expert, Flag, FlagKind, Integrity};
pub use report::{EvalReport, Verdict, WorkloadReport};

/// Which patch a candidate is.
#[derive(Debug, Clone)]
pub enum PatchSource {
    /// The task's expert change.
    Oracle,
    /// No change at all (the A/A control).
    Nop,
    /// A unified diff.
    Diff(String),
}

/// One patch to score.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub label: String,
    pub patch: PatchSource,
}

impl Candidate {
    pub fn new(label: impl Into<String>, patch: PatchSource) -> Self {
        Candidate {
            label: label.into(),
            patch,
        }
    }
}

/// Keep measuring until the speedup's interval is tight enough, within a budget.
#[derive(Debug, Clone)]
pub struct Adaptive {
    pub min_reps: usize,
    pub max_reps: usize,
    /// Stop when every candidate's (and the expert's) speedup interval half-width, relative to
    /// the estimate, is at most this.
    pub target_rel_halfwidth: f64,
    /// Wall-clock budget per workload for all its timed runs together.
    pub budget: Duration,
}

impl Default for Adaptive {
    fn default() -> Self {
        Adaptive {
            min_reps: 5,
            max_reps: 40,
            target_rel_halfwidth: 0.02,
            budget: Duration::from_secs(60),
        }
    }
}

/// Which workloads an evaluation measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadSet {
    All,
    Visible,
}

/// Progress lines for a person watching (the CLI prints them; tests ignore them).
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// How to evaluate.
#[derive(Clone)]
pub struct EvalOptions {
    /// Timed repetitions per workload and tree (default: the task's `measure.reps`).
    pub reps: Option<usize>,
    pub warmup: Option<usize>,
    /// GSO's `opt_commit` threshold.
    pub p: f64,
    /// Significance level of the Mann-Whitney U test.
    pub alpha: f64,
    /// Confidence of the bootstrap intervals.
    pub confidence: f64,
    /// Improvement/regression threshold (0.05 = 5%).
    pub threshold: f64,
    /// Override the task's metric.
    pub metric: Option<Metric>,
    pub workloads: WorkloadSet,
    /// Only workloads whose name contains one of these (empty: all).
    pub workload_filter: Vec<String>,
    /// Where trees are made.
    pub work_dir: PathBuf,
    pub sandbox: Arc<dyn SandboxFactory>,
    /// CPUs measured processes are pinned to (`None`: chosen from the machine; empty: none).
    pub pin_cpus: Option<Vec<usize>>,
    pub adaptive: Option<Adaptive>,
    /// Held around every measured run, so measurements of parallel rollouts never overlap.
    pub measure_lock: Option<Arc<tokio::sync::Mutex<()>>>,
    pub progress: Option<Progress>,
    pub seed: u64,
    /// `OPTAGENT_SEED` for the workloads: `None` (verification) picks a fresh one per session,
    /// never [`runner::BENCH_SEED`]; the agent's bench tool sets `Some(BENCH_SEED)`.
    pub workload_seed: Option<u64>,
    /// Ask the backend for a read-only tree in measured runs (the tree check runs wherever it
    /// is not granted). Off only to test the check itself.
    pub read_only_tree: bool,
    /// Run a `device = "cuda"` task where no GPU is found, on the CPU: its commands get
    /// `OPTAGENT_DEVICE=cpu` (the timing harness then times on the host and says so). Without
    /// it such a task is [`EvalError::Skipped`].
    pub cpu_fallback: bool,
    /// The clock that decides workload times (`None`: the task's `measure.clock`, `auto` by
    /// default; see [`clock::choose`]).
    pub clock: Option<optagent_task::Clock>,
    /// Run more rounds of a workload whose clock check cannot yet decide a claimed saving
    /// ([`measure::CLOCK_ROUNDS_FACTOR`]; within the adaptive bounds when those are set). On by
    /// default; off only where a test needs an exact count of runs.
    pub clock_rounds: bool,
}

impl std::fmt::Debug for EvalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalOptions")
            .field("reps", &self.reps)
            .field("metric", &self.metric)
            .field("work_dir", &self.work_dir)
            .field("sandbox", &self.sandbox.kind())
            .finish_non_exhaustive()
    }
}

impl EvalOptions {
    pub fn new(work_dir: PathBuf) -> Self {
        EvalOptions {
            reps: None,
            warmup: None,
            p: 0.95,
            alpha: 0.01,
            confidence: 0.95,
            threshold: 0.05,
            metric: None,
            workloads: WorkloadSet::All,
            workload_filter: vec![],
            work_dir,
            sandbox: Arc::new(LocalFactory),
            pin_cpus: None,
            adaptive: None,
            measure_lock: None,
            progress: None,
            seed: 0x5eed,
            workload_seed: None,
            read_only_tree: true,
            clock_rounds: true,
            cpu_fallback: false,
            clock: None,
        }
    }

    pub(crate) fn say(&self, line: &str) {
        tracing::info!("{line}");
        if let Some(p) = &self.progress {
            p(line);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The task cannot run here (a CUDA task without a GPU); not a failure of the patch.
    #[error("skipped: {0}")]
    Skipped(String),
    /// The task itself is broken: its baseline or expert does not build, pass or run.
    #[error("task {task}: {message}")]
    TaskBroken { task: String, message: String },
    #[error("{0}")]
    Tree(#[from] optagent_task::TreeError),
    #[error("{0}")]
    Sandbox(#[from] optagent_sandbox::SandboxError),
    #[error("{0}")]
    Other(String),
}

/// `task` as it runs here: a `device = "cuda"` task gets `OPTAGENT_DEVICE=cuda` in every command
/// where a GPU is found (so a harness that cannot see it fails instead of timing the CPU), and
/// `OPTAGENT_DEVICE=cpu` without one when `opts.cpu_fallback` allows it; otherwise it is skipped.
/// A task's own `[env] OPTAGENT_DEVICE` is kept.
pub fn device_task(task: &Task, opts: &EvalOptions) -> Result<Task, EvalError> {
    let mut t = task.clone();
    if task.spec.device != Device::Cuda {
        return Ok(t);
    }
    let dev = match machine::cuda_available() {
        Ok(()) => "cuda",
        Err(_) if opts.cpu_fallback => {
            opts.say(&format!(
                "task {}: no CUDA GPU here; running on the CPU (--cpu-fallback): these are not GPU \
                 figures",
                task.id()
            ));
            "cpu"
        }
        Err(why) => {
            return Err(EvalError::Skipped(format!(
                "task {} needs a CUDA GPU and none was found here ({why}); --cpu-fallback runs it \
                 on the CPU",
                task.id()
            )))
        }
    };
    t.spec
        .env
        .entry("OPTAGENT_DEVICE".into())
        .or_insert_with(|| dev.into());
    Ok(t)
}

/// Evaluate candidates against the task's baseline and expert in one interleaved session.
pub async fn evaluate(
    task: &Task,
    candidates: &[Candidate],
    opts: &EvalOptions,
) -> Result<Vec<EvalReport>, EvalError> {
    let started = Instant::now();
    let task = &device_task(task, opts)?;
    let metric = opts.metric.unwrap_or(task.spec.metric);
    if metric == Metric::Instructions && task.spec.device == Device::Cuda {
        return Err(EvalError::Other(
            "metric \"instructions\" counts CPU instructions and cannot measure a CUDA task".into(),
        ));
    }
    let workloads = measure::select_workloads(task, opts);
    if workloads.is_empty() {
        return Err(EvalError::Other(format!(
            "no workload of task {} matches the filter {:?}",
            task.id(),
            opts.workload_filter
        )));
    }
    let machine_start = machine::MachineState::now();
    let prepared = prepare::prepare_all(task, candidates, opts).await?;
    let session = match measure::run_session(task, &workloads, &prepared, metric, opts).await {
        Ok(s) => s,
        Err(e) => {
            prepare::close_all(&prepared).await;
            return Err(e);
        }
    };
    let machine_end = machine::MachineState::now();
    let total_wall = started.elapsed();
    let mut reports = score::score_all(
        task,
        &workloads,
        &prepared,
        &session,
        metric,
        opts,
        score::SessionFacts {
            machine_start,
            machine_end,
            total_wall,
        },
    );
    let names: Vec<String> = workloads.iter().map(|w| w.name.clone()).collect();
    let slots = prepared
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p.role, prepare::Role::Candidate(_)));
    for (report, (slot, p)) in reports.iter_mut().zip(slots) {
        integrity::apply(
            report,
            slot,
            &names,
            &session,
            &p.patch,
            &task.spec.protected,
            opts.confidence,
            opts.seed,
        );
    }
    prepare::close_all(&prepared).await;
    Ok(reports)
}
