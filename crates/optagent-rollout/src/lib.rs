//! Rollouts and sweeps.
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

pub use select::{select_best, Choice, Selection};
pub use solve::{solve, SolveConfig, SolveReport};
