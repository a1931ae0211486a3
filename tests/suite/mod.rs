//! Integration tests, one module per area.

mod common;
mod eval_bad_input;
mod eval_bundled;
