//! Test modules of the rollout crate.

mod common;
mod select;
mod sweep;
