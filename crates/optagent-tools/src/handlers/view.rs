//! `view`: a file with line numbers (optionally a line range), or a directory listing two levels
//! deep that skips `.git` and what `.gitignore` ignores. Absolute paths under the run folder
//! (saved outputs, profiles) can be read too.

use std::path::Path;

use async_trait::async_trait;
use serde::Deserialize;

use super::{looks_binary, numbered};
use crate::paths::{inside_dir, resolve};
use crate::registry::TypedTool;
use crate::{ToolContext, ToolError, ToolOutput};

pub(crate) struct View;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ViewArgs {
    path: String,
    start_line: Option<usize>,
    end_line: Option<i64>,
}

const MAX_ENTRIES: usize = 400;

#[async_trait]
impl TypedTool for View {
    const NAME: &'static str = "view";
    const SPEC: &'static str = include_str!("../../../../tools/view.json");
    type Args = ViewArgs;

    #[cfg(test)]
    fn example() -> serde_json::Value {
        serde_json::json!({"path": "src/main.py", "start_line": 1, "end_line": 40})
    }

    async fn run(&self, ctx: &ToolContext, a: ViewArgs) -> Result<ToolOutput, ToolError> {
        let (abs, shown) = match inside_dir(&ctx.run_dir, &a.path) {
            Some(p) => (p.clone(), p.display().to_string()),
            None => {
                let p = resolve(ctx.root(), &a.path)?;
                (p.abs, p.rel)
            }
        };
        let meta = std::fs::metadata(&abs).map_err(|_| {
            ToolError::retry(format!(
                "`{shown}` does not exist. Use view on `.` or a directory to see what is there, or search to find a file."
            ))
        })?;
        if meta.is_dir() {
            if a.start_line.is_some() || a.end_line.is_some() {
                return Err(ToolError::retry(format!(
                    "`{shown}` is a directory: start_line/end_line apply to files only."
                )));
            }
            return Ok(ToolOutput::text(list_dir(&abs, &shown)));
        }
        let bytes = std::fs::read(&abs)
            .map_err(|e| ToolError::retry(format!("cannot read `{shown}`: {e}")))?;
        if looks_binary(&bytes) {
            return Ok(ToolOutput::text(format!(
                "`{shown}` is a binary file ({} bytes); not shown.",
                bytes.len()
            )));
        }
        let text = String::from_utf8_lossy(&bytes);
        let n_lines = text.lines().count();
        if n_lines == 0 {
            return Ok(ToolOutput::text(format!("`{shown}` is empty.")));
        }
        let start = a.start_line.unwrap_or(1).max(1);
        let end = match a.end_line {
            None | Some(-1) => n_lines,
            Some(e) if e < 1 => {
                return Err(ToolError::retry(format!(
                    "end_line must be a line number (1..={n_lines}) or -1 for the end of the file, got {e}."
                )))
            }
            Some(e) => (e as usize).min(n_lines),
        };
        if start > n_lines {
            return Err(ToolError::retry(format!(
                "start_line {start} is past the end of `{shown}`, which has {n_lines} lines."
            )));
        }
        if end < start {
            return Err(ToolError::retry(format!(
                "end_line {end} is before start_line {start}."
            )));
        }
        let header = if start == 1 && end == n_lines {
            format!("{shown} ({n_lines} lines)\n")
        } else {
            format!("{shown} (lines {start}-{end} of {n_lines})\n")
        };
        Ok(ToolOutput::text(header + &numbered(&text, start, end)))
    }
}

fn list_dir(dir: &Path, shown: &str) -> String {
    let walker = ignore::WalkBuilder::new(dir)
        .max_depth(Some(2))
        .hidden(false)
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|e| e.file_name() != ".git")
        .build();
    let mut lines = Vec::new();
    let mut more = 0usize;
    for entry in walker.flatten() {
        if entry.depth() == 0 {
            continue;
        }
        if lines.len() >= MAX_ENTRIES {
            more += 1;
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        let indent = "  ".repeat(entry.depth() - 1);
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        lines.push(format!("{indent}{name}{}", if is_dir { "/" } else { "" }));
    }
    let mut out = format!("{}/\n", shown.trim_end_matches('/'));
    for l in &lines {
        out.push_str("  ");
        out.push_str(l);
        out.push('\n');
    }
    if lines.is_empty() {
        out.push_str("  (empty)\n");
    }
    if more > 0 {
        out.push_str(&format!(
            "  ... and {more} more entries; view a subdirectory.\n"
        ));
    }
    out
}
