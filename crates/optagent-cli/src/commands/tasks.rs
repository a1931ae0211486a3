//! `optagent tasks list|check`: validate one task or a whole suite, with a summary table (or JSON)
//! of which tasks are usable here and why the others are not.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use optagent_eval::render::Figure;
use optagent_eval::{Candidate, EvalError, EvalOptions, EvalReport, PatchSource, Verdict};
use optagent_task::{spec::discover, Task};

use crate::MeasureArgs;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Task folders, or folders holding task folders (a suite).
    #[arg(required = true, value_name = "TASK_OR_SUITE")]
    pub tasks: Vec<PathBuf>,
    /// Print a JSON array (one object per task: task, dir, status, reasons, figures) instead of
    /// the tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub measure: MeasureArgs,
}

pub fn list(dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let dir = dir.unwrap_or_else(|| PathBuf::from("tasks"));
    let found = discover(&dir);
    if found.is_empty() {
        anyhow::bail!("no task.toml found in {} or its subfolders", dir.display());
    }
    let mut bad = 0;
    println!(
        "{:<14} {:<6} {:<8} {:>9}  languages",
        "id", "device", "metric", "workloads"
    );
    for d in found {
        match Task::load(&d) {
            Ok(t) => println!(
                "{:<14} {:<6} {:<8} {:>4} ({} visible)  {}",
                t.id(),
                format!("{:?}", t.spec.device).to_lowercase(),
                format!("{:?}", t.spec.metric).to_lowercase(),
                t.spec.workloads.len(),
                t.visible_workloads().count(),
                t.spec.languages.join(",")
            ),
            Err(e) => {
                bad += 1;
                println!("INVALID {e}");
            }
        }
    }
    Ok(if bad > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// What `tasks check` found about one task.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Checked {
    /// The task id, or the folder's name when the spec does not load.
    pub task: String,
    pub dir: PathBuf,
    /// `ok`, `rejected` (measured, not usable as a benchmark task), `invalid` (the spec),
    /// `unusable` (its source cannot be had here), `broken` (the baseline or the expert fails),
    /// or `skipped` (needs what this machine lacks, e.g. a GPU).
    pub status: &'static str,
    pub reasons: Vec<String>,
    pub expert_speedup: Option<f64>,
    pub workloads: usize,
    pub significant_workloads: Option<usize>,
    pub nop_opt_base: Option<bool>,
    pub seconds: f64,
}

impl Checked {
    fn new(task: String, dir: PathBuf) -> Self {
        Checked {
            task,
            dir,
            status: "ok",
            reasons: vec![],
            expert_speedup: None,
            workloads: 0,
            significant_workloads: None,
            nop_opt_base: None,
            seconds: 0.0,
        }
    }
    fn usable(&self) -> bool {
        matches!(self.status, "ok" | "skipped")
    }
    /// This check, ended with `status` for `reason`.
    fn failed(mut self, status: &'static str, reason: String) -> Self {
        self.status = status;
        self.reasons.push(reason);
        self
    }
}

/// The task folders named: each argument is a task folder or a folder of them.
fn expand(paths: &[PathBuf]) -> Vec<Result<PathBuf, Checked>> {
    let mut out = vec![];
    for p in paths {
        let found = discover(p);
        if found.is_empty() {
            let mut c = Checked::new(p.display().to_string(), p.clone());
            c.status = "invalid";
            c.reasons
                .push(format!("no task.toml in {} or its subfolders", p.display()));
            out.push(Err(c));
        }
        out.extend(found.into_iter().map(Ok));
    }
    out
}

pub async fn check(a: CheckArgs) -> anyhow::Result<ExitCode> {
    let dirs = expand(&a.tasks);
    let single = dirs.len() == 1;
    let work = super::work_dir(&a.measure)?;
    let mut all = vec![];
    for d in dirs {
        let c = match d {
            Err(c) => c,
            Ok(dir) => {
                let t0 = std::time::Instant::now();
                let mut c = check_one(&a, &dir, work.path(), single).await;
                c.seconds = t0.elapsed().as_secs_f64();
                c
            }
        };
        if !a.json && !single {
            println!("== {}: {}", c.task, c.status);
        }
        all.push(c);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else if !single {
        print!("{}", summary(&all));
    } else if let Some(c) = all.first() {
        if c.status != "ok" && c.status != "rejected" {
            println!("task {} {}:", c.task, c.status.to_uppercase());
            for r in &c.reasons {
                println!("  - {r}");
            }
        }
    }
    Ok(if all.iter().all(Checked::usable) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The summary table of a suite.
pub fn summary(all: &[Checked]) -> String {
    let w = all.iter().map(|c| c.task.len()).max().unwrap_or(4).max(4);
    let mut s = format!(
        "\n{:<w$}  {:<9} {:>8} {:>9} {:>7}  reason\n",
        "task", "status", "expert", "faster", "seconds"
    );
    for c in all {
        let sp = c
            .expert_speedup
            .map(|x| format!("{x:.2}x"))
            .unwrap_or_else(|| "-".into());
        let fast = c
            .significant_workloads
            .map(|n| format!("{n}/{}", c.workloads))
            .unwrap_or_else(|| "-".into());
        let reason = c.reasons.join("; ");
        let reason: String = reason
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(160)
            .collect();
        s.push_str(&format!(
            "{:<w$}  {:<9} {:>8} {:>9} {:>7.0}  {}\n",
            c.task, c.status, sp, fast, c.seconds, reason
        ));
    }
    let ok = all.iter().filter(|c| c.status == "ok").count();
    s.push_str(&format!("{ok} of {} task(s) usable here\n", all.len()));
    s
}

/// Checks one task folder: its spec loads, its source can be found, and the expert's patch
/// (the oracle) and an empty patch (the no-op) are measured and judged.
async fn check_one(
    a: &CheckArgs,
    dir: &std::path::Path,
    work: &std::path::Path,
    verbose: bool,
) -> Checked {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    let mut c = Checked::new(name, dir.to_path_buf());
    let task = match Task::load(dir) {
        Ok(t) => t,
        Err(e) => return c.failed("invalid", e.to_string()),
    };
    c.task = task.id().to_string();
    c.workloads = task.spec.workloads.len();
    let show = verbose && !a.json;
    if show {
        println!(
            "spec ok: {} ({} workloads)",
            task.id(),
            task.spec.workloads.len()
        );
    }
    // A remote source is looked for first: a missing mirror is named before any build starts.
    if let optagent_task::spec::SourceKind::Git { repo, rev } = task.source() {
        if optagent_task::source::is_remote(&repo) {
            let sources = optagent_task::GitSources::from_env();
            if let Err(e) = optagent_task::source::resolve(&repo, &rev, &sources) {
                return c.failed("unusable", e.to_string());
            }
        }
    }
    let task_work = work.join(optagent_task::tree::path_component(task.id()));
    let opts = match super::eval_options(&a.measure, &task_work, Some(&task)).await {
        Ok(o) => o,
        Err(e) => return c.failed("unusable", crate::exit::message(&e)),
    };
    let cands = [
        Candidate::new("oracle", PatchSource::Oracle),
        Candidate::new("nop", PatchSource::Nop),
    ];
    let reports = match optagent_eval::evaluate(&task, &cands, &opts).await {
        Ok(r) => r,
        Err(EvalError::Skipped(why)) => {
            if show {
                println!("SKIPPED {}: {why}", task.id());
            }
            return c.failed("skipped", why);
        }
        Err(e) => return c.failed("broken", e.to_string()),
    };
    judge_references(&mut c, &task, &reports[0], &reports[1], &opts, show);
    c
}

/// Judges the oracle's and the no-op's reports: both must pass, the expert must be
/// significantly faster (not judged for a CUDA task run on the CPU), the no-op must not be.
/// Rejects `c` with the problems found.
fn judge_references(
    c: &mut Checked,
    task: &Task,
    oracle: &EvalReport,
    nop: &EvalReport,
    opts: &EvalOptions,
    show: bool,
) {
    if show {
        print!("{}", optagent_eval::render::table(oracle));
    }
    let mut problems = vec![];
    for (who, r) in [("oracle", oracle), ("no-op", nop)] {
        if r.verdict != Verdict::Ok {
            problems.push(format!(
                "the {who}'s verdict is {}: {}",
                r.verdict.as_str(),
                r.reason.as_deref().unwrap_or("")
            ));
        }
    }
    let sig_faster = oracle
        .workloads
        .iter()
        .filter(|w| {
            w.expert_significant && w.expert_speedup.is_some_and(|o| o >= 1.0 + opts.threshold)
        })
        .count();
    c.expert_speedup = oracle.expert_speedup;
    c.significant_workloads = Some(sig_faster);
    c.nop_opt_base = Some(nop.opt_base);
    // A CUDA task run on the CPU (--cpu-fallback): its figures are not GPU figures, and an
    // expert written for the GPU (KernelBench's is torch.compile) need not be faster on a CPU.
    // Everything else is checked; the expert's speed is left to a run on a GPU.
    let cpu_fallback = task.spec.device == optagent_task::Device::Cuda
        && opts.cpu_fallback
        && optagent_eval::machine::cuda_available().is_err();
    let expert_slow = sig_faster == 0
        || !oracle
            .expert_speedup
            .is_some_and(|o| o >= 1.0 + opts.threshold);
    if expert_slow && cpu_fallback {
        c.reasons.push(format!(
            "on the CPU (--cpu-fallback) the expert's speed is not judged (geomean {:.3}x here): \
             a CUDA task's expert is judged on a GPU",
            Figure(oracle.expert_speedup)
        ));
        if show {
            println!("note: {}", c.reasons.last().expect("just pushed"));
        }
    } else if expert_slow {
        problems.push(format!(
            "the expert is not significantly faster: geomean {:.3}x, {} workload(s) significantly faster by >= {:.0}%",
            Figure(oracle.expert_speedup),
            sig_faster,
            opts.threshold * 100.0
        ));
    }
    if nop.opt_base {
        problems.push("the no-op passes opt_base: the workloads are too noisy".into());
    }
    if show {
        println!(
            "nop: verdict {}, speedup {:.3}x, opt_base {}",
            nop.verdict.as_str(),
            Figure(nop.speedup),
            nop.opt_base
        );
    }
    if problems.is_empty() {
        if show {
            println!(
                "task {} OK: expert {:.2}x, {} of {} workloads significantly faster",
                task.id(),
                Figure(oracle.expert_speedup),
                sig_faster,
                oracle.workloads.len()
            );
        }
    } else {
        if show {
            println!("task {} REJECTED:", task.id());
            for p in &problems {
                println!("  - {p}");
            }
        }
        c.status = "rejected";
        c.reasons.extend(problems);
    }
}
