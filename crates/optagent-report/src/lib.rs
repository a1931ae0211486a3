//! `optagent-report`: what a sweep leaves behind and what is made of it.
//!
//! - [`record`]: the results file format, one [`RolloutRecord`] per JSONL line
//!   ([`read_records`], [`append_record`], [`record_key`] for resuming).
//! - [`summary`]: per-configuration summaries ([`summarize`]): GSO Opt@1 / Opt@K and the
//!   bootstrap Opt@k curve, geometric-mean speedup, SWE-fficiency speedup ratio, FormulaCode
//!   advantage, KernelBench's fast_p, pass rate, cost; and per-task rows.
//! - [`render`] and [`svg`]: `report.md`, `report.json`, a self-contained `report.html` and four
//!   SVG plots drawn with `plotters` ([`write_report`]).
//! - [`predictions`](mod@predictions): the JSONL prediction format GSO and SWE-fficiency take
//!   ([`export_predictions`]).
//! - [`leaderboard`]: `evals/leaderboard.toml` ([`load_leaderboard`], [`leaderboard_add`],
//!   [`leaderboard_merge`] of a sweep's [`sweep_entries`] (`optagent leaderboard`),
//!   [`render_leaderboard_md`]).
//!
//! The metric formulas are `optagent_stats::scoring`'s; this crate only gathers and aggregates.
//! It never prints: warnings go through `tracing`.
//!
//! # Adding a metric
//!
//! A metric here is a scoring rule reported per configuration (like Opt@K or the speedup
//! ratio), not [`optagent_task::Metric`] (what a workload's cost is measured in). Three files:
//!
//! 1. `crates/optagent-stats/src/scoring.rs`: the formula, a pure function with its unit test.
//! 2. `src/summary.rs`: a field on [`ConfigSummary`] filled in `config_summary` (from the task
//!    rows and the rollouts), and on [`TaskRow`] filled in `task_row` when it has a per-task
//!    value. `report.json` carries it from there (`Serialize`).
//! 3. `src/render.rs`: a column in `leaderboard_table`, the summary table `report.md` and
//!    `report.html` both draw.
//!
//! A plot of it goes in `src/svg.rs`; `evals/leaderboard.toml` keeps only the columns
//! `leaderboard::sweep_entries` picks.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod error;
pub mod leaderboard;
pub mod modes;
pub mod predictions;
pub mod record;
pub mod render;
pub mod summary;
pub mod svg;
mod tomlsrc;

pub use error::{ReportError, Result};
pub use leaderboard::{
    leaderboard_add, leaderboard_merge, load_leaderboard, render_leaderboard_md, sweep_entries,
    Benchmark, Bound, FastPFigures, LeaderboardEntry, Merged,
};
pub use predictions::{export_predictions, predictions, Pick, Prediction};
pub use record::{
    append_record, completed_keys, read_records, read_records_detailed, read_sweep_records,
    record_key, write_record_file, Placement, RecordKey, RolloutRecord, RolloutStatus,
};
pub use render::{
    headline_text, write_report, write_report_analyzed, write_report_with, ReportOptions,
    ReportPaths,
};
pub use summary::{
    analyze, summarize, task_rows, Analysis, ConfigKey, ConfigSummary, CurvePoint, FastPShare,
    TaskRow, BOOTSTRAP_TRIALS, DEFAULT_SEED,
};
