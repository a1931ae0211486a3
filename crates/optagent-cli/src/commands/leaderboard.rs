//! `optagent leaderboard`: merges measured sweep results into the leaderboard file and renders it
//! as Markdown (the library side is `optagent_report::leaderboard`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::exit::InputContext;

#[derive(Args, Debug)]
pub struct LeaderboardArgs {
    /// A sweep's output folder whose measured results are merged into the file, one entry per
    /// configuration (model, agent, budget); repeatable. A sweep merged before adds nothing.
    #[arg(long = "merge", value_name = "SWEEP_DIR")]
    pub merge: Vec<PathBuf>,
    /// The leaderboard file (`--merge` creates it when missing).
    #[arg(long, default_value = "evals/leaderboard.toml")]
    pub file: PathBuf,
    /// Folder for leaderboard.md (default: the file's folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `dir` as the entry's source: relative to the current folder when under it.
fn source_of(dir: &Path) -> String {
    let shown = std::env::current_dir()
        .ok()
        .and_then(|cwd| dir.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| dir.to_path_buf());
    format!("this repository, {}", shown.display())
}

pub fn run(a: LeaderboardArgs) -> anyhow::Result<ExitCode> {
    let date = chrono::Local::now().format("%Y-%m-%d").to_string();
    for dir in &a.merge {
        if !dir.is_dir() {
            return Err(anyhow::anyhow!(
                "--merge {}: not a sweep folder",
                dir.display()
            ))
            .input();
        }
        let entries = optagent_report::sweep_entries(dir, &source_of(dir), &date)
            .with_context(|| format!("reading the sweep {}", dir.display()))
            .input()?;
        if entries.is_empty() {
            return Err(anyhow::anyhow!(
                "--merge {}: the sweep has no results yet",
                dir.display()
            ))
            .input();
        }
        let m = optagent_report::leaderboard_merge(&a.file, &entries)?;
        println!(
            "{}: {} added, {} already in {}, {} without figures",
            dir.display(),
            m.added,
            m.already,
            a.file.display(),
            m.without_figures
        );
    }
    if a.merge.is_empty() && !a.file.exists() {
        return Err(anyhow::anyhow!(
            "{}: no leaderboard file there (give --file, or --merge SWEEP_DIR to create it)",
            a.file.display()
        ))
        .input();
    }
    let entries = optagent_report::load_leaderboard(&a.file).input()?;
    let out = match &a.out {
        Some(o) => o.clone(),
        None => a
            .file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let md = out.join("leaderboard.md");
    std::fs::write(&md, optagent_report::render_leaderboard_md(&entries))
        .with_context(|| format!("writing {}", md.display()))?;
    println!("{} entries: {}", entries.len(), md.display());
    Ok(ExitCode::SUCCESS)
}
