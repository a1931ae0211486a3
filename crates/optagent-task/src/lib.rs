//! Tasks and their trees.
//!
//! [`spec`] reads and validates a task folder's `task.toml` (see `docs/task-format.md`); [`tree`]
//! makes the git trees a task is measured on (from a bundled folder or a git repository at a base
//! revision), applies patches with the fallbacks GSO uses, resets protected files and takes diffs.
//! [`source`] finds where a remote git source is cloned from (a local mirror, else the network
//! through a shared cache); [`import`] turns benchmark datasets (GSO) into task folders.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod import;
pub mod source;
pub mod spec;
pub mod tree;

pub use source::GitSources;
pub use spec::{
    Clock, Device, Expert, Metric, Protocol, Source, Task, TaskError, TaskSpec, Workload,
};
pub use tree::{ApplyOutcome, Tree, TreeError};
