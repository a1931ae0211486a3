//! The one place tool output is cut to the model's budget: the head and the tail are kept (whole
//! lines where possible), and a marker says how many lines and bytes were left out. When much is
//! left out the full text is saved under the run folder and its path given.

use std::path::PathBuf;

use crate::{ToolContext, ToolError};

/// A text cut to a budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncated {
    pub text: String,
    /// Lines left out (counting a partly kept line as left out).
    pub omitted_lines: usize,
    /// Bytes left out.
    pub omitted_bytes: usize,
}

/// Cut `text` to at most about `budget` characters, keeping its head and tail.
pub fn truncate(text: &str, budget: usize) -> Truncated {
    if text.chars().count() <= budget {
        return Truncated {
            text: text.to_string(),
            omitted_lines: 0,
            omitted_bytes: 0,
        };
    }
    // Room for the marker, then 40% head and 60% tail (errors and summaries tend to be at the end).
    let room = budget.saturating_sub(100).max(2);
    let head_budget = room * 2 / 5;
    let tail_budget = room - head_budget;

    let head_end = cut_head(text, head_budget);
    let tail_start = cut_tail(&text[head_end..], tail_budget) + head_end;
    let omitted = &text[head_end..tail_start];
    let omitted_lines = if omitted.is_empty() {
        0
    } else {
        // Lines touched by the omitted span.
        let starts_mid = head_end > 0 && !text[..head_end].ends_with('\n');
        omitted.matches('\n').count() + usize::from(!omitted.ends_with('\n') || starts_mid)
    };
    let mut out = String::with_capacity(budget + 100);
    out.push_str(&text[..head_end]);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!(
        "[... {omitted_lines} lines ({} bytes) omitted ...]\n",
        omitted.len()
    ));
    out.push_str(&text[tail_start..]);
    Truncated {
        text: out,
        omitted_lines,
        omitted_bytes: omitted.len(),
    }
}

/// The end of the longest head of whole lines within `budget` chars (a cut line if the first
/// line alone is longer).
fn cut_head(text: &str, budget: usize) -> usize {
    let mut end = 0;
    let mut chars = 0;
    for line in text.split_inclusive('\n') {
        let n = line.chars().count();
        if chars + n > budget {
            if end == 0 {
                return char_boundary_after(text, budget);
            }
            break;
        }
        chars += n;
        end += line.len();
    }
    end
}

/// The start of the longest tail of whole lines within `budget` chars.
fn cut_tail(text: &str, budget: usize) -> usize {
    let mut start = text.len();
    let mut chars = 0;
    for line in text.split_inclusive('\n').rev() {
        let n = line.chars().count();
        if chars + n > budget {
            if start == text.len() {
                // The last line alone is too long: keep its end.
                let total = text.chars().count();
                return char_boundary_after(text, total.saturating_sub(budget));
            }
            break;
        }
        chars += n;
        start -= line.len();
    }
    start
}

/// The byte index of the `n`th char (or the end).
fn char_boundary_after(text: &str, n: usize) -> usize {
    text.char_indices()
        .nth(n)
        .map(|(i, _)| i)
        .unwrap_or(text.len())
}

/// A text cut for the model, and where the full text was saved if it was.
#[derive(Debug, Clone)]
pub(crate) struct ForModel {
    pub text: String,
    pub saved: Option<PathBuf>,
}

/// Cut a tool's output to `ctx.output_budget`; when it is more than twice the budget, save the
/// whole text under `run_dir/tool-outputs/` and say where (within the budget).
pub(crate) fn truncate_for_model(
    ctx: &ToolContext,
    tool: &str,
    text: &str,
) -> Result<ForModel, ToolError> {
    let budget = ctx.output_budget.max(200);
    let chars = text.chars().count();
    if chars <= 2 * budget {
        return Ok(ForModel {
            text: truncate(text, budget).text,
            saved: None,
        });
    }
    let dir = ctx.artifact_dir("tool-outputs")?;
    let path = dir.join(format!("{:04}-{tool}.txt", ctx.next_seq()));
    std::fs::write(&path, text)
        .map_err(|e| ToolError::fatal(format!("cannot write {}: {e}", path.display())))?;
    let note = format!(
        "\n[The full output ({} lines) is saved at {}; view it with a line range.]",
        text.lines().count(),
        path.display()
    );
    let room = budget.saturating_sub(note.chars().count()).max(100);
    let mut out = truncate(text, room).text;
    out.push_str(&note);
    Ok(ForModel {
        text: out,
        saved: Some(path),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_unchanged() {
        let t = truncate("a\nb\n", 100);
        assert_eq!(t.text, "a\nb\n");
        assert_eq!(t.omitted_lines, 0);
    }

    #[test]
    fn keeps_head_and_tail_and_counts_what_is_omitted() {
        let text: String = (1..=1000).map(|i| format!("line {i}\n")).collect();
        let t = truncate(&text, 500);
        assert!(t.text.starts_with("line 1\nline 2\n"), "{}", t.text);
        assert!(t.text.ends_with("line 999\nline 1000\n"), "{}", t.text);
        assert!(
            t.text.chars().count() <= 500,
            "{} chars",
            t.text.chars().count()
        );
        // Every line is either kept whole or counted as omitted.
        let kept = t.text.lines().filter(|l| l.starts_with("line ")).count();
        assert_eq!(kept + t.omitted_lines, 1000);
        assert!(t.text.contains(&format!(
            "[... {} lines ({} bytes) omitted ...]",
            t.omitted_lines, t.omitted_bytes
        )));
        assert_eq!(
            t.omitted_bytes + t.text.len()
                - t.text
                    .lines()
                    .find(|l| l.starts_with("[..."))
                    .unwrap()
                    .len()
                - 1,
            text.len()
        );
    }

    #[test]
    fn one_huge_line_is_cut_by_chars() {
        let text = "é".repeat(10_000);
        let t = truncate(&text, 1000);
        assert!(t.text.chars().count() <= 1000);
        assert!(t.omitted_bytes > 15_000);
        assert_eq!(t.omitted_lines, 1);
    }
}
