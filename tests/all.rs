//! optagent's cross-crate integration suite: one test binary, as codex-rs does (`mod suite`).

#![allow(clippy::print_stderr)]

mod suite;
