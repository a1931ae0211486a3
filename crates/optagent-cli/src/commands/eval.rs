//! `optagent eval`: score one patch.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use optagent_eval::{Candidate, EvalError, PatchSource};
use optagent_task::Task;

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
    let task = Task::load(&a.task)?;
    let cand = candidate(&a.patch)?;
    let work = super::work_dir(&a.measure)?;
    let opts = super::eval_options(&a.measure, work.path(), Some(&task)).await?;
    match optagent_eval::evaluate(&task, &[cand], &opts).await {
        Ok(reports) => {
            let r = &reports[0];
            if a.json {
                println!("{}", serde_json::to_string_pretty(r)?);
            } else {
                print!("{}", optagent_eval::render::table(r));
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
