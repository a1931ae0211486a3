//! The crate's integration tests, built into one binary.

mod suite;
