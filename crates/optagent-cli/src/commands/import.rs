//! `optagent import gso <dataset> --out <dir>` and `optagent import kernelbench <dir> --out <dir>`:
//! benchmark datasets as task folders.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use optagent_task::import::Imported;

#[derive(Subcommand, Debug)]
pub enum ImportCmd {
    /// GSO's dataset (JSON Lines or a JSON array, GSO's schema): one task folder per instance,
    /// its tests as workloads with GSO's protocol, its install commands as setup.
    Gso(ImportArgs),
    /// KernelBench's problems (a checkout, its KernelBench/ folder or one level<N> folder): one
    /// CUDA task per problem file, PyTorch eager as the baseline, torch.compile as the expert.
    Kernelbench(KernelBenchArgs),
}

#[derive(Args, Debug)]
pub struct KernelBenchArgs {
    /// A KernelBench checkout (or its KernelBench/ folder, or one level<N> folder).
    pub dir: PathBuf,
    /// Only this level (1, 2, 3, ...); default: every level found.
    #[arg(long)]
    pub level: Option<u32>,
    /// Only these problems, by number or file stem (e.g. 19 or 19_ReLU); comma-separated or
    /// repeated.
    #[arg(long, value_delimiter = ',')]
    pub problems: Vec<String>,
    /// The folder the task folders are written to (one per problem).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace task folders that already exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The dataset file (.jsonl or .json).
    pub dataset: PathBuf,
    /// The folder the task folders are written to (one per row, named by its instance id).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace task folders that already exist.
    #[arg(long)]
    pub force: bool,
}

pub fn run(c: ImportCmd) -> anyhow::Result<ExitCode> {
    let done: Vec<Imported> = match c {
        ImportCmd::Gso(a) => optagent_task::import::gso::import(&a.dataset, &a.out, a.force)?,
        ImportCmd::Kernelbench(a) => optagent_task::import::kernelbench::import(
            &a.dir,
            a.level,
            &a.problems,
            &a.out,
            a.force,
        )?,
    };
    for t in &done {
        println!(
            "imported {} -> {} ({} workload(s))",
            t.id,
            t.dir.display(),
            t.workloads
        );
    }
    println!(
        "{} task(s); check them with `optagent tasks check <folder>...`",
        done.len()
    );
    Ok(ExitCode::SUCCESS)
}
