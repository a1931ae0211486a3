//! `optagent calibrate`: the evaluator's own benchmark.

use std::process::ExitCode;

use clap::Args;
use optagent_eval::calibrate::{calibrate, render, CalibrateOptions, Load};

use crate::MeasureArgs;

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// Independent trials per load condition.
    #[arg(long, default_value_t = 100)]
    pub trials: usize,
    /// True speedups to detect (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1.10, 1.25, 2.0])]
    pub speedups: Vec<f64>,
    /// Load conditions: idle, busy (one busy-looping process, placed by the scheduler),
    /// samecore (one pinned to the measured CPU: the worst case).
    #[arg(long, value_delimiter = ',', default_values_t = vec!["idle".to_string(), "busy".to_string()])]
    pub loads: Vec<String>,
    /// Spin-loop iterations of the baseline (about 1 ns each).
    #[arg(long, default_value_t = 10_000_000)]
    pub iterations: u64,
    /// Runs averaged by GSO's rule.
    #[arg(long, default_value_t = 5)]
    pub gso_runs: usize,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub measure: MeasureArgs,
}

pub async fn run(a: CalibrateArgs) -> anyhow::Result<ExitCode> {
    let work = super::work_dir(&a.measure)?;
    let mut eval = super::eval_options(&a.measure, work.path(), None).await?;
    if eval.reps.is_none() {
        eval.reps = Some(10);
    }
    let loads = a
        .loads
        .iter()
        .map(|l| match l.as_str() {
            "idle" => Ok(Load::Idle),
            "busy" => Ok(Load::OneCoreBusy),
            "samecore" => Ok(Load::SameCoreBusy),
            other => anyhow::bail!("--loads {other:?}: expected idle, busy or samecore"),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let opts = CalibrateOptions {
        trials: a.trials,
        speedups: a.speedups,
        loads,
        iterations: a.iterations,
        gso_runs: a.gso_runs,
        eval,
    };
    let r = calibrate(&opts).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", render(&r));
    }
    Ok(ExitCode::SUCCESS)
}
