//! `edit`: `replace` (old_str must occur exactly once), `insert` (after line N), `create` (a new
//! file; an existing one only with `overwrite`), `undo` (the last edit of that file). Paths stay
//! inside the workspace (see `paths`). Each edit answers with the changed region, numbered.

use async_trait::async_trait;
use serde::Deserialize;

use super::{looks_binary, numbered};
use crate::paths::{resolve, WsPath};
use crate::registry::TypedTool;
use crate::{ToolContext, ToolError, ToolOutput};

pub(crate) struct Edit;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EditCommand {
    #[serde(alias = "str_replace")]
    Replace,
    Insert,
    Create,
    #[serde(alias = "undo_edit")]
    Undo,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EditArgs {
    command: EditCommand,
    path: String,
    old_str: Option<String>,
    new_str: Option<String>,
    insert_line: Option<usize>,
    file_text: Option<String>,
    overwrite: Option<bool>,
}

const CONTEXT: usize = 4;

#[async_trait]
impl TypedTool for Edit {
    const NAME: &'static str = "edit";
    const SPEC: &'static str = include_str!("../../../../tools/edit.json");
    type Args = EditArgs;

    #[cfg(test)]
    fn example() -> serde_json::Value {
        serde_json::json!({
            "command": "replace", "path": "a.py", "old_str": "x = 1", "new_str": "x = 2",
            "insert_line": 0, "file_text": "", "overwrite": false
        })
    }

    async fn run(&self, ctx: &ToolContext, a: EditArgs) -> Result<ToolOutput, ToolError> {
        let p = resolve(ctx.root(), &a.path)?;
        if p.abs.is_dir() {
            return Err(ToolError::retry(format!(
                "`{}` is a directory; edit works on files.",
                p.rel
            )));
        }
        match a.command {
            EditCommand::Replace => replace(ctx, &p, a.old_str, a.new_str),
            EditCommand::Insert => insert(ctx, &p, a.insert_line, a.new_str),
            EditCommand::Create => create(ctx, &p, a.file_text, a.overwrite.unwrap_or(false)),
            EditCommand::Undo => undo(ctx, &p),
        }
    }
}

fn read_text(p: &WsPath) -> Result<String, ToolError> {
    let bytes = std::fs::read(&p.abs).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ToolError::retry(format!(
                "`{}` does not exist. Check the path with view or search, or use command `create` for a new file.",
                p.rel
            ))
        } else {
            ToolError::retry(format!("cannot read `{}`: {e}", p.rel))
        }
    })?;
    if looks_binary(&bytes) {
        return Err(ToolError::retry(format!(
            "`{}` is a binary file; edit works on text files.",
            p.rel
        )));
    }
    String::from_utf8(bytes).map_err(|_| {
        ToolError::retry(format!(
            "`{}` is not UTF-8 text; edit cannot change it safely.",
            p.rel
        ))
    })
}

/// Write `new` to the file, remembering `old` for undo.
fn commit(ctx: &ToolContext, p: &WsPath, old: Option<String>, new: &str) -> Result<(), ToolError> {
    if let Some(parent) = p.abs.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            ToolError::retry(format!("cannot create the folder of `{}`: {e}", p.rel))
        })?;
    }
    std::fs::write(&p.abs, new)
        .map_err(|e| ToolError::retry(format!("cannot write `{}`: {e}", p.rel)))?;
    ctx.state()
        .edits
        .entry(p.rel.clone())
        .or_default()
        .push(old);
    Ok(())
}

/// The changed lines of `new` (1-based, inclusive) compared with `old`.
fn changed_range(old: &str, new: &str) -> Option<(usize, usize)> {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut first = usize::MAX;
    let mut last = 0;
    for op in diff.ops() {
        if op.tag() == similar::DiffTag::Equal {
            continue;
        }
        let r = op.new_range();
        first = first.min(r.start + 1);
        last = last.max(r.end.max(r.start + 1));
    }
    (first != usize::MAX).then_some((first, last))
}

/// The changed region of `new` with a few lines around it.
fn snippet(rel: &str, old: &str, new: &str) -> String {
    let n = new.lines().count();
    let Some((first, last)) = changed_range(old, new) else {
        return format!("`{rel}` is unchanged.\n");
    };
    let from = first.saturating_sub(CONTEXT).max(1);
    let to = (last + CONTEXT).min(n);
    if n == 0 {
        return format!("`{rel}` is now empty.\n");
    }
    format!(
        "Lines {from}-{to} of `{rel}` ({n} lines) now read:\n{}",
        numbered(new, from, to)
    )
}

fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn line_of(text: &str, byte: usize) -> usize {
    text[..byte].matches('\n').count() + 1
}

fn replace(
    ctx: &ToolContext,
    p: &WsPath,
    old_str: Option<String>,
    new_str: Option<String>,
) -> Result<ToolOutput, ToolError> {
    let content = read_text(p)?;
    let mut old_str = old_str.filter(|s| !s.is_empty()).ok_or_else(|| {
        ToolError::retry("`replace` needs `old_str`: the exact, non-empty text to replace (copy it from view's output, without the line numbers).")
    })?;
    let mut new_str = new_str.ok_or_else(|| {
        ToolError::retry(
            "`replace` needs `new_str`: the text to put instead (\"\" to delete old_str).",
        )
    })?;
    // Files with CRLF line ends: match the model's LF text against them.
    if content.contains("\r\n") && !old_str.contains("\r\n") && !content.contains(&old_str) {
        old_str = old_str.replace('\n', "\r\n");
        new_str = new_str.replace('\n', "\r\n");
    }
    let positions: Vec<usize> = content.match_indices(&old_str).map(|(i, _)| i).collect();
    match positions.len() {
        0 => {
            let mut msg = format!("old_str was not found in `{}`; nothing was changed.", p.rel);
            if collapse_ws(&content).contains(&collapse_ws(&old_str)) {
                msg.push_str(" It matches only when whitespace is ignored: check indentation, tabs and line breaks against view's output.");
            } else if let Some(first) = old_str.lines().map(str::trim).find(|l| !l.is_empty()) {
                let lines: Vec<String> = content
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| l.contains(first))
                    .map(|(i, _)| (i + 1).to_string())
                    .take(10)
                    .collect();
                if lines.is_empty() {
                    msg.push_str(" View the file and copy the text exactly.");
                } else {
                    msg.push_str(&format!(
                        " Its first line occurs at line(s) {}; view them and copy the whole text exactly.",
                        lines.join(", ")
                    ));
                }
            }
            Err(ToolError::retry(msg))
        }
        1 => {
            let new_content = content.replacen(&old_str, &new_str, 1);
            commit(ctx, p, Some(content.clone()), &new_content)?;
            Ok(ToolOutput::text(format!(
                "Replaced 1 occurrence in `{}`.\n{}",
                p.rel,
                snippet(&p.rel, &content, &new_content)
            )))
        }
        n => {
            let lines: Vec<String> = positions
                .iter()
                .take(20)
                .map(|&i| line_of(&content, i).to_string())
                .collect();
            Err(ToolError::retry(format!(
                "old_str occurs {n} times in `{}` (at lines {}); nothing was changed. Include more surrounding lines in old_str so that it occurs exactly once.",
                p.rel,
                lines.join(", ")
            )))
        }
    }
}

fn insert(
    ctx: &ToolContext,
    p: &WsPath,
    insert_line: Option<usize>,
    new_str: Option<String>,
) -> Result<ToolOutput, ToolError> {
    let content = read_text(p)?;
    let at = insert_line.ok_or_else(|| {
        ToolError::retry("`insert` needs `insert_line`: the line after which new_str goes (0 for the top of the file).")
    })?;
    let mut text =
        new_str.ok_or_else(|| ToolError::retry("`insert` needs `new_str`: the text to insert."))?;
    let lines: Vec<&str> = content.split_inclusive('\n').collect();
    if at > lines.len() {
        return Err(ToolError::retry(format!(
            "insert_line {at} is past the end of `{}`, which has {} lines (use {} to append).",
            p.rel,
            lines.len(),
            lines.len()
        )));
    }
    let nl = if content.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push_str(nl);
    }
    let mut new_content = String::with_capacity(content.len() + text.len() + 1);
    for l in &lines[..at] {
        new_content.push_str(l);
    }
    if at > 0 && !new_content.is_empty() && !new_content.ends_with('\n') {
        new_content.push_str(nl);
    }
    new_content.push_str(&text);
    for l in &lines[at..] {
        new_content.push_str(l);
    }
    commit(ctx, p, Some(content.clone()), &new_content)?;
    Ok(ToolOutput::text(format!(
        "Inserted {} line(s) after line {at} of `{}`.\n{}",
        text.lines().count(),
        p.rel,
        snippet(&p.rel, &content, &new_content)
    )))
}

fn create(
    ctx: &ToolContext,
    p: &WsPath,
    file_text: Option<String>,
    overwrite: bool,
) -> Result<ToolOutput, ToolError> {
    let text = file_text.ok_or_else(|| {
        ToolError::retry("`create` needs `file_text`: the whole content of the new file.")
    })?;
    let old = if p.abs.exists() {
        if !overwrite {
            let n = std::fs::read_to_string(&p.abs)
                .map(|s| s.lines().count())
                .unwrap_or(0);
            return Err(ToolError::retry(format!(
                "`{}` already exists ({n} lines); nothing was changed. Change it with `replace` or `insert`, or pass overwrite: true to replace it whole.",
                p.rel
            )));
        }
        Some(read_text(p)?)
    } else {
        None
    };
    commit(ctx, p, old.clone(), &text)?;
    let n = text.lines().count();
    let verb = if old.is_some() {
        "Overwrote"
    } else {
        "Created"
    };
    let shown = if n <= 40 {
        numbered(&text, 1, n)
    } else {
        format!("{}  ... ({} more lines)\n", numbered(&text, 1, 20), n - 20)
    };
    Ok(ToolOutput::text(format!(
        "{verb} `{}` ({n} lines).\n{shown}",
        p.rel
    )))
}

fn undo(ctx: &ToolContext, p: &WsPath) -> Result<ToolOutput, ToolError> {
    let prev = ctx.state().edits.get_mut(&p.rel).and_then(|h| h.pop());
    let Some(prev) = prev else {
        return Err(ToolError::retry(format!(
            "There is no edit of `{}` to undo (only changes made with the edit tool can be undone).",
            p.rel
        )));
    };
    let current = std::fs::read_to_string(&p.abs).unwrap_or_default();
    match prev {
        None => {
            std::fs::remove_file(&p.abs)
                .map_err(|e| ToolError::retry(format!("cannot remove `{}`: {e}", p.rel)))?;
            Ok(ToolOutput::text(format!(
                "Undid the creation of `{}`: the file is removed.",
                p.rel
            )))
        }
        Some(old) => {
            std::fs::write(&p.abs, &old)
                .map_err(|e| ToolError::retry(format!("cannot write `{}`: {e}", p.rel)))?;
            let left = ctx.state().edits.get(&p.rel).map(|h| h.len()).unwrap_or(0);
            Ok(ToolOutput::text(format!(
                "Undid the last edit of `{}` ({left} earlier edit(s) can still be undone).\n{}",
                p.rel,
                snippet(&p.rel, &current, &old)
            )))
        }
    }
}
