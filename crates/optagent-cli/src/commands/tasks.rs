//! `optagent tasks list|check`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use optagent_eval::{Candidate, EvalError, PatchSource, Verdict};
use optagent_task::{spec::discover, Task};

use crate::MeasureArgs;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The task folder.
    pub task: PathBuf,
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

pub async fn check(a: CheckArgs) -> anyhow::Result<ExitCode> {
    let task = Task::load(&a.task)?;
    println!(
        "spec ok: {} ({} workloads)",
        task.id(),
        task.spec.workloads.len()
    );
    let work = super::work_dir(&a.measure)?;
    let opts = super::eval_options(&a.measure, work.path(), Some(&task)).await?;
    let cands = [
        Candidate::new("oracle", PatchSource::Oracle),
        Candidate::new("nop", PatchSource::Nop),
    ];
    let reports = match optagent_eval::evaluate(&task, &cands, &opts).await {
        Ok(r) => r,
        Err(EvalError::Skipped(why)) => {
            println!("SKIPPED {}: {why}", task.id());
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e.into()),
    };
    let (oracle, nop) = (&reports[0], &reports[1]);
    print!("{}", optagent_eval::render::table(oracle));
    let mut problems = vec![];
    if oracle.verdict != Verdict::Ok {
        problems.push(format!(
            "the oracle's verdict is {}",
            oracle.verdict.as_str()
        ));
    }
    if nop.verdict != Verdict::Ok {
        problems.push(format!("the no-op's verdict is {}", nop.verdict.as_str()));
    }
    let sig_faster = oracle
        .workloads
        .iter()
        .filter(|w| w.expert_significant && w.expert_speedup >= 1.0 + opts.threshold)
        .count();
    if sig_faster == 0 || oracle.expert_speedup < 1.0 + opts.threshold {
        problems.push(format!(
            "the expert is not significantly faster: geomean {:.3}x, {} workload(s) significantly faster by >= {:.0}%",
            oracle.expert_speedup,
            sig_faster,
            opts.threshold * 100.0
        ));
    }
    if nop.opt_base {
        problems.push("the no-op passes opt_base: the workloads are too noisy".into());
    }
    println!(
        "nop: verdict {}, speedup {:.3}x, opt_base {}",
        nop.verdict.as_str(),
        nop.speedup,
        nop.opt_base
    );
    if problems.is_empty() {
        println!(
            "task {} OK: expert {:.2}x, {} of {} workloads significantly faster",
            task.id(),
            oracle.expert_speedup,
            sig_faster,
            oracle.workloads.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("task {} REJECTED:", task.id());
        for p in problems {
            println!("  - {p}");
        }
        Ok(ExitCode::FAILURE)
    }
}
