//! Test modules of the command-line crate, one per command or area; `common` holds the helpers.

mod beyond;
mod common;
mod import;
mod import_asv;
mod import_swefficiency;
mod judge;
mod kernelbench;
mod kernelbench_check;
mod leaderboard;
mod models;
mod real_tasks;
mod secrets;
mod slurm;
mod solve;
mod sweep;
mod tasks;
