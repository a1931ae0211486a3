//! Test modules of the sandbox crate.

mod docker;
