//! optagent's cross-crate integration suite: one test binary, as codex-rs does (`mod suite`).

mod suite;
