//! `optagent sweep`, `optagent report` and `optagent export`: Opt@K sweeps, their reports and
//! the predictions files other benchmarks' harnesses take.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use optagent_report::record::{read_records, read_sweep_records, RolloutStatus};
use optagent_solve::slurm;
use optagent_solve::sweep::{run_cell, sweep, CellOutcome, SweepEvent, SweepOptions};
use optagent_solve::sweep_config::SweepConfig;

use super::solve::ModelArgs;
use crate::exit::{self, InputContext};
use crate::MeasureArgs;

/// `optagent sweep <toml>`, or `optagent sweep status|cancel <dir>`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepCommand {
    #[command(subcommand)]
    pub action: Option<SweepAction>,
    #[command(flatten)]
    pub args: SweepArgs,
}

#[derive(Subcommand, Debug)]
pub enum SweepAction {
    /// Where every rollout of a sweep stands (done, failed, pending, running, lost), from its
    /// records and, for a Slurm sweep, the queue.
    Status {
        /// The sweep's output folder, or its sweep file.
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a Slurm sweep's queued and running elements (scancel).
    Cancel {
        /// The sweep's output folder, or its sweep file.
        dir: PathBuf,
    },
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// The sweep config (see evals/sweep-example.toml).
    #[arg(value_name = "SWEEP_TOML", required = true)]
    pub sweep_file: Option<PathBuf>,
    /// Where rollouts run: local (here) or slurm (one sbatch array job; default: the sweep
    /// file's [executor], else local).
    #[arg(long, value_parser = ["local", "slurm"])]
    pub executor: Option<String>,
    /// With --executor slurm: submit and return at once instead of waiting for the job.
    #[arg(long)]
    pub detach: bool,
    /// Repetitions of the agent's bench tool.
    #[arg(long, default_value_t = 5)]
    pub bench_reps: usize,
    /// Print every rollout's progress lines, not only the bar.
    #[arg(long)]
    pub verbose: bool,
    #[command(flatten)]
    pub model_args: ModelArgs,
    #[command(flatten)]
    pub judge: super::solve::JudgeArgs,
    #[command(flatten)]
    pub measure: MeasureArgs,
}

pub async fn run(c: SweepCommand) -> anyhow::Result<ExitCode> {
    match c.action {
        Some(SweepAction::Status { dir, json }) => status(&dir, json),
        Some(SweepAction::Cancel { dir }) => cancel(&dir),
        None => run_sweep(c.args).await,
    }
}

/// The sweep file named on the command line.
fn sweep_file(a: &SweepArgs) -> anyhow::Result<&Path> {
    a.sweep_file
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("no sweep file given"))
}

/// A sweep's output folder: the folder itself, or the one its sweep file names.
fn output_of(p: &Path) -> anyhow::Result<PathBuf> {
    if p.is_file() {
        Ok(SweepConfig::load(p)?.output_dir())
    } else if p.is_dir() {
        Ok(p.to_path_buf())
    } else {
        anyhow::bail!(
            "{}: neither a sweep file nor a sweep's output folder",
            p.display()
        )
    }
}

fn status(p: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let out = output_of(p)?;
    let cells = slurm::status(&out).map_err(anyhow::Error::msg)?;
    if json {
        let rows: Vec<serde_json::Value> = cells
            .iter()
            .map(|(k, st)| {
                serde_json::json!({"task": k.0, "model": k.1, "agent": k.2, "budget": k.3,
                    "rollout": k.4, "state": st.as_str()})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for (k, st) in &cells {
        *counts.entry(st.as_str()).or_default() += 1;
        println!("{:<13} {} {} {} r{}", st.as_str(), k.0, k.1, k.3, k.4);
    }
    let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    println!(
        "{}: {}",
        out.display(),
        if summary.is_empty() {
            "no rollout recorded or submitted".to_string()
        } else {
            summary.join(", ")
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn cancel(p: &Path) -> anyhow::Result<ExitCode> {
    let out = output_of(p)?;
    let ids = slurm::cancel(&out).map_err(anyhow::Error::msg)?;
    if ids.is_empty() {
        println!("{}: no queued or running job to cancel", out.display());
    } else {
        println!("cancelled job(s) {}", ids.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// The sweep's options, as every executor and every Slurm element builds them.
async fn sweep_options(a: &SweepArgs, config: SweepConfig) -> anyhow::Result<SweepOptions> {
    let out = config.output_dir();
    std::fs::create_dir_all(&out)?;
    let mut verify = super::eval_options(&a.measure, &out.join("work"), None).await?;
    if verify.reps.is_none() {
        verify.reps = Some(10);
    }
    verify.progress = None;
    let mut bench = verify.clone();
    bench.reps = Some(a.bench_reps);
    let sandbox = verify.sandbox.clone();
    let model_opts = a.model_args.options();
    let mut secret_vars: Vec<String> = config
        .models
        .iter()
        .filter_map(|m| optagent_model::key_variable(&m.model, &model_opts))
        .collect();
    secret_vars.extend(a.judge.key_variable(config.judge.as_deref(), &a.model_args));
    let judge = a.judge.open(
        config.judge.as_deref(),
        config.judge_votes,
        &a.model_args,
        &secret_vars,
    )?;
    Ok(SweepOptions {
        config,
        model_opts,
        secret_vars,
        judge,
        sandbox,
        bench,
        verify,
        watcher: None,
    })
}

async fn run_sweep(a: SweepArgs) -> anyhow::Result<ExitCode> {
    let config = SweepConfig::load(sweep_file(&a)?).input()?;
    // What the sweep file names must load before anything runs (exit 2 otherwise).
    for dir in config.task_dirs() {
        optagent_task::Task::load(&dir).input()?;
    }
    for m in &config.models {
        optagent_model::open_model(&m.model, &a.model_args.options())
            .map_err(|e| anyhow::anyhow!("model {}: {e}", m.model))
            .input()?;
    }
    let executor = a
        .executor
        .clone()
        .or_else(|| config.executor.as_ref().map(|e| e.kind.clone()))
        .unwrap_or_else(|| "local".into());
    if executor == "slurm" {
        if !config.modes.is_empty() {
            return Err::<ExitCode, _>(anyhow::anyhow!(
                "{}: `modes` run here only (each mode is one solve of K rollouts per task): drop --executor slurm, or the modes",
                sweep_file(&a)?.display()
            ))
            .input();
        }
        return run_slurm(a, config).await;
    }
    let mut opts = sweep_options(&a, config).await?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} rollouts  {elapsed_precise} elapsed, ETA {eta_precise}  {msg}",
        )
        .expect("valid template"),
    );
    let verbose = a.verbose;
    let b = bar.clone();
    let watcher = Arc::new(move |e: SweepEvent| match e {
        SweepEvent::Planned {
            total,
            done,
            todo,
            spent_usd,
        } => {
            b.set_length(total as u64);
            b.set_position(done as u64);
            b.reset_eta();
            b.set_message(format!("${spent_usd:.2} spent"));
            b.println(format!(
                "sweep: {total} rollouts, {done} already done, {todo} to run"
            ));
        }
        SweepEvent::Started { key } => {
            if verbose {
                b.println(format!("start {} {} {} r{}", key.0, key.1, key.3, key.4));
            }
        }
        SweepEvent::Finished {
            key,
            status,
            opt_commit,
            cost_usd,
            spent_usd,
        } => {
            b.inc(1);
            b.set_message(format!("${spent_usd:.2} spent"));
            b.println(format!(
                "done  {} {} {} r{}: {}{} (${cost_usd:.4})",
                key.0,
                key.1,
                key.3,
                key.4,
                status.as_str(),
                if opt_commit { ", opt_commit" } else { "" }
            ));
        }
        SweepEvent::CapReached { spent_usd, cap_usd } => {
            b.println(format!(
                "spending cap reached (${spent_usd:.2} of ${cap_usd:.2}): no more rollouts start"
            ));
        }
        SweepEvent::Line(l) => {
            if verbose {
                b.println(l);
            }
        }
    });
    opts.watcher = Some(watcher);
    let outcome = sweep(opts).await.map_err(anyhow::Error::msg)?;
    bar.finish_and_clear();
    println!(
        "ran {} rollout(s), {} already done, {} not started (spending cap); ${:.4} spent in all",
        outcome.ran, outcome.skipped_done, outcome.not_started_cap, outcome.spent_usd
    );
    println!("results: {}", outcome.results.display());
    let modes_md = outcome.report_dir.join(optagent_solve::sweep::MODES_MD);
    if modes_md.is_file() {
        println!("modes:   {}", modes_md.display());
    }
    if outcome.report_dir.join("report.md").is_file() {
        println!(
            "report:  {}",
            outcome.report_dir.join("report.md").display()
        );
    }
    let code = exit::sweep_code(outcome.ran, outcome.model_errors);
    if code == exit::ALL_MODEL_ERRORS {
        eprintln!(
            "no rollout ran to an end of its own: all {} ended in a model error (exit {code}); they run again when the sweep is resumed",
            outcome.ran
        );
    }
    Ok(ExitCode::from(code))
}

/// The records of a results file, or of a sweep folder (its `results.jsonl` and the per-rollout
/// files a Slurm sweep writes); and the folder they belong to.
fn records_of(
    p: &std::path::Path,
) -> anyhow::Result<(Vec<optagent_report::RolloutRecord>, PathBuf)> {
    if p.is_dir() {
        Ok((read_sweep_records(p)?, p.to_path_buf()))
    } else {
        let dir = p.parent().unwrap_or(Path::new(".")).to_path_buf();
        Ok((read_records(p)?, dir))
    }
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// results.jsonl, or the sweep's output folder.
    pub results: PathBuf,
    /// Folder for report.md, report.json, report.html and the plots (default: beside the results, report/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// K of Opt@K (default: the largest rollout count found).
    #[arg(long)]
    pub k: Option<usize>,
    /// The task ids of the sweep (missing ones count as failures); default: those in the results.
    #[arg(long, value_delimiter = ',')]
    pub tasks: Vec<String>,
}

pub async fn report(a: ReportArgs) -> anyhow::Result<ExitCode> {
    let (records, folder) = records_of(&a.results).input()?;
    let k =
        a.k.unwrap_or_else(|| records.iter().map(|r| r.rollout + 1).max().unwrap_or(1));
    let tasks = if a.tasks.is_empty() {
        let mut t: Vec<String> = records.iter().map(|r| r.task.clone()).collect();
        t.sort();
        t.dedup();
        t
    } else {
        a.tasks.clone()
    };
    let out = a.out.clone().unwrap_or_else(|| folder.join("report"));
    let (paths, analysis) = optagent_report::write_report_analyzed(
        &records,
        &tasks,
        k,
        &out,
        &optagent_report::ReportOptions::default(),
    )?;
    print!("{}", optagent_report::headline_text(&paths, &analysis));
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// results.jsonl, or the sweep's output folder.
    pub results: PathBuf,
    /// Where to write the predictions (one JSON per line: instance_id, model_patch, model_name_or_path).
    #[arg(long)]
    pub out: PathBuf,
    /// best (per task and model), first (the Opt@1 submission) or all.
    #[arg(long, default_value = "best", value_parser = ["best", "first", "all"])]
    pub pick: String,
}

pub async fn export(a: ExportArgs) -> anyhow::Result<ExitCode> {
    let (records, _) = records_of(&a.results).input()?;
    let pick = match a.pick.as_str() {
        "first" => optagent_report::Pick::First,
        "all" => optagent_report::Pick::All,
        _ => optagent_report::Pick::Best,
    };
    let n = optagent_report::export_predictions(&records, &a.out, pick)?;
    let with_patch = records
        .iter()
        .filter(|r| r.status == RolloutStatus::Submitted)
        .count();
    println!(
        "wrote {n} prediction(s) to {} ({with_patch} rollouts had a patch)",
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The `optagent sweep` arguments an element re-reads: this command line from `sweep` on,
/// without the executor's own options.
fn element_argv() -> Vec<String> {
    let args: Vec<String> = std::env::args().collect();
    let from = args.iter().position(|a| a == "sweep").map_or(1, |i| i + 1);
    let mut out = vec![];
    let mut skip_next = false;
    for a in &args[from..] {
        if skip_next {
            skip_next = false;
            continue;
        }
        match a.as_str() {
            "--executor" => skip_next = true,
            "--detach" => {}
            x if x.starts_with("--executor=") => {}
            _ => out.push(a.clone()),
        }
    }
    out
}

async fn run_slurm(a: SweepArgs, config: SweepConfig) -> anyhow::Result<ExitCode> {
    let exec = config.executor.clone().unwrap_or_default();
    let out = config.output_dir();
    std::fs::create_dir_all(&out)?;
    // One submitter per output folder, as for a local sweep.
    let lock = optagent_solve::lock::OutputLock::acquire(&out)?;
    let k = config.k;
    let task_dirs = config.task_dirs();
    let opts = sweep_options(&a, config).await?;
    let binary = std::env::current_exe()?;
    let s = slurm::submit(&opts, &exec, &binary, element_argv()).map_err(anyhow::Error::msg)?;
    println!(
        "sweep: {} rollouts, {} already done, {} still queued from an earlier submission, {} submitted{}",
        s.total,
        s.done,
        s.still_queued,
        s.submitted,
        s.job
            .as_ref()
            .map(|j| format!(" as Slurm job {}", j.job_id))
            .unwrap_or_default()
    );
    if let Some((spent, cap)) = s.cap_reached {
        println!("spending cap reached (${spent:.2} of ${cap:.2}): nothing submitted");
    }
    if a.detach {
        println!(
            "detached: `optagent sweep status {0}` shows progress, `optagent sweep cancel {0}` stops it",
            out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let total = s.total;
    let mut last = usize::MAX;
    loop {
        let live = slurm::live_elements(&out).map_err(anyhow::Error::msg)?;
        let recorded = read_sweep_records(&out)
            .map(|r| optagent_report::completed_keys(&r).len())
            .unwrap_or(0);
        if recorded != last {
            println!("{recorded}/{total} rollouts recorded, {live} element(s) queued or running");
            last = recorded;
        }
        if live == 0 {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            _ = tokio::signal::ctrl_c() => {
                if ask_cancel(live).await {
                    let ids = slurm::cancel(&out).map_err(anyhow::Error::msg)?;
                    println!("cancelled job(s) {}", ids.join(", "));
                } else {
                    println!(
                        "the job keeps running; `optagent sweep status {0}` follows it, \
                         `optagent sweep cancel {0}` stops it",
                        out.display()
                    );
                }
                return Ok(ExitCode::from(130));
            }
        }
    }
    drop(lock);
    let task_ids: Vec<String> = task_dirs
        .iter()
        .filter_map(|d| optagent_task::Task::load(d).ok())
        .map(|t| t.id().to_string())
        .collect();
    let report_dir = optagent_solve::sweep::write_sweep_report(&out, &task_ids, k)
        .map_err(anyhow::Error::msg)?;
    let cells = slurm::status(&out).map_err(anyhow::Error::msg)?;
    let count = |st: slurm::CellState| cells.iter().filter(|(_, s)| *s == st).count();
    println!(
        "done: {} finished, {} failed, {} lost (run the sweep again to retry failed and lost ones)",
        count(slurm::CellState::Done),
        count(slurm::CellState::Failed),
        count(slurm::CellState::Lost)
    );
    println!("report:  {}", report_dir.join("report.md").display());
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal whether to cancel the submitted jobs; no terminal: no.
async fn ask_cancel(live: usize) -> bool {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("\n{live} Slurm element(s) still queued or running. Cancel them? [y/N] ");
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).ok();
        matches!(line.trim(), "y" | "Y" | "yes")
    })
    .await
    .unwrap_or(false)
}

/// `optagent sweep-cell`: one element of a Slurm sweep (run by Slurm, not by people).
#[derive(Args, Debug)]
pub struct CellArgs {
    /// The plan file the sweep wrote (`<output>/slurm/plan-*.json`).
    #[arg(long)]
    pub plan: PathBuf,
    /// The element's array index (`$SLURM_ARRAY_TASK_ID`).
    #[arg(long)]
    pub index: usize,
}

#[derive(Parser, Debug)]
#[command(name = "optagent-sweep")]
struct ElementArgv {
    #[command(flatten)]
    args: SweepArgs,
}

pub async fn cell(c: CellArgs) -> anyhow::Result<ExitCode> {
    let plan = slurm::Plan::load(&c.plan).map_err(anyhow::Error::msg)?;
    let key = plan
        .cell(c.index, &c.plan)
        .map_err(anyhow::Error::msg)?
        .clone();
    // Relative arguments mean what they meant where the sweep was started.
    std::env::set_current_dir(&plan.cwd)
        .map_err(|e| anyhow::anyhow!("entering {}: {e}", plan.cwd.display()))?;
    let argv = std::iter::once("optagent-sweep".to_string()).chain(plan.argv.iter().cloned());
    let a = ElementArgv::try_parse_from(argv)
        .map_err(|e| anyhow::anyhow!("{}: the sweep's arguments: {e}", c.plan.display()))?
        .args;
    let config = SweepConfig::load(sweep_file(&a)?)?;
    let opts = sweep_options(&a, config).await?;
    match run_cell(opts, &key).await.map_err(anyhow::Error::msg)? {
        CellOutcome::Recorded { record, file } => {
            println!(
                "{} {} {} r{}: {} -> {}",
                key.0,
                key.1,
                key.3,
                key.4,
                record.status.as_str(),
                file.display()
            );
        }
        CellOutcome::AlreadyDone => println!("already recorded: nothing to run"),
        CellOutcome::CapReached { spent_usd, cap_usd } => {
            println!("spending cap reached (${spent_usd:.2} of ${cap_usd:.2}): not started")
        }
    }
    Ok(ExitCode::SUCCESS)
}
