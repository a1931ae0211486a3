//! Test modules of the rollout crate.

mod common;
mod merge_beats;
mod select;
mod sweep;
