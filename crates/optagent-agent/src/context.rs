//! Keeping the conversation inside the model's context window: when the estimated size nears the
//! window, old tool outputs are shortened first (head and tail kept), newest last.

use optagent_model::Message;

/// Rough token estimate: about four characters a token, plus a little per message.
pub fn estimate_tokens(messages: &[Message]) -> u64 {
    messages
        .iter()
        .map(|m| {
            let chars = match m {
                Message::System { content } | Message::User { content } => content.len(),
                Message::Assistant {
                    content,
                    tool_calls,
                } => {
                    content.as_ref().map_or(0, |c| c.len())
                        + tool_calls
                            .iter()
                            .map(|t| t.arguments.len() + t.name.len())
                            .sum::<usize>()
                }
                Message::Tool { content, .. } => content.len(),
            };
            (chars / 4 + 8) as u64
        })
        .sum()
}

/// Shorten tool outputs, oldest first, keeping the last `keep_recent` intact, until the estimate
/// is under `target` tokens. Returns how many outputs were shortened.
pub fn compact(messages: &mut [Message], target: u64, keep_recent: usize) -> usize {
    let tool_idx: Vec<usize> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| matches!(m, Message::Tool { .. }))
        .map(|(i, _)| i)
        .collect();
    let old = tool_idx.len().saturating_sub(keep_recent);
    let mut n = 0;
    for &i in &tool_idx[..old] {
        if estimate_tokens(messages) <= target {
            break;
        }
        if let Message::Tool { content, .. } = &mut messages[i] {
            if content.len() > 600 && !content.starts_with("[shortened") {
                let lines = content.lines().count();
                let head: String = content.chars().take(300).collect();
                let tail: String = {
                    let v: Vec<char> = content.chars().collect();
                    v[v.len().saturating_sub(200)..].iter().collect()
                };
                *content = format!(
                    "[shortened to save context: {lines} lines, {} chars originally]\n{head}\n[...]\n{tail}",
                    content.len()
                );
                n += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool_text(m: &Message) -> &str {
        let Message::Tool { content, .. } = m else {
            panic!("not a tool message: {m:?}")
        };
        content
    }

    #[test]
    fn oldest_tool_outputs_shortened_first_recent_kept() {
        let big = "x\n".repeat(5000);
        let mut m = vec![Message::system("s")];
        for i in 0..5 {
            m.push(Message::tool(format!("c{i}"), big.clone()));
        }
        let before = estimate_tokens(&m);
        assert_eq!(before, 8 + 5 * (10_000 / 4 + 8));
        let target = before / 2;
        let n = compact(&mut m, target, 2);
        // Each shortening saves about 2,360 tokens: three of the three old outputs are needed.
        assert_eq!(n, 3);
        assert!(estimate_tokens(&m) <= target, "{}", estimate_tokens(&m));
        for old in &m[1..=3] {
            let c = tool_text(old);
            assert!(
                c.starts_with("[shortened to save context: 5000 lines, 10000 chars originally]\n"),
                "{c}"
            );
            assert!(c.contains("\n[...]\n"), "head and tail kept: {c}");
            assert!(c.len() < 600, "{}", c.len());
        }
        for recent in &m[4..=5] {
            assert_eq!(tool_text(recent), big, "recent outputs stay whole");
        }
        assert!(matches!(&m[0], Message::System { content } if content == "s"));
        // Nothing left to shorten: a second pass changes nothing.
        let again = m.clone();
        assert_eq!(compact(&mut m, 0, 2), 0);
        assert_eq!(m, again);
    }

    #[test]
    fn shortening_stops_once_under_the_target() {
        let big = "y".repeat(8000);
        let mut m: Vec<Message> = (0..4)
            .map(|i| Message::tool(format!("c{i}"), big.clone()))
            .collect();
        let before = estimate_tokens(&m);
        let n = compact(&mut m, before - 1, 0);
        assert_eq!(n, 1, "one shortening is enough");
        assert!(tool_text(&m[0]).starts_with("[shortened"));
        for kept in &m[1..] {
            assert_eq!(
                tool_text(kept),
                big,
                "the oldest goes first, the others stay"
            );
        }
        // Already under the target: nothing is touched.
        let mut m2: Vec<Message> = (0..2)
            .map(|i| Message::tool(format!("c{i}"), big.clone()))
            .collect();
        assert_eq!(compact(&mut m2, u64::MAX, 0), 0);
    }

    #[test]
    fn small_outputs_are_never_shortened() {
        let mut m: Vec<Message> = (0..3)
            .map(|i| Message::tool(format!("c{i}"), "z".repeat(600)))
            .collect();
        assert_eq!(compact(&mut m, 0, 0), 0);
        assert!(m.iter().all(|x| tool_text(x).len() == 600));
    }
}
