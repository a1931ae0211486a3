//! The agent's tools: what a model can call during a rollout, and the one place its calls are
//! checked, run and their output bounded.
//!
//! - [`Registry`] holds the tools, gives their JSON specs to the model ([`Registry::specs`]) and
//!   runs a call ([`Registry::dispatch`]). Every mistake the model can fix (an unknown tool, bad
//!   JSON, a missing field, a file that isn't there, an ambiguous edit) comes back as
//!   [`ToolError::Retry`] with a message saying what to do; [`ToolError::Fatal`] is kept for what
//!   the model cannot fix (the sandbox died, the run folder can't be written).
//! - [`ToolContext`] is what a tool sees: the rollout's sandbox (whose root is the workspace), a
//!   pristine base tree for differential profiles, the run folder for artifacts, the visible
//!   workloads, the task's environment, the evaluator's measurement ([`BenchRunner`]), limits.
//! - Every command a tool runs goes through the sandbox ([`optagent_sandbox::Sandbox::exec`]);
//!   files are read and edited on the host under the sandbox's root.
//! - Tool output is cut to `output_budget` characters in one place ([`truncate`]).
//!
//! Tools: `view`, `edit`, `search`, `profile`, `flamegraph`, `bench`, `shell`, `submit`. Their
//! descriptions and JSON Schemas live in the repository's `tools/<name>.json`, are embedded in the
//! binary, and can be replaced at run time by a folder named in `OPTAGENT_TOOLS_DIR`.

#![deny(clippy::print_stdout, clippy::print_stderr)]

mod context;
mod handlers;
mod paths;
pub mod profiling;
mod registry;
pub mod schema;
pub mod syntax;
pub mod truncate;

use std::path::PathBuf;

pub use context::{BenchRunner, ToolContext, WorkloadInfo};
pub use registry::Registry;
pub use schema::ToolSpecJson;

/// Why a tool call did not produce its output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// Something the model can fix: the message is given to it as the tool's output and the
    /// rollout goes on.
    #[error("{0}")]
    Retry(String),
    /// Something the model cannot fix: the turn ends.
    #[error("fatal tool error: {0}")]
    Fatal(String),
}

impl ToolError {
    pub fn retry(msg: impl Into<String>) -> Self {
        ToolError::Retry(msg.into())
    }
    pub fn fatal(msg: impl Into<String>) -> Self {
        ToolError::Fatal(msg.into())
    }
}

impl From<optagent_sandbox::SandboxError> for ToolError {
    fn from(e: optagent_sandbox::SandboxError) -> Self {
        ToolError::Fatal(format!("the sandbox failed: {e}"))
    }
}

/// What a tool call produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolOutput {
    /// The text given to the model (already cut to the output budget by [`Registry::dispatch`]).
    pub text: String,
    /// The model submitted: the rollout ends after this call.
    pub submit: bool,
    /// The summary given with `submit` (trimmed; `None` when absent or blank), so that the loop
    /// need not parse the call's arguments a second time.
    pub summary: Option<String>,
    /// Files the call wrote under the run folder (profiles, flamegraphs, full outputs).
    pub artifacts: Vec<PathBuf>,
}

impl ToolOutput {
    pub fn text(text: impl Into<String>) -> Self {
        ToolOutput {
            text: text.into(),
            ..Default::default()
        }
    }
}
