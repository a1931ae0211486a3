//! `optagent import gso|swefficiency <dataset> --out <dir>`, `optagent import kernelbench <dir>
//! --out <dir>` and `optagent import asv`: benchmark datasets as task folders or workloads.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use optagent_task::import::Imported;

#[derive(Subcommand, Debug)]
pub enum ImportCmd {
    /// GSO's dataset (JSON Lines or a JSON array, GSO's schema): one task folder per instance,
    /// its tests as workloads with GSO's protocol, its install commands as setup.
    Gso(ImportArgs),
    /// SWE-fficiency's dataset (JSON Lines or a JSON array, its Hugging Face schema): one task
    /// folder per instance, its workload script as the workload, its covering tests and
    /// PASS_TO_PASS as the tests, its patch as the expert.
    Swefficiency(ImportArgs),
    /// A repository's ASV benchmarks as a task's workloads: one per benchmark and parameter
    /// combination, named as asv names them (FormulaCode's workloads), appended to the task.
    Asv(AsvArgs),
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
pub struct AsvArgs {
    /// The ASV suite (the folder asv.conf.json's benchmark_dir names) in a checkout of the
    /// task's repository at its base revision.
    pub benchmarks: PathBuf,
    /// The task folder whose task.toml gains the workloads.
    #[arg(long)]
    pub task: PathBuf,
    /// Keep only benchmarks whose full name contains this text (repeatable).
    #[arg(long = "match")]
    pub filters: Vec<String>,
    /// The Python that imports the suite to discover it.
    #[arg(long, default_value = "python3")]
    pub python: String,
}

impl ImportCmd {
    /// The paths the command names, to be made absolute.
    pub fn paths_mut(&mut self) -> Vec<&mut PathBuf> {
        match self {
            ImportCmd::Gso(a) | ImportCmd::Swefficiency(a) => vec![&mut a.dataset, &mut a.out],
            ImportCmd::Asv(a) => vec![&mut a.benchmarks, &mut a.task],
            ImportCmd::Kernelbench(a) => vec![&mut a.dir, &mut a.out],
        }
    }
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
        ImportCmd::Swefficiency(a) => {
            optagent_task::import::swefficiency::import(&a.dataset, &a.out, a.force)?
        }
        ImportCmd::Asv(a) => {
            let added =
                optagent_task::import::asv::import(&optagent_task::import::asv::AsvImport {
                    benchmarks: a.benchmarks,
                    task: a.task.clone(),
                    filters: a.filters,
                    python: a.python,
                })?;
            for w in &added {
                println!("{}", w.name);
            }
            println!(
                "{} workload(s) added to {}; check it with `optagent tasks check {}`",
                added.len(),
                a.task.join("task.toml").display(),
                a.task.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
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
