//! `optagent`: the command line. It only parses arguments and dispatches to the library crates;
//! each subcommand lives in its own module under `commands/`.
//!
//! # Where to add things
//!
//! Each crate's top-level documentation has the steps; the files are:
//!
//! - A subcommand: `crates/optagent-cli/src/commands/<name>.rs`, `commands/mod.rs` and a variant
//!   of `Command` in `main.rs`.
//! - A tool the model can call (`optagent-tools`): `tools/<name>.json`,
//!   `crates/optagent-tools/src/handlers/<name>.rs` and `crates/optagent-tools/src/handlers/mod.rs`.
//! - A model provider (`optagent-model`): a `[providers.<name>]` table in
//!   `crates/optagent-model/providers.toml`, or in the user's config file; no code when it speaks
//!   the OpenAI chat-completions API.
//! - A metric (`optagent-report`): `crates/optagent-stats/src/scoring.rs` (the formula),
//!   `crates/optagent-report/src/summary.rs` (aggregated per configuration) and
//!   `crates/optagent-report/src/render.rs` (its column).
//! - A task field (`optagent-task`): `crates/optagent-task/src/spec.rs` (field and check),
//!   `docs/task-format.md`, and the code that uses it (usually `optagent-eval`).

#![allow(clippy::print_stdout, clippy::print_stderr)]
// The argument structs' doc comments are clap's `--help` text, written for a terminal: their
// `[executor]`, `level<N>` and `<task>/<time>` are not rustdoc links or HTML tags.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

mod commands;
mod exit;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "optagent",
    version,
    about = "An optimization agent and the evaluator that scores its patches",
    after_help = exit::HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log level for diagnostics on stderr (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "warn", env = "OPTAGENT_LOG")]
    log: String,
    /// Folders holding git mirrors as OWNER/NAME or OWNER/NAME.git (colon-separated), searched
    /// before the network for a task's `source.git` URL; added in front of $OPTAGENT_GIT_MIRRORS.
    #[arg(long, global = true, value_name = "DIRS")]
    mirrors: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Score a patch (or the expert's, or none) against the task's baseline and expert.
    Eval(commands::eval::EvalArgs),
    /// Run K rollouts of a model on a task and keep the best verified patch.
    #[command(after_help = exit::HELP)]
    Solve(Box<commands::solve::SolveArgs>),
    /// Run a sweep: models x tasks x K x budgets, resumable, with cost accounting.
    #[command(after_help = exit::HELP)]
    Sweep(Box<commands::sweep::SweepCommand>),
    /// One rollout of a sweep submitted to Slurm (what each array element runs).
    #[command(hide = true)]
    SweepCell(commands::sweep::CellArgs),
    /// Write Markdown, JSON and HTML reports (with plots) of a sweep's results.
    Report(commands::sweep::ReportArgs),
    /// Export predictions in the format GSO and SWE-fficiency take.
    Export(commands::sweep::ExportArgs),
    /// Merge measured sweep results into the leaderboard file and render it as Markdown.
    Leaderboard(commands::leaderboard::LeaderboardArgs),
    /// Measure the evaluator itself: A/A false positives, detection of known speedups, estimate
    /// error and overhead, idle and under load, beside GSO's rule on the same samples.
    Calibrate(commands::calibrate::CalibrateArgs),
    /// List and check tasks.
    #[command(subcommand)]
    Tasks(TasksCmd),
    /// Docker sandbox maintenance: build the base image, remove leftover containers.
    #[command(subcommand)]
    Sandbox(commands::sandbox::SandboxCmd),
    /// Turn a benchmark's dataset into task folders.
    #[command(subcommand)]
    Import(commands::import::ImportCmd),
}

#[derive(Subcommand)]
enum TasksCmd {
    /// List the tasks in a folder (default: ./tasks).
    List { dir: Option<PathBuf> },
    /// Validate tasks (a task folder, or a suite's folder): spec, source, build, the oracle and
    /// a no-op patch; reject a task whose expert is not significantly faster; a summary table (or
    /// --json) says which tasks are usable here and why the others are not.
    Check(Box<commands::tasks::CheckArgs>),
}

/// Options shared by every command that measures.
#[derive(Args, Clone, Debug)]
pub struct MeasureArgs {
    /// Timed repetitions per workload and tree (default: the task's measure.reps).
    #[arg(long)]
    pub reps: Option<usize>,
    /// Untimed warm-up runs per workload and tree.
    #[arg(long)]
    pub warmup: Option<usize>,
    /// What to measure: time (default: the task's) or instructions (valgrind callgrind).
    #[arg(long, value_parser = ["time", "instructions"])]
    pub metric: Option<String>,
    /// The clock that decides workload times: auto (default: the task's measure.clock, else
    /// CPU time for single-threaded work on the CPU, the reported seconds otherwise), reported,
    /// wall or cpu (docs/calibration.md).
    #[arg(long, value_parser = ["auto", "reported", "wall", "cpu"])]
    pub clock: Option<String>,
    /// Keep measuring until each speedup's 95% interval is within +-2% (or the budget is spent).
    #[arg(long)]
    pub adaptive: bool,
    /// Only workloads whose name contains this text (repeatable).
    #[arg(long = "workload")]
    pub workloads: Vec<String>,
    /// GSO's opt_commit threshold p.
    #[arg(long, default_value_t = 0.95)]
    pub p: f64,
    /// Significance level of the Mann-Whitney U test.
    #[arg(long, default_value_t = 0.01)]
    pub alpha: f64,
    /// Where commands run: local or docker (default: the task's [sandbox] backend, else local).
    #[arg(long)]
    pub sandbox: Option<String>,
    /// Docker image for --sandbox docker (default: the task's, else optagent/base:bookworm).
    #[arg(long)]
    pub image: Option<String>,
    /// CPUs to pin measured runs to (e.g. "1" or "2,3"), or "none"; default: the last CPU.
    #[arg(long)]
    pub pin: Option<String>,
    /// Folder for the trees (default: a temporary folder, removed afterwards).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Seed of the bootstrap intervals.
    #[arg(long, default_value_t = 0x5eed)]
    pub bootstrap_seed: u64,
    /// Run `device = "cuda"` tasks on the CPU where no GPU is found (their workloads get
    /// OPTAGENT_DEVICE=cpu and time on the host); without it such tasks are skipped.
    #[arg(long)]
    pub cpu_fallback: bool,
}

/// Makes a path argument absolute against the current folder (without touching the disk).
fn absolute(p: &mut PathBuf) -> anyhow::Result<()> {
    *p = std::path::absolute(&*p)
        .map_err(|e| anyhow::anyhow!("cannot resolve the path {}: {e}", p.display()))?;
    Ok(())
}

fn absolute_opt(p: &mut Option<PathBuf>) -> anyhow::Result<()> {
    p.as_mut().map_or(Ok(()), absolute)
}

impl MeasureArgs {
    fn resolve_paths(&mut self) -> anyhow::Result<()> {
        absolute_opt(&mut self.work_dir)
    }
}

impl Command {
    /// Every path on the command line made absolute, once, here: nothing below this layer
    /// depends on the current folder (a relative sweep file once made every rollout's diff fail).
    fn resolve_paths(&mut self) -> anyhow::Result<()> {
        match self {
            Command::Eval(a) => {
                absolute(&mut a.task)?;
                if !matches!(a.patch.as_str(), "oracle" | "nop") {
                    let mut p = PathBuf::from(&a.patch);
                    absolute(&mut p)?;
                    a.patch = p.to_string_lossy().into_owned();
                }
                a.measure.resolve_paths()
            }
            Command::Solve(a) => {
                absolute(&mut a.task)?;
                absolute_opt(&mut a.out)?;
                absolute_opt(&mut a.model_args.config)?;
                a.measure.resolve_paths()
            }
            Command::Sweep(c) => {
                use commands::sweep::SweepAction;
                match &mut c.action {
                    Some(SweepAction::Status { dir, .. }) | Some(SweepAction::Cancel { dir }) => {
                        absolute(dir)
                    }
                    None => {
                        let a = &mut c.args;
                        absolute_opt(&mut a.sweep_file)?;
                        absolute_opt(&mut a.model_args.config)?;
                        a.measure.resolve_paths()
                    }
                }
            }
            Command::SweepCell(c) => absolute(&mut c.plan),
            Command::Report(a) => {
                absolute(&mut a.results)?;
                absolute_opt(&mut a.out)
            }
            Command::Export(a) => {
                absolute(&mut a.results)?;
                absolute(&mut a.out)
            }
            Command::Leaderboard(a) => {
                a.merge.iter_mut().try_for_each(absolute)?;
                absolute(&mut a.file)?;
                absolute_opt(&mut a.out)
            }
            Command::Calibrate(a) => a.measure.resolve_paths(),
            Command::Tasks(TasksCmd::List { dir }) => absolute_opt(dir),
            Command::Tasks(TasksCmd::Check(a)) => {
                a.tasks.iter_mut().try_for_each(absolute)?;
                a.measure.resolve_paths()
            }
            Command::Import(c) => c.paths_mut().into_iter().try_for_each(absolute),
            Command::Sandbox(_) => Ok(()),
        }
    }
}

fn main() -> std::process::ExitCode {
    let mut cli = Cli::parse();
    if let Err(e) = cli.command.resolve_paths() {
        eprintln!("error: {}", exit::message(&e));
        return std::process::ExitCode::from(exit::USAGE);
    }
    if let Some(m) = &cli.mirrors {
        // Read where trees are made, in every layer; set before any thread starts. Made
        // absolute here, like every other path of the command line.
        let m = std::env::split_paths(m)
            .map(|p| std::path::absolute(&p).unwrap_or(p))
            .collect::<Vec<_>>();
        let m = std::env::join_paths(m)
            .map(|j| j.to_string_lossy().into_owned())
            .unwrap_or_default();
        let var = optagent_task::source::MIRRORS_VAR;
        let joined = match std::env::var(var) {
            Ok(old) if !old.is_empty() => format!("{m}:{old}"),
            _ => m,
        };
        std::env::set_var(var, joined);
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    // Commands run as this user: keep them from reading this process's environment (the
    // provider's key) from /proc/<pid>/environ.
    if let Err(e) = optagent_sandbox::protect_own_process() {
        tracing::warn!(error = %e, "cannot make optagent non-dumpable (PR_SET_DUMPABLE)");
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Eval(a) => commands::eval::run(a).await,
            Command::Solve(a) => commands::solve::run(*a).await,
            Command::Sandbox(c) => commands::sandbox::run(c).await,
            Command::Sweep(a) => commands::sweep::run(*a).await,
            Command::SweepCell(c) => commands::sweep::cell(c).await,
            Command::Report(a) => commands::sweep::report(a).await,
            Command::Export(a) => commands::sweep::export(a).await,
            Command::Leaderboard(a) => commands::leaderboard::run(a),
            Command::Calibrate(a) => commands::calibrate::run(a).await,
            Command::Tasks(TasksCmd::List { dir }) => commands::tasks::list(dir),
            Command::Tasks(TasksCmd::Check(a)) => commands::tasks::check(*a).await,
            Command::Import(c) => commands::import::run(c),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", exit::message(&e));
            exit::for_error(&e)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
