//! One handler per tool, each with its typed arguments. [`all`] lists them for the registry.

mod bench;
mod edit;
mod flamegraph;
mod profile;
mod search;
mod shell;
mod submit;
mod view;

use crate::registry::{DynTool, Typed};

/// Every tool, in the order the model sees them.
pub(crate) fn all() -> Vec<Box<dyn DynTool>> {
    vec![
        Box::new(Typed(view::View)),
        Box::new(Typed(edit::Edit)),
        Box::new(Typed(search::Search)),
        Box::new(Typed(shell::Shell)),
        Box::new(Typed(profile::Profile)),
        Box::new(Typed(flamegraph::Flamegraph)),
        Box::new(Typed(bench::Bench)),
        Box::new(Typed(submit::Submit)),
    ]
}

/// Lines `from..=to` (1-based) of `text`, numbered like `cat -n`.
pub(crate) fn numbered(text: &str, from: usize, to: usize) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if n < from {
            continue;
        }
        if n > to {
            break;
        }
        out.push_str(&format!("{n:>6}\t{line}\n"));
    }
    out
}

/// Whether bytes look binary (a NUL in the first 8 KiB).
pub(crate) fn looks_binary(bytes: &[u8]) -> bool {
    bytes.iter().take(8192).any(|&b| b == 0)
}
