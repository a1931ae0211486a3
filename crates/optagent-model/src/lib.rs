//! optagent-model: the model providers of optagent.
//!
//! [`open_model`] turns a model spec into an `Arc<dyn ChatModel>`:
//!
//! * `provider/model`, e.g. `openai/gpt-4o`, `anthropic/claude-sonnet-4-20250514`,
//!   `vllm/Qwen/Qwen2.5-Coder-32B-Instruct`. The spec is split at the first
//!   `/`, so `openrouter/anthropic/claude-sonnet-4` is provider `openrouter`,
//!   model `anthropic/claude-sonnet-4`. Every provider speaks the OpenAI chat
//!   completions API (with tool calling); see [`OpenAiCompatModel`].
//! * `replay:<path to trajectory.jsonl>`: returns the responses recorded in a
//!   trajectory, in order; see [`ReplayModel`] for the file format.
//!
//! # Providers are data
//!
//! The built-in table ([`BUILTIN_PROVIDERS_TOML`], the crate's
//! `providers.toml`) has openai, anthropic (its OpenAI-compatible endpoint),
//! openrouter, deepseek, vllm, llamacpp and ollama, each with `base_url`,
//! `env_key`, `key_required`, `timeout_secs`, `max_retries`,
//! `max_tokens_field`, extra `headers`, default `context_window` and prices
//! for unknown models (0 for local servers), and a `models` table of known
//! models with their context windows and list prices (USD per million
//! tokens). Prices change: all of them are overridable.
//!
//! The user's config file — [`ModelOptions::config_path`], else
//! `$OPTAGENT_CONFIG`, else `$XDG_CONFIG_HOME/optagent/config.toml` /
//! `~/.config/optagent/config.toml` if it exists — has the same shape and is
//! merged field by field over the table; it can add providers or override
//! any field:
//!
//! ```toml
//! [provider_defaults]
//! max_retries = 6
//!
//! [providers.openai.models."gpt-4o"]
//! input_per_mtok = 2.0            # only this field changes
//!
//! [providers.mylab]               # a new provider
//! base_url = "http://gpu-box:8000/v1"
//! env_key = "MYLAB_KEY"
//! key_required = false
//! context_window = 65536
//! ```
//!
//! CLI overrides come in through [`ModelOptions`] (`--base-url`,
//! `--api-key-env`, timeout, retries). A missing required key is an error
//! naming the variable; an unknown provider is an error listing the known
//! ones; a malformed config file is an error naming the file and the field.
//!
//! # Adding a provider
//!
//! An OpenAI-compatible provider is data: a `[providers.<name>]` table in this crate's
//! `providers.toml` (built into the binary), or in a user's config file without a rebuild. Only
//! `base_url` is required; the key variable defaults to `<NAME>_API_KEY`, and every other field
//! (its comments at the top of `providers.toml` say what each does) falls back to
//! `[provider_defaults]`. List its known models under `models."<name>"` with their context
//! window and prices. No Rust changes: the built-in table's test resolves every entry it finds.
//!
//! A provider that does not speak the chat-completions API needs code: a [`ChatModel`]
//! implementation beside [`OpenAiCompatModel`] (`src/openai.rs`) and a branch in
//! [`open_model`] (`src/lib.rs`).
//!
//! # Replay format
//!
//! `replay:<path>` reads a trajectory in JSON Lines. Every non-blank line is a
//! JSON object; the lines with `"type": "model_response"` carry a serialized
//! [`ChatResponse`] in `"response"`, and all other lines are ignored. `chat`
//! returns those responses in file order, whatever the request, and then
//! fails with "replay exhausted after N responses":
//!
//! ```text
//! {"type":"model_response","response":{"content":null,"tool_calls":[{"id":"call_1","name":"read_file","arguments":"{\"path\":\"a.c\"}"}],"finish_reason":"tool_calls","usage":{"prompt_tokens":812,"completion_tokens":31,"cached_tokens":0},"model":"gpt-4o-2024-08-06"}}
//! {"type":"model_response","response":{"content":"done","tool_calls":[],"finish_reason":"stop","usage":{"prompt_tokens":900,"completion_tokens":2,"cached_tokens":512},"model":"gpt-4o-2024-08-06"}}
//! ```
//!
//! # Retries
//!
//! Each call is retried on HTTP 429, 408 and 5xx, timeouts and connection
//! failures, up to `max_retries` times, waiting `Retry-After` (or OpenAI's
//! `retry-after-ms`) when the server sends it and otherwise exponential
//! backoff with jitter; see [`RetryPolicy`]. Other 4xx fail at once with the
//! provider's message. A 200 whose body is not a usable chat completion is a
//! [`ModelError::InvalidResponse`], left to the caller.
//!
//! A request the server refuses as too long for the window (llama.cpp's
//! `exceed_context_size_error`, OpenAI's `context_length_exceeded`, vLLM's "maximum context
//! length") is a [`ModelError::ContextOverflow`], not retried: the caller shortens and calls again.
//!
//! # Local servers
//!
//! [`ChatModel::detect_context_window`] asks llama.cpp (`GET /props`), vLLM (`GET /v1/models`)
//! or Ollama (`POST /api/show`) for the window it serves, when [`ModelInfo::detect_window`] is
//! on (`detect_context_window` in the table; default for localhost). [`ChatModel::count_tokens`]
//! uses llama.cpp's `/tokenize`. [`ModelInfo::output_limit`] is the per-call output limit
//! (`max_output_tokens`: a number, `"window"` or `"none"`).
//!
//! # Cost
//!
//! [`ChatResponse::usage`] has the call's tokens; [`Pricing::cost`] with
//! [`ModelInfo::pricing`] turns them into USD.
//!
//! # Secrets
//!
//! Keys are held in [`ApiKey`], whose `Debug` is redacted; they never appear
//! in errors or logs (provider messages that echo a key are redacted too).

mod config;
mod error;
mod openai;
mod replay;
mod retry;
mod secret;
mod types;

use std::sync::Arc;

pub use config::{
    MaxTokensField, ModelOptions, ModelSpec, ProviderRegistry, ResolvedModel,
    BUILTIN_PROVIDERS_TOML, CONFIG_ENV,
};
pub use error::ModelError;
pub use openai::OpenAiCompatModel;
pub use replay::{ReplayModel, REPLAY_CONTEXT_WINDOW};
pub use retry::{
    is_retryable_status, parse_retry_after, RetryPolicy, DEFAULT_BASE_DELAY, DEFAULT_MAX_DELAY,
};
pub use secret::ApiKey;
pub use types::{
    ChatModel, ChatRequest, ChatResponse, Message, ModelInfo, OutputLimit, Pricing, ToolCall,
    ToolSpec, Usage, WindowProbe,
};

/// Opens a model from a spec (`provider/model` or `replay:<path>`).
pub fn open_model(spec: &str, opts: &ModelOptions) -> Result<Arc<dyn ChatModel>, ModelError> {
    match ModelSpec::parse(spec)? {
        ModelSpec::Replay(path) => Ok(Arc::new(ReplayModel::open(path)?)),
        ModelSpec::Provider { .. } => Ok(Arc::new(OpenAiCompatModel::open(spec, opts)?)),
    }
}

/// The environment variable a model spec reads its API key from (None for keyless local
/// servers and replays), so callers can keep its value out of everything they write.
pub fn key_variable(spec: &str, opts: &ModelOptions) -> Option<String> {
    if spec.starts_with("replay:") {
        return None;
    }
    ProviderRegistry::load(opts)
        .and_then(|r| r.resolve(spec, opts))
        .ok()
        .and_then(|m| m.env_key)
}
