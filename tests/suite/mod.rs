//! Integration tests, one module per area.

mod common;
mod docker;
mod equiv_rules;
mod eval_bad_input;
mod eval_bundled;
mod eval_modes;
mod integrity_hacks;
mod score_rules;
