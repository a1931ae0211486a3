//! The agent: one rollout of a model working on a task.
//!
//! [`workspace`] prepares the rollout's tree and a pristine base tree; [`prompts`] renders the
//! system and task prompts from `prompts/`; [`budget`] tracks steps, tokens, cost and time and
//! tells the model what is left; [`context`] shortens old tool outputs when the conversation nears
//! the model's window; [`trajectory`] records everything as JSONL with secrets scrubbed;
//! [`bench`](mod@bench) lets the model's `bench` tool call the evaluator; [`rollout`] is the loop, and
//! [`turns`] what it does when a model or its server misbehaves (the real window, overflow, no
//! tool call), with [`textcalls`] (tool calls written as text) and [`degenerate`] (repeated text); [`judge`]
//! is the optional LLM judge of a scored patch.
//!
//! Extending the agent mostly happens elsewhere: a tool is added in `optagent-tools` (the loop
//! takes every tool from `optagent_tools::Registry::standard`), a provider in `optagent-model`'s
//! `providers.toml`, and what the model is told in the templates under `prompts/`.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod bench;
pub mod budget;
pub mod context;
pub mod degenerate;
pub mod judge;
pub mod prompts;
pub mod rollout;
pub mod roundprofile;
pub mod textcalls;
pub mod trajectory;
pub mod turns;
pub mod workspace;

pub use budget::Budget;
pub use rollout::{run_rollout, EndReason, RolloutConfig, RolloutOutcome};
