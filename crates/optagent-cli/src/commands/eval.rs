//! `optagent eval`: score one patch.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use optagent_eval::{Candidate, EvalError, PatchSource};
use optagent_task::Task;

use crate::exit::InputContext;
use crate::MeasureArgs;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The task folder (or its task.toml).
    pub task: PathBuf,
    /// A diff file, `oracle` (the expert's change) or `nop` (no change).
    #[arg(long)]
    pub patch: String,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub measure: MeasureArgs,
    #[command(flatten)]
    pub judge: super::solve::JudgeArgs,
    /// How to reach the judge's model.
    #[command(flatten)]
    pub model_args: super::solve::ModelArgs,
}

pub fn candidate(patch: &str) -> anyhow::Result<Candidate> {
    Ok(match patch {
        "oracle" => Candidate::new("oracle", PatchSource::Oracle),
        "nop" => Candidate::new("nop", PatchSource::Nop),
        file => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("--patch {file}: cannot read the diff"))?;
            let label = std::path::Path::new(file)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| file.to_string());
            Candidate::new(label, PatchSource::Diff(text))
        }
    })
}

pub async fn run(a: EvalArgs) -> anyhow::Result<ExitCode> {
    let task = Task::load(&a.task).input()?;
    let cand = candidate(&a.patch).input()?;
    let judge = a.judge.open(None, None, &a.model_args, &[])?;
    let diff = match &cand.patch {
        PatchSource::Diff(d) => d.clone(),
        PatchSource::Oracle => optagent_agent::judge::expert_diff(&task),
        PatchSource::Nop => String::new(),
    };
    let work = super::work_dir(&a.measure)?;
    let opts = super::eval_options(&a.measure, work.path(), Some(&task)).await?;
    match optagent_eval::evaluate(&task, &[cand], &opts).await {
        Ok(mut reports) => {
            let r = &mut reports[0];
            let verdict = match &judge {
                Some(j) => j.judge_report(&task, &diff, r).await,
                None => None,
            };
            if a.json {
                println!("{}", serde_json::to_string_pretty(r)?);
            } else {
                print!("{}", optagent_eval::render::table(r));
                match (&judge, verdict) {
                    (_, Some(v)) => println!("{}", v.summary()),
                    (Some(_), None) => {
                        println!("judge: not asked (the patch is not correct, or empty)")
                    }
                    (None, None) => {}
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(EvalError::Skipped(why)) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"task": task.id(), "verdict": "skipped", "reason": why})
                );
            } else {
                println!("SKIPPED {}: {why}", task.id());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e.into()),
    }
}
