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

    #[test]
    fn oldest_tool_outputs_shortened_first_recent_kept() {
        let big = "x\n".repeat(5000);
        let mut m = vec![Message::system("s")];
        for i in 0..5 {
            m.push(Message::tool(format!("c{i}"), big.clone()));
        }
        let before = estimate_tokens(&m);
        let n = compact(&mut m, before / 2, 2);
        assert!(n >= 1);
        assert!(estimate_tokens(&m) <= before / 2 + 3000);
        if let Message::Tool { content, .. } = &m[1] {
            assert!(content.starts_with("[shortened"));
        }
        if let Message::Tool { content, .. } = &m[5] {
            assert_eq!(content.len(), big.len(), "recent outputs stay whole");
        }
    }
}
