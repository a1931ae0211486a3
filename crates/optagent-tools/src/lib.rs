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
//! binary by each handler, and can be replaced at run time by a folder named in
//! `OPTAGENT_TOOLS_DIR`.
//!
//! # Adding a tool
//!
//! Three files, and nothing outside this crate (the agent takes every tool from
//! [`Registry::standard`]):
//!
//! 1. `tools/<name>.json` at the repository root: the name, the description the model reads, and
//!    the JSON Schema of the arguments (`"type": "object"` with `properties`).
//! 2. `src/handlers/<name>.rs`: a unit struct implementing the crate's `TypedTool` trait: `NAME`,
//!    `SPEC = include_str!("../../../../tools/<name>.json")`, `type Args` (a
//!    `#[derive(Deserialize)] #[serde(deny_unknown_fields)]` struct), `example()` (every property
//!    set) and `run`. Return [`ToolError::retry`] for what the model can fix and
//!    [`ToolError::fatal`] for what it cannot; run commands through the [`ToolContext`]'s sandbox.
//! 3. `src/handlers/mod.rs`: `mod <name>;` and one line in `all()`, whose order is the order the
//!    model sees.
//!
//! The registry's unit tests then check that the schema and the argument struct agree (every
//! property accepted, `required` ones required, unknown ones refused) and that every
//! `tools/*.json` has a handler. Telling the model when to use the tool is `prompts/system.md`'s
//! job (text, no code).

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

pub use context::{BenchError, BenchRunner, ToolContext, WorkloadInfo};
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
