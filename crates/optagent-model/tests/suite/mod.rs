//! Test modules of the model crate.

mod common;
mod http;
mod replay;
mod spec_config;
mod window;
