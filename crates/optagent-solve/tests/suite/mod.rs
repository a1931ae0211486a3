//! Test modules of the solve crate.

mod common;
mod merge_beats;
mod select;
mod sweep;
mod sweep_config;
