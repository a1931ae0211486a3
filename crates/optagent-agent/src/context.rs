//! Keeping the conversation inside the model's context window: when the estimated size nears the
//! window, old tool outputs are shortened first (head and tail kept), newest last. The size is
//! counted from what the server reported ([`TokenCount`]: the last reply's prompt and completion
//! tokens plus an estimate of the messages added since), and a request the server refused as too
//! long is shortened further by [`shorten_for_overflow`], down to dropping the oldest turns.

use optagent_model::{Message, Usage};

use crate::prompts::{self, Marker};

/// The conversation's size in tokens as the server counts it: the last call's
/// `prompt_tokens + completion_tokens`, plus the messages added since, estimated with
/// [`estimate_tokens`] scaled by how far that estimate fell short of the server's count last time
/// (tool definitions and the chat template are in the server's count, not in the estimate).
#[derive(Debug, Clone)]
pub struct TokenCount {
    base_tokens: u64,
    base_len: usize,
    ratio: f64,
}

impl Default for TokenCount {
    fn default() -> Self {
        TokenCount {
            base_tokens: 0,
            base_len: 0,
            ratio: 1.0,
        }
    }
}

impl TokenCount {
    /// After a reply: the request held `messages[..n_request]` and cost `usage.prompt_tokens`;
    /// the reply (`messages[n_request]`) cost `usage.completion_tokens`. A reply without usage
    /// changes nothing.
    pub fn observe(&mut self, messages: &[Message], n_request: usize, usage: &Usage) {
        if usage.prompt_tokens == 0 || n_request > messages.len() {
            return;
        }
        let est = estimate_tokens(&messages[..n_request]).max(1);
        self.ratio = (usage.prompt_tokens as f64 / est as f64).clamp(1.0, 20.0);
        self.base_tokens = usage.prompt_tokens + usage.completion_tokens;
        self.base_len = (n_request + 1).min(messages.len());
    }

    /// The messages changed in place (shortened): only the scaled estimate is left.
    pub fn invalidate(&mut self) {
        self.base_len = 0;
        self.base_tokens = 0;
    }

    /// The messages added since the last reply, when the server's count still applies.
    pub fn added<'a>(&self, messages: &'a [Message]) -> Option<&'a [Message]> {
        (self.base_len > 0 && self.base_len <= messages.len()).then(|| &messages[self.base_len..])
    }

    /// The conversation's size; `added_tokens` is an exact count of [`Self::added`] (e.g. the
    /// server's tokenizer) when there is one.
    pub fn count(&self, messages: &[Message], added_tokens: Option<u64>) -> u64 {
        match self.added(messages) {
            Some(new) => {
                let est = added_tokens.map_or_else(
                    || (estimate_tokens(new) as f64 * self.ratio) as u64,
                    |n| n + 8 * new.len() as u64,
                );
                self.base_tokens + est
            }
            None => (estimate_tokens(messages) as f64 * self.ratio) as u64,
        }
    }

    /// Server tokens per estimated token (1 until a reply reported usage).
    pub fn ratio(&self) -> f64 {
        self.ratio
    }
}

/// The text of messages, for a tokenizer.
pub fn text_of(messages: &[Message]) -> String {
    let mut s = String::new();
    for m in messages {
        match m {
            Message::System { content } | Message::User { content } => s.push_str(content),
            Message::Tool { content, .. } => s.push_str(content),
            Message::Assistant {
                content,
                tool_calls,
            } => {
                s.push_str(content.as_deref().unwrap_or(""));
                for t in tool_calls {
                    s.push_str(&t.name);
                    s.push_str(&t.arguments);
                }
            }
        }
        s.push('\n');
    }
    s
}

/// The compaction's two markers (`prompts/compaction_*.md`), rendered once per shortening.
struct Markers {
    /// The note standing for the dropped oldest turns.
    dropped: Marker,
    /// The header of a shortened message.
    shortened: Marker,
}

impl Markers {
    fn new() -> Self {
        Markers {
            dropped: Marker::of(prompts::compaction_dropped),
            shortened: Marker::of(|n| prompts::compaction_shortened(n, n)),
        }
    }

    fn is_shortened(&self, text: &str) -> bool {
        self.shortened.starts(text)
    }

    /// How many messages an earlier note said were dropped, when `m` is that note.
    fn dropped_note(&self, m: Option<&Message>) -> Option<usize> {
        match m {
            Some(Message::User { content }) if self.dropped.starts(content) => {
                Some(self.dropped.number(content).unwrap_or(0))
            }
            _ => None,
        }
    }
}

/// After the server refused a request as too long: shortens the conversation to about two
/// thirds of its estimated size, in this order: old tool outputs, then every tool output and
/// long assistant text, then the oldest turns (an assistant message with its tool results, or a
/// user message) after the system and task prompts, replaced by one note. The last turn is
/// always kept. Returns how many messages were changed or removed; 0 means there is nothing
/// left to shorten.
pub fn shorten_for_overflow(messages: &mut Vec<Message>) -> usize {
    let markers = Markers::new();
    let before = estimate_tokens(messages);
    let target = before * 2 / 3;
    let mut n = compact(messages, target, 1);
    if estimate_tokens(messages) > target {
        n += compact(messages, target, 0);
        for m in messages.iter_mut().skip(2) {
            if let Message::Assistant {
                content: Some(c), ..
            } = m
            {
                if c.chars().count() > 1200 && !markers.is_shortened(c) {
                    *c = head_tail(c, 600, 300);
                    n += 1;
                }
            }
        }
    }
    // Drop the oldest turns, never the system prompt, the task or the last turn.
    let mut dropped = 0;
    while estimate_tokens(messages) > target {
        let start = if markers.dropped_note(messages.get(2)).is_some() {
            3
        } else {
            2
        };
        let starts: Vec<usize> = (start..messages.len())
            .filter(|&i| !matches!(messages[i], Message::Tool { .. }))
            .collect();
        if starts.len() < 2 {
            break;
        }
        let end = starts[1];
        dropped += end - starts[0];
        messages.drain(starts[0]..end);
    }
    if dropped > 0 {
        let had = match markers.dropped_note(messages.get(2)) {
            Some(k) => {
                messages.remove(2);
                k
            }
            None => 0,
        };
        messages.insert(2, Message::user(prompts::compaction_dropped(had + dropped)));
        n += dropped;
    }
    n
}

fn head_tail(content: &str, head: usize, tail: usize) -> String {
    let lines = content.lines().count();
    let v: Vec<char> = content.chars().collect();
    let h: String = v.iter().take(head).collect();
    let t: String = v[v.len().saturating_sub(tail)..].iter().collect();
    format!(
        "{}\n{h}\n[...]\n{t}",
        prompts::compaction_shortened(lines, content.len())
    )
}

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
    let markers = Markers::new();
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
            if content.len() > 600 && !markers.is_shortened(content) {
                *content = head_tail(content, 300, 200);
                n += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use optagent_model::ToolCall;

    fn turn(i: usize, out: &str) -> Vec<Message> {
        vec![
            Message::Assistant {
                content: None,
                tool_calls: vec![ToolCall {
                    id: format!("c{i}"),
                    name: "view".into(),
                    arguments: "{}".into(),
                }],
            },
            Message::tool(format!("c{i}"), out),
        ]
    }

    #[test]
    fn overflow_shortening_drops_oldest_turns_keeps_pairs_and_the_last_turn() {
        let mut m = vec![Message::system("s"), Message::user("task")];
        for i in 0..6 {
            m.extend(turn(i, &"y".repeat(500)));
        }
        let before = estimate_tokens(&m);
        let n = shorten_for_overflow(&mut m);
        assert!(n > 0);
        assert!(estimate_tokens(&m) <= before * 2 / 3, "{m:?}");
        assert!(matches!(&m[2], Message::User { content } if content.contains("removed")));
        // Every tool result still follows the assistant message that called it.
        for (i, msg) in m.iter().enumerate() {
            if let Message::Tool { tool_call_id, .. } = msg {
                assert!(
                    matches!(&m[i - 1], Message::Assistant { tool_calls, .. } if tool_calls[0].id == *tool_call_id)
                );
            }
        }
        assert!(
            matches!(m.last(), Some(Message::Tool { tool_call_id, .. }) if tool_call_id == "c5")
        );
        // Again and again: it ends with nothing left to shorten, never below the last turn.
        let mut rounds = 0;
        while shorten_for_overflow(&mut m) > 0 {
            rounds += 1;
            assert!(rounds < 20, "shortening must come to an end");
        }
        assert!(matches!(&m[0], Message::System { .. }));
        assert!(matches!(&m[1], Message::User { content } if content == "task"));
        assert!(m.len() >= 4);
    }

    #[test]
    fn token_count_follows_the_servers_usage() {
        let mut m = vec![
            Message::system("s".repeat(400)),
            Message::user("u".repeat(400)),
        ];
        let mut c = TokenCount::default();
        assert_eq!(c.count(&m, None), estimate_tokens(&m));
        m.push(Message::user("reply"));
        // The server counted 3000 prompt tokens where chars/4 gives about 216.
        c.observe(
            &m,
            2,
            &Usage {
                prompt_tokens: 3000,
                completion_tokens: 50,
                cached_tokens: 0,
            },
        );
        assert_eq!(c.count(&m, None), 3050);
        m.push(Message::user("x".repeat(400)));
        let with_new = c.count(&m, None);
        assert!(
            with_new > 3050 + 108,
            "new text is scaled by the ratio: {with_new}"
        );
        assert_eq!(c.count(&m, Some(100)), 3050 + 108);
        c.invalidate();
        assert!(c.count(&m, None) > 3000);
    }

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
