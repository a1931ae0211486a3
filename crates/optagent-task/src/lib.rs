//! Tasks and their trees.
//!
//! [`spec`] reads and validates a task folder's `task.toml` (see `docs/task-format.md`); [`tree`]
//! makes the git trees a task is measured on (from a bundled folder or a git repository at a base
//! revision), applies patches with the fallbacks GSO uses, resets protected files and takes diffs.
//! [`source`] finds where a remote git source is cloned from (a local mirror, else the network
//! through a shared cache); [`import`] turns benchmark datasets (GSO) into task folders.
//!
//! # Adding a task field
//!
//! 1. `src/spec.rs`: the field on the struct of its table ([`TaskSpec`] for top-level keys,
//!    [`spec::Build`], [`spec::Tests`], [`spec::Measure`], [`Workload`], [`spec::SandboxSpec`],
//!    ...), with a serde default so existing `task.toml` files still load (the tables deny
//!    unknown keys, so a misspelt field is an error naming the file and line), and its check in
//!    the matching `Task::check_*` step of validation (an error names the field).
//! 2. `docs/task-format.md`: the field's line in its table's section.
//! 3. The code that reads it from `task.spec`: usually `optagent-eval` (build, tests,
//!    measurement), or `optagent-agent` (what the model is shown, e.g. `prompts/task.md`).
//!
//! Nothing else builds a `TaskSpec`: the importers (`src/import/`) write `task.toml` text and
//! need the field only when an imported task should set it.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod import;
pub mod source;
pub mod spec;
pub mod tree;

pub use source::GitSources;
pub use spec::{
    Clock, Device, Expert, Metric, Protocol, Source, Task, TaskError, TaskSpec, UnknownClock,
    Workload,
};
pub use tree::{ApplyOutcome, Tree, TreeError};
