//! Degenerate replies of small or badly served models: text that repeats itself (the same line
//! or sentence over and over until the output limit) is cut before it goes back into the
//! conversation, so one bad reply does not fill the window.

/// A unit (a line, or a sentence of a very long line) seen this many times is a repetition.
pub const REPEATS: usize = 4;

/// The text with every unit after its second occurrence removed, and how many were removed;
/// `None` when no unit (of at least 8 characters) occurs [`REPEATS`] times or more.
pub fn cut_repetition(text: &str) -> Option<(String, usize)> {
    let units = units(text);
    let mut counts: std::collections::HashMap<&str, usize> = Default::default();
    for u in &units {
        let k = u.trim();
        if k.chars().count() >= 8 {
            *counts.entry(k).or_default() += 1;
        }
    }
    if counts.values().all(|&n| n < REPEATS) {
        return None;
    }
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    let mut kept = String::new();
    let mut cut = 0;
    for u in units {
        let k = u.trim();
        let n = seen.entry(k).or_default();
        *n += 1;
        if counts.get(k).is_some_and(|&c| c >= REPEATS) && *n > 2 {
            cut += 1;
            continue;
        }
        kept.push_str(u);
    }
    let kept = kept.trim_end().to_string();
    Some((
        format!("{kept}\n[optagent: {cut} repeated lines or sentences cut from this reply]"),
        cut,
    ))
}

/// Lines (with their newline), and lines over 400 characters split after each `. `.
fn units(text: &str) -> Vec<&str> {
    let mut out = vec![];
    for line in text.split_inclusive('\n') {
        if line.len() <= 400 {
            out.push(line);
            continue;
        }
        let mut start = 0;
        for (i, _) in line.match_indices(". ") {
            out.push(&line[start..i + 2]);
            start = i + 2;
        }
        if start < line.len() {
            out.push(&line[start..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_lines_are_cut_to_two() {
        let t = format!(
            "Intro line here.\n{}Outro.",
            "I will optimize the graph.\n".repeat(50)
        );
        let (cut, n) = cut_repetition(&t).unwrap();
        assert_eq!(n, 48);
        assert_eq!(cut.matches("I will optimize the graph.").count(), 2);
        assert!(cut.starts_with("Intro line here.") && cut.contains("Outro."));
        assert!(cut.contains("48 repeated"));
    }

    #[test]
    fn repeated_sentences_in_one_long_line_are_cut() {
        let t = "The function is slow because it loops. ".repeat(40);
        let (cut, n) = cut_repetition(&t).unwrap();
        assert_eq!(n, 38);
        assert!(cut.len() < 200, "{cut}");
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        assert_eq!(cut_repetition("a\nb\nc\nshort\nshort\nshort\nshort"), None);
        assert_eq!(
            cut_repetition("First I read graph.py.\nThen I profile.\nThen I edit.\n"),
            None
        );
    }
}
