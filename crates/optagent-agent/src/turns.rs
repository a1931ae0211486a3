//! What the rollout loop does around each model call when the model or its server misbehaves:
//! finding the real context window, sizing the reply limit, recovering from a request the server
//! refused as too long, and answering a reply without a tool call (tool calls written as text,
//! repeated text, replies cut off by the output limit). Kept apart from the loop in
//! [`crate::rollout`] so each piece is tested on its own.

use optagent_model::{ChatModel, ChatResponse, Message, ToolCall};
use serde_json::{json, Value};

use crate::context::TokenCount;
use crate::prompts::NoToolReason;
use crate::textcalls;

/// Replies without a tool call in a row that end a rollout ([`crate::EndReason::NoToolCalls`]).
pub const DEFAULT_MAX_NO_TOOL_TURNS: usize = 3;

/// The window in force and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Tokens.
    pub tokens: u64,
    /// `server` (asked), `config` (the provider table or `--context-window`), or
    /// `server_error` (a refused request said it).
    pub source: &'static str,
    /// The server route or error the size came from, when not from the config.
    pub detail: Option<String>,
}

impl Window {
    /// The server's answer when it gives one, else the configured window.
    pub async fn detect(model: &dyn ChatModel) -> Window {
        let configured = model.info().context_window;
        match model.detect_context_window().await {
            Some(p) => Window {
                tokens: p.tokens,
                source: "server",
                detail: Some(p.source),
            },
            None => Window {
                tokens: configured,
                source: "config",
                detail: None,
            },
        }
    }

    /// The fields of the trajectory's meta event.
    pub fn meta(&self, configured: u64) -> Value {
        json!({
            "context_window": self.tokens,
            "context_window_source": self.source,
            "context_window_detail": self.detail,
            "configured_context_window": configured,
        })
    }
}

/// The conversation's size for the next request: the server's count of the last request plus
/// the messages added since (counted by the server's tokenizer when it offers one).
pub async fn count_tokens(model: &dyn ChatModel, tokens: &TokenCount, messages: &[Message]) -> u64 {
    let exact = match tokens.added(messages) {
        Some(new) if !new.is_empty() => model.count_tokens(&crate::context::text_of(new)).await,
        _ => None,
    };
    tokens.count(messages, exact)
}

/// What to do with a reply that has no structured tool call.
#[derive(Debug, Clone, PartialEq)]
pub enum NoTool {
    /// Tool calls were written in the text: run them.
    TextCalls {
        calls: Vec<ToolCall>,
        /// The trajectory event.
        event: Value,
    },
    /// Nothing to run: the assistant message to keep and the reason for the nudge.
    Nudge {
        message: Message,
        reason: NoToolReason,
    },
}

/// Looks at a reply without tool calls: tool calls written as text, else why there was none
/// (cut off by the output limit `limit`, empty, repeating itself — then cut — or prose).
pub fn no_tool_call(
    resp: &ChatResponse,
    known: &[String],
    step: usize,
    limit: Option<u64>,
) -> NoTool {
    let content = resp.content.clone().unwrap_or_default();
    let (calls, form) = textcalls::parse(&content, known, step);
    if !calls.is_empty() {
        let event = json!({
            "step": step,
            "form": form.map(|f| f.as_str()),
            "raw": content,
            "calls": calls.iter().map(|c| json!({"id": c.id, "name": c.name, "arguments": c.arguments})).collect::<Vec<_>>(),
        });
        return NoTool::TextCalls { calls, event };
    }
    let (content, cut) = match crate::degenerate::cut_repetition(&content) {
        Some((c, n)) => (c, n),
        None => (content, 0),
    };
    let reason = if resp.finish_reason.as_deref() == Some("length") {
        NoToolReason::Length(limit)
    } else if cut > 0 {
        NoToolReason::Repeated(cut)
    } else if content.trim().is_empty() {
        NoToolReason::Empty
    } else {
        NoToolReason::Text
    };
    NoTool::Nudge {
        message: Message::Assistant {
            content: Some(content),
            tool_calls: vec![],
        },
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use optagent_model::Usage;

    fn resp(content: &str, finish: &str) -> ChatResponse {
        ChatResponse {
            content: Some(content.into()),
            tool_calls: vec![],
            finish_reason: Some(finish.into()),
            usage: Usage::default(),
            model: "m".into(),
        }
    }

    #[test]
    fn a_reply_cut_by_length_and_repeating_is_cut_and_named_as_cut_off() {
        let known = vec!["view".to_string()];
        let r = resp(&"The graph code is slow here.\n".repeat(200), "length");
        match no_tool_call(&r, &known, 1, Some(2048)) {
            NoTool::Nudge {
                message:
                    Message::Assistant {
                        content: Some(c), ..
                    },
                reason,
            } => {
                assert_eq!(reason, NoToolReason::Length(Some(2048)));
                assert!(c.len() < 200, "{c}");
            }
            other => panic!("{other:?}"),
        }
        match no_tool_call(
            &resp(&"again and again and again.\n".repeat(9), "stop"),
            &known,
            1,
            None,
        ) {
            NoTool::Nudge { reason, .. } => assert_eq!(reason, NoToolReason::Repeated(7)),
            other => panic!("{other:?}"),
        }
        match no_tool_call(&resp("", "stop"), &known, 1, None) {
            NoTool::Nudge { reason, .. } => assert_eq!(reason, NoToolReason::Empty),
            other => panic!("{other:?}"),
        }
        match no_tool_call(
            &resp(
                "<tool_call>{\"name\":\"view\",\"arguments\":{}}</tool_call>",
                "stop",
            ),
            &known,
            4,
            None,
        ) {
            NoTool::TextCalls { calls, event } => {
                assert_eq!(calls[0].name, "view");
                assert_eq!(event["form"], "tool_call_tag");
                assert!(event["raw"].as_str().unwrap().contains("<tool_call>"));
            }
            other => panic!("{other:?}"),
        }
    }
}
