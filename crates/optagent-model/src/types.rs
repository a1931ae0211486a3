//! Provider-neutral chat types: messages, tool specs and calls, requests,
//! responses, token usage, pricing, and the [`ChatModel`] trait.
//!
//! These types are what the agent stores in its JSONL trajectory, so
//! [`Message`] and [`ChatResponse`] round-trip through `serde_json`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// A tool (function) the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Function name (OpenAI allows `[a-zA-Z0-9_-]{1,64}`).
    pub name: String,
    /// What the tool does; the model reads this.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Provider-assigned id; echo it in [`Message::Tool::tool_call_id`].
    pub id: String,
    /// Name of the called tool.
    pub name: String,
    /// Raw argument text exactly as the model sent it; may be invalid JSON.
    pub arguments: String,
}

/// One message of a conversation. Serialized with a `"role"` tag:
/// `{"role":"user","content":"..."}`,
/// `{"role":"assistant","content":null,"tool_calls":[{"id":..,"name":..,"arguments":..}]}`,
/// `{"role":"tool","tool_call_id":"..","content":".."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Message {
    /// System prompt.
    System {
        /// Text of the prompt.
        content: String,
    },
    /// User turn.
    User {
        /// Text of the turn.
        content: String,
    },
    /// A previous model turn (fed back verbatim).
    Assistant {
        /// Text content, if any.
        content: Option<String>,
        /// Tool calls made in that turn.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    /// The result of a tool call.
    Tool {
        /// The [`ToolCall::id`] this answers.
        tool_call_id: String,
        /// Result text shown to the model.
        content: String,
    },
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Message::System {
            content: content.into(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Message::User {
            content: content.into(),
        }
    }

    /// A tool-result message.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Message::Tool {
            tool_call_id: tool_call_id.into(),
            content: content.into(),
        }
    }
}

/// One chat completion request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Tools the model may call (omitted from the wire request when empty).
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Sampling seed, for providers that honour it.
    #[serde(default)]
    pub seed: Option<i64>,
    /// Output token limit (sent as `max_tokens` or `max_completion_tokens`,
    /// per the provider's `max_tokens_field`).
    #[serde(default)]
    pub max_tokens: Option<u32>,
}

/// Token usage of one call. `prompt_tokens` includes `cached_tokens`, as
/// OpenAI and DeepSeek report it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens, cached ones included.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Output tokens (reasoning tokens included).
    #[serde(default)]
    pub completion_tokens: u64,
    /// Input tokens served from the provider's prompt cache.
    #[serde(default)]
    pub cached_tokens: u64,
}

impl Usage {
    /// Adds another call's usage to this one.
    pub fn add(&mut self, other: &Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.cached_tokens += other.cached_tokens;
    }
}

/// The model's answer to one [`ChatRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// Text content, if any.
    pub content: Option<String>,
    /// Tool calls, in the order the model made them.
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    /// Provider's finish reason as sent (`stop`, `length`, `tool_calls`, ...).
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Token usage (zeros when the provider reported none).
    #[serde(default)]
    pub usage: Usage,
    /// Model name the provider reports having used.
    #[serde(default)]
    pub model: String,
}

impl ChatResponse {
    /// The assistant [`Message`] to append to the conversation.
    pub fn to_message(&self) -> Message {
        Message::Assistant {
            content: self.content.clone(),
            tool_calls: self.tool_calls.clone(),
        }
    }
}

/// Prices in USD per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Pricing {
    /// Uncached input tokens.
    pub input_per_mtok: f64,
    /// Output tokens.
    pub output_per_mtok: f64,
    /// Input tokens read from the prompt cache.
    pub cached_input_per_mtok: f64,
}

impl Pricing {
    /// Cost in USD of a call with this usage: uncached input
    /// (`prompt_tokens - cached_tokens`) at `input_per_mtok`, cached input at
    /// `cached_input_per_mtok`, output at `output_per_mtok`.
    pub fn cost(&self, u: &Usage) -> f64 {
        let cached = u.cached_tokens.min(u.prompt_tokens);
        let uncached = u.prompt_tokens - cached;
        (uncached as f64 * self.input_per_mtok
            + cached as f64 * self.cached_input_per_mtok
            + u.completion_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }
}

/// How long one reply may be (the per-call output limit sent as `max_tokens` or
/// `max_completion_tokens`). Config: `max_output_tokens = 4096` or `max_output_tokens = "window"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputLimit {
    /// No limit is sent (the provider's own default applies).
    #[default]
    Unset,
    /// At most this many tokens per reply (and never more than the window leaves).
    Fixed(u64),
    /// Sized from the window: a quarter of it, between 256 and 8192 tokens, and never more
    /// than the window leaves after the prompt.
    Window,
}

impl OutputLimit {
    /// The limit for one call, given the window and the estimated prompt size; `None` when no
    /// limit is sent. Never below 16 tokens.
    pub fn for_call(&self, window: u64, prompt_tokens: u64) -> Option<u64> {
        let room = window.saturating_sub(prompt_tokens).max(16);
        match self {
            OutputLimit::Unset => None,
            OutputLimit::Fixed(n) => Some((*n).min(room).max(16)),
            OutputLimit::Window => Some((window / 4).clamp(256, 8192).min(room).max(16)),
        }
    }
}

/// The context window a server reported for the model it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowProbe {
    /// Tokens the server serves (prompt and reply together).
    pub tokens: u64,
    /// Where it came from, e.g. `llama.cpp GET /props default_generation_settings.n_ctx`.
    pub source: String,
}

/// What is known about a model: its id, context window, and prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// `provider/model`, e.g. `openrouter/anthropic/claude-sonnet-4`.
    pub id: String,
    /// Provider name, e.g. `openrouter`.
    pub provider: String,
    /// Model name as sent to the provider, e.g. `anthropic/claude-sonnet-4`.
    pub model: String,
    /// Context window in tokens.
    pub context_window: u64,
    /// Prices used for cost accounting.
    pub pricing: Pricing,
    /// The per-call output limit.
    #[serde(default)]
    pub output_limit: OutputLimit,
    /// Whether to ask the server for its window ([`ChatModel::detect_context_window`]).
    #[serde(default)]
    pub detect_window: bool,
}

/// A chat model: one call per agent step.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// Sends one request and returns the model's answer. Transient failures
    /// (429, 5xx, timeouts, dropped connections) are retried inside, per the
    /// provider's retry policy; an `Err` is final for this call.
    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ModelError>;

    /// The model's id, context window, and pricing.
    fn info(&self) -> &ModelInfo;

    /// Asks the server for the window it serves (llama.cpp `GET /props`, vLLM
    /// `GET /v1/models`, Ollama `POST /api/show`); `None` when it cannot tell, is not asked
    /// ([`ModelInfo::detect_window`] off) or is not a server.
    async fn detect_context_window(&self) -> Option<WindowProbe> {
        None
    }

    /// Counts the tokens of `text` with the server's own tokenizer when it offers one
    /// (llama.cpp `POST /tokenize`); `None` otherwise.
    async fn count_tokens(&self, _text: &str) -> Option<u64> {
        None
    }
}
