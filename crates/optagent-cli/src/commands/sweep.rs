//! `optagent sweep`, `optagent report` and `optagent export`: Opt@K sweeps, their reports and
//! the predictions files other benchmarks' harnesses take.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use optagent_report::record::{read_records, results_path, RolloutStatus};
use optagent_report::sweep_config::SweepConfig;
use optagent_rollout::sweep::{sweep, SweepEvent, SweepOptions};

use super::solve::ModelArgs;
use crate::MeasureArgs;

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// The sweep config (see evals/sweep-example.toml).
    #[arg(value_name = "SWEEP_TOML")]
    pub sweep_file: PathBuf,
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

pub async fn run(a: SweepArgs) -> anyhow::Result<ExitCode> {
    let config = SweepConfig::load(&a.sweep_file)?;
    let out = config.output_dir();
    std::fs::create_dir_all(&out)?;
    let mut verify = super::eval_options(&a.measure, &out.join("work"), None).await?;
    if verify.reps.is_none() {
        verify.reps = Some(10);
    }
    verify.progress = None;
    let mut bench = verify.clone();
    bench.reps = Some(a.bench_reps);
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
    let outcome = sweep(SweepOptions {
        config,
        model_opts,
        secret_vars,
        judge,
        sandbox,
        bench,
        verify,
        watcher: Some(watcher),
    })
    .await
    .map_err(anyhow::Error::msg)?;
    bar.finish_and_clear();
    println!(
        "ran {} rollout(s), {} already done, {} not started (spending cap); ${:.4} spent in all",
        outcome.ran, outcome.skipped_done, outcome.not_started_cap, outcome.spent_usd
    );
    println!("results: {}", outcome.results.display());
    println!(
        "report:  {}",
        outcome.report_dir.join("report.md").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// A results file, or a sweep folder holding `results.jsonl`.
fn results_file(p: &std::path::Path) -> PathBuf {
    if p.is_dir() {
        results_path(p)
    } else {
        p.to_path_buf()
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
    let file = results_file(&a.results);
    let records = read_records(&file)?;
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
    let out = a.out.clone().unwrap_or_else(|| {
        file.parent()
            .unwrap_or(std::path::Path::new("."))
            .join("report")
    });
    let paths = optagent_report::render::write_report(&records, &tasks, k, &out)?;
    println!("{paths:#?}");
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
    let records = read_records(results_file(&a.results))?;
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
