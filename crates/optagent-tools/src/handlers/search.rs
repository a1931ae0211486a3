//! `search`: `text` (a regex over files, respecting .gitignore, with a glob filter),
//! `definitions` and `references` (tree-sitter, Python and C), `outline` (one file's structure).

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use regex::{Regex, RegexBuilder};
use serde::Deserialize;

use super::looks_binary;
use crate::paths::resolve;
use crate::registry::TypedTool;
use crate::syntax::{self, Lang};
use crate::{ToolContext, ToolError, ToolOutput};

pub(crate) struct Search;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    Text,
    #[serde(alias = "definition", alias = "defs")]
    Definitions,
    #[serde(alias = "refs", alias = "reference")]
    References,
    Outline,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchArgs {
    mode: Mode,
    pattern: Option<String>,
    path: Option<String>,
    glob: Option<String>,
    case_insensitive: Option<bool>,
    max_results: Option<usize>,
}

const DEFAULT_MAX: usize = 100;
const MAX_FILE_BYTES: u64 = 4 << 20;
const MAX_LINE_CHARS: usize = 240;

#[async_trait]
impl TypedTool for Search {
    const NAME: &'static str = "search";
    const SPEC: &'static str = include_str!("../../../../tools/search.json");
    type Args = SearchArgs;

    #[cfg(test)]
    fn example() -> serde_json::Value {
        serde_json::json!({
            "mode": "text", "pattern": "def ", "path": ".", "glob": "*.py",
            "case_insensitive": false, "max_results": 10
        })
    }

    async fn run(&self, ctx: &ToolContext, a: SearchArgs) -> Result<ToolOutput, ToolError> {
        let root = ctx.root().to_path_buf();
        let base = resolve(&root, a.path.as_deref().unwrap_or("."))?;
        if !base.abs.exists() {
            return Err(ToolError::retry(format!("`{}` does not exist.", base.rel)));
        }
        let root_c = crate::paths::canonical_root(&root)?;
        let glob = match a.glob.as_deref().filter(|g| !g.is_empty()) {
            Some(g) => Some(
                globset::GlobBuilder::new(g)
                    .literal_separator(false)
                    .build()
                    .map_err(|e| ToolError::retry(format!("invalid glob `{g}`: {e}")))?
                    .compile_matcher(),
            ),
            None => None,
        };
        let max = a.max_results.unwrap_or(DEFAULT_MAX).max(1);
        let ci = a.case_insensitive.unwrap_or(false);
        let pattern = a.pattern.clone().unwrap_or_default();
        let need_pattern = |what: &str| -> Result<(), ToolError> {
            if pattern.is_empty() {
                Err(ToolError::retry(format!("mode `{what}` needs `pattern`.")))
            } else {
                Ok(())
            }
        };
        let mode = a.mode;
        match mode {
            Mode::Text => need_pattern("text")?,
            Mode::Definitions => need_pattern("definitions")?,
            Mode::References => {
                need_pattern("references")?;
                if !pattern.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    return Err(ToolError::retry(format!(
                        "references looks for one identifier (letters, digits, _), got `{pattern}`; use mode `text` for other patterns."
                    )));
                }
            }
            Mode::Outline => {
                if !base.abs.is_file() {
                    return Err(ToolError::retry(
                        "mode `outline` needs `path`: a Python (.py) or C (.c, .h) file.",
                    ));
                }
            }
        }
        let base_abs = base.abs.clone();
        let base_rel = base.rel.clone();
        tokio::task::spawn_blocking(move || -> Result<ToolOutput, ToolError> {
            let text = match mode {
                Mode::Text => {
                    let re = RegexBuilder::new(&pattern)
                        .case_insensitive(ci)
                        .size_limit(1 << 24)
                        .build()
                        .map_err(|e| {
                            ToolError::retry(format!(
                                "invalid regex `{pattern}`: {e}\n(escape metacharacters such as ( [ . * + ? with a backslash to match them literally)"
                            ))
                        })?;
                    search_text(&root_c, &base_abs, glob.as_ref(), &re, max)
                }
                Mode::Definitions => {
                    let anchored = format!("^(?:{pattern})$");
                    let re = RegexBuilder::new(&anchored)
                        .case_insensitive(ci)
                        .build()
                        .map_err(|e| ToolError::retry(format!("invalid name pattern `{pattern}`: {e}")))?;
                    let literal = pattern.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.');
                    search_definitions(&root_c, &base_abs, glob.as_ref(), &re, literal.then_some(&pattern), max)
                }
                Mode::References => search_references(&root_c, &base_abs, glob.as_ref(), &pattern, max),
                Mode::Outline => outline(&base_abs, &base_rel)?,
            };
            Ok(ToolOutput::text(text))
        })
        .await
        .map_err(|e| ToolError::fatal(format!("search task failed: {e}")))?
    }
}

/// Text files under `base` (a file or directory), respecting .gitignore, skipping .git and
/// binary or huge files, filtered by `glob` on the path relative to `root`.
fn files(root: &Path, base: &Path, glob: Option<&globset::GlobMatcher>) -> Vec<(PathBuf, String)> {
    let walker = ignore::WalkBuilder::new(base)
        .hidden(false)
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|e| {
            e.file_name() != ".git"
                && !e
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".optagent-profile-")
        })
        .build();
    let mut out = Vec::new();
    for entry in walker.flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        if entry
            .metadata()
            .map(|m| m.len() > MAX_FILE_BYTES)
            .unwrap_or(true)
        {
            continue;
        }
        let path = entry.into_path();
        let rel = path
            .strip_prefix(root)
            .map(|r| r.to_string_lossy().into_owned())
            .unwrap_or_else(|_| path.to_string_lossy().into_owned());
        if let Some(g) = glob {
            let name_matches = path.file_name().is_some_and(|n| g.is_match(n));
            if !g.is_match(&rel) && !name_matches {
                continue;
            }
        }
        out.push((path, rel));
    }
    out
}

fn read_text(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    if looks_binary(&bytes) {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn clip(line: &str) -> String {
    let t = line.trim_end();
    if t.chars().count() > MAX_LINE_CHARS {
        t.chars().take(MAX_LINE_CHARS).collect::<String>() + "…"
    } else {
        t.to_string()
    }
}

fn footer(out: &mut String, shown: usize, total: usize, max: usize, what: &str) {
    if total == 0 {
        out.push_str(&format!("No {what} found.\n"));
    } else if total > shown {
        out.push_str(&format!(
            "[{shown} of {total} {what} shown (max_results={max}); narrow the search with path or glob.]\n"
        ));
    } else {
        out.push_str(&format!("[{total} {what}]\n"));
    }
}

fn search_text(
    root: &Path,
    base: &Path,
    glob: Option<&globset::GlobMatcher>,
    re: &Regex,
    max: usize,
) -> String {
    let mut out = String::new();
    let mut total = 0usize;
    let mut shown = 0usize;
    for (path, rel) in files(root, base, glob) {
        let Some(text) = read_text(&path) else {
            continue;
        };
        if !re.is_match(&text) {
            continue;
        }
        for (i, line) in text.lines().enumerate() {
            if re.is_match(line) {
                total += 1;
                if shown < max {
                    shown += 1;
                    out.push_str(&format!("{rel}:{}: {}\n", i + 1, clip(line)));
                }
            }
        }
    }
    footer(&mut out, shown, total, max, "matches");
    out
}

fn search_definitions(
    root: &Path,
    base: &Path,
    glob: Option<&globset::GlobMatcher>,
    re: &Regex,
    literal: Option<&String>,
    max: usize,
) -> String {
    let mut out = String::new();
    let mut total = 0usize;
    let mut shown = 0usize;
    let mut parsed = 0usize;
    for (path, rel) in files(root, base, glob) {
        let Some(lang) = Lang::from_path(&path) else {
            continue;
        };
        let Some(text) = read_text(&path) else {
            continue;
        };
        if let Some(lit) = literal {
            let last = lit.rsplit('.').next().unwrap_or(lit);
            if !text.contains(last) {
                continue;
            }
        }
        parsed += 1;
        for d in syntax::definitions(lang, &text) {
            if re.is_match(&d.name) || re.is_match(&d.qualified) {
                total += 1;
                if shown < max {
                    shown += 1;
                    out.push_str(&format!(
                        "{rel}:{}-{}  {} {}\n    {}\n",
                        d.line, d.end_line, d.kind, d.qualified, d.signature
                    ));
                }
            }
        }
    }
    if total == 0 && parsed == 0 {
        out.push_str("(no Python or C file to search here; definitions understands .py, .pyi, .c and .h files: try mode `text`)\n");
    }
    footer(&mut out, shown, total, max, "definitions");
    out
}

fn search_references(
    root: &Path,
    base: &Path,
    glob: Option<&globset::GlobMatcher>,
    name: &str,
    max: usize,
) -> String {
    let mut out = String::new();
    let mut total = 0usize;
    let mut shown = 0usize;
    for (path, rel) in files(root, base, glob) {
        let Some(lang) = Lang::from_path(&path) else {
            continue;
        };
        let Some(text) = read_text(&path) else {
            continue;
        };
        if !text.contains(name) {
            continue;
        }
        let lines: Vec<&str> = text.lines().collect();
        for r in syntax::references(lang, &text, name) {
            total += 1;
            if shown < max {
                shown += 1;
                let line = lines.get(r.line - 1).copied().unwrap_or("");
                let tag = if r.is_definition {
                    "  [definition]"
                } else {
                    ""
                };
                out.push_str(&format!(
                    "{rel}:{}:{}: {}{tag}\n",
                    r.line,
                    r.column,
                    clip(line.trim_start())
                ));
            }
        }
    }
    footer(&mut out, shown, total, max, "references");
    out
}

fn outline(path: &Path, rel: &str) -> Result<String, ToolError> {
    let lang = Lang::from_path(path).ok_or_else(|| {
        ToolError::retry(format!(
            "outline understands Python (.py, .pyi) and C (.c, .h) files; `{rel}` is neither. Use view instead."
        ))
    })?;
    let text =
        read_text(path).ok_or_else(|| ToolError::retry(format!("cannot read `{rel}` as text")))?;
    let defs = syntax::definitions(lang, &text);
    let mut out = format!("{rel} ({} lines)\n", text.lines().count());
    if defs.is_empty() {
        out.push_str("  (no definitions)\n");
    }
    for d in defs {
        let range = format!("L{}-{}", d.line, d.end_line);
        // A Python signature already says what it is (`class Graph:`, `def f(x):`); a C one
        // (`int f(int x)`) does not, so its kind is printed before it.
        let first = d.signature.split_whitespace().next().unwrap_or("");
        let kind = if matches!(first, "class" | "def" | "async") {
            String::new()
        } else {
            format!("{} ", d.kind)
        };
        out.push_str(&format!(
            "  {range:<12}{}{kind}{}\n",
            "  ".repeat(d.depth),
            d.signature
        ));
    }
    Ok(out)
}
