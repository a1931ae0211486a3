//! Solving tasks: one task by K rollouts of the agent ([`solve()`]), many by a sweep ([`sweep`]).
//! A rollout (one run of the agent, `optagent_agent::rollout`) is the agent crate's; this crate
//! runs several, selects, merges and records them.
//!
//! [`solve()`] runs K rollouts of one model on one task, P at a time, each in its own trees, then
//! verifies every candidate patch with the evaluator in one interleaved session and keeps the best
//! verified one, saying why each other candidate lost; with `--merge` it also combines verified
//! patches that improve different workloads ([`merge`]), with `--rounds` each round starts from
//! the best verified patch so far, and with `--diversify` each rollout gets a strategy prompt.
//! [`sweep`] runs models x tasks x K x budgets,
//! appending a record per rollout as it finishes, resuming where a killed sweep stopped; [`lock`]
//! keeps a second sweep off an output folder in use; [`slurm`] runs a sweep as a Slurm array job, one
//! rollout per element ([`sweep::run_cell`]).

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod lock;
pub mod merge;
pub mod select;
pub mod slurm;
pub mod solve;
pub mod sweep;
pub mod sweep_config;

pub use select::{select_best, Choice, Selection};
pub use solve::{solve, SolveConfig, SolveReport};
pub use sweep_config::{BudgetSpec, ExecutorSpec, SweepConfig, SweepModel};
