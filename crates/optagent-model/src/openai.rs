//! The OpenAI-compatible chat completions client (OpenAI, Anthropic's
//! compatibility endpoint, OpenRouter, DeepSeek, vLLM, llama.cpp, Ollama).
//!
//! Requests and responses use async-openai 0.43's chat types
//! (`CreateChatCompletionRequest`, `CreateChatCompletionResponse`); the HTTP
//! exchange is made here with reqwest so that our [`RetryPolicy`] sees every
//! status code and `Retry-After` header (async-openai's client retries
//! internally and hides both).

use std::time::{Duration, Instant};

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, ChatCompletionTool, ChatCompletionTools,
    CreateChatCompletionRequest, CreateChatCompletionResponse, FunctionCall, FunctionObject,
};
use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;

use crate::config::{
    is_loopback_url, MaxTokensField, ModelOptions, ProviderRegistry, ResolvedModel,
};
use crate::error::ModelError;
use crate::retry::{is_retryable_status, parse_retry_after, RetryPolicy};
use crate::secret::ApiKey;
use crate::types::{
    ChatModel, ChatRequest, ChatResponse, Message, ModelInfo, ToolCall, Usage, WindowProbe,
};

/// Longest body excerpt quoted in an error.
const EXCERPT: usize = 500;

/// A chat model behind an OpenAI-compatible `/chat/completions` endpoint.
pub struct OpenAiCompatModel {
    info: ModelInfo,
    url: String,
    key: Option<ApiKey>,
    headers: HeaderMap,
    http: reqwest::Client,
    retry: RetryPolicy,
    timeout: Duration,
    max_tokens_field: MaxTokensField,
    /// `base_url` without its trailing `/v1`: where llama.cpp and Ollama serve their own routes.
    root: String,
    /// Whether the server answered llama.cpp's `/props` (then `/tokenize` is used to count).
    llamacpp: std::sync::atomic::AtomicBool,
}

/// Time allowed for each window probe and tokenize call (a local server answers at once).
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

impl std::fmt::Debug for OpenAiCompatModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCompatModel")
            .field("info", &self.info)
            .field("url", &self.url)
            .field("key", &self.key)
            .field("extra_headers", &self.headers.keys().collect::<Vec<_>>())
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("max_tokens_field", &self.max_tokens_field)
            .finish_non_exhaustive()
    }
}

impl OpenAiCompatModel {
    /// Opens `provider/model` with the provider table (built-in + user
    /// config) and `opts`; reads the key from the environment.
    pub fn open(spec: &str, opts: &ModelOptions) -> Result<Self, ModelError> {
        let registry = ProviderRegistry::load(opts)?;
        let resolved = registry.resolve(spec, opts)?;
        let key = resolved.api_key(opts)?;
        let retry = resolved.retry_policy(opts);
        Self::new(resolved, key, retry)
    }

    /// Builds a client from a resolved provider entry.
    pub fn new(
        resolved: ResolvedModel,
        key: Option<ApiKey>,
        retry: RetryPolicy,
    ) -> Result<Self, ModelError> {
        let provider = resolved.info.provider.clone();
        let transport = |message: String| ModelError::Transport {
            provider: provider.clone(),
            message,
        };
        let mut headers = HeaderMap::new();
        for (k, v) in &resolved.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| transport(format!("invalid header name `{k}`: {e}")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|e| transport(format!("invalid value for header `{k}`: {e}")))?;
            headers.insert(name, value);
        }
        let mut builder = reqwest::Client::builder()
            .timeout(resolved.timeout)
            .connect_timeout(resolved.timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("optagent/", env!("CARGO_PKG_VERSION")));
        if is_loopback_url(&resolved.base_url) {
            // A proxy from the environment must not capture a local server.
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| transport(format!("cannot build HTTP client: {e}")))?;
        let base = resolved.base_url.trim_end_matches('/');
        let url = format!("{base}/chat/completions");
        let root = base.strip_suffix("/v1").unwrap_or(base).to_owned();
        Ok(OpenAiCompatModel {
            info: resolved.info,
            url,
            key,
            headers,
            http,
            retry,
            timeout: resolved.timeout,
            max_tokens_field: resolved.max_tokens_field,
            root,
            llamacpp: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The endpoint called, `<base_url>/chat/completions`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The JSON body sent for `req` (an async-openai
    /// `CreateChatCompletionRequest`).
    pub fn request_body(&self, req: &ChatRequest) -> Result<Value, ModelError> {
        let request = build_request(&self.info.model, req, self.max_tokens_field);
        serde_json::to_value(&request).map_err(|e| ModelError::Transport {
            provider: self.info.provider.clone(),
            message: format!("cannot serialize request: {e}"),
        })
    }

    /// One GET or POST to a server route other than the chat endpoint, with the key and a
    /// short timeout; `None` on any failure or a non-2xx status (the route is not offered).
    async fn side_call(&self, url: &str, body: Option<&Value>) -> Option<Value> {
        let mut rb = match body {
            Some(b) => self.http.post(url).json(b),
            None => self.http.get(url),
        };
        rb = rb.headers(self.headers.clone()).timeout(PROBE_TIMEOUT);
        if let Some(k) = &self.key {
            if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {}", k.expose())) {
                v.set_sensitive(true);
                rb = rb.header(AUTHORIZATION, v);
            }
        }
        let resp = rb.send().await.ok()?;
        if !resp.status().is_success() {
            tracing::debug!(
                url,
                status = resp.status().as_u16(),
                "server route not offered"
            );
            return None;
        }
        resp.json::<Value>().await.ok()
    }

    /// llama.cpp: `GET /props` → `default_generation_settings.n_ctx` (or a top-level `n_ctx`).
    async fn probe_llamacpp(&self) -> Option<WindowProbe> {
        let v = self
            .side_call(&format!("{}/props", self.root), None)
            .await?;
        let (n, field) = match v
            .pointer("/default_generation_settings/n_ctx")
            .and_then(Value::as_u64)
        {
            Some(n) => (n, "default_generation_settings.n_ctx"),
            None => (v.get("n_ctx").and_then(Value::as_u64)?, "n_ctx"),
        };
        self.llamacpp
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Some(WindowProbe {
            tokens: n,
            source: format!("llama.cpp GET {}/props {field}", self.root),
        })
    }

    /// vLLM: `GET /v1/models` → the served model's `max_model_len`.
    async fn probe_vllm(&self) -> Option<WindowProbe> {
        let base = self.url.strip_suffix("/chat/completions")?;
        let v = self.side_call(&format!("{base}/models"), None).await?;
        let data = v.get("data")?.as_array()?;
        let entry = data
            .iter()
            .find(|m| m.get("id").and_then(Value::as_str) == Some(self.info.model.as_str()))
            .or_else(|| (data.len() == 1).then(|| &data[0]))?;
        let n = entry.get("max_model_len").and_then(Value::as_u64)?;
        Some(WindowProbe {
            tokens: n,
            source: format!("vLLM GET {base}/models max_model_len"),
        })
    }

    /// Ollama: `POST /api/show` → `num_ctx` in its `parameters` when set, else the model's
    /// `model_info.<arch>.context_length`.
    async fn probe_ollama(&self) -> Option<WindowProbe> {
        let url = format!("{}/api/show", self.root);
        let v = self
            .side_call(&url, Some(&serde_json::json!({"model": self.info.model})))
            .await?;
        let num_ctx = v.get("parameters").and_then(Value::as_str).and_then(|p| {
            p.lines().find_map(|l| {
                let mut it = l.split_whitespace();
                (it.next() == Some("num_ctx")).then(|| it.next()?.parse::<u64>().ok())?
            })
        });
        if let Some(n) = num_ctx {
            return Some(WindowProbe {
                tokens: n,
                source: format!("Ollama POST {url} parameters num_ctx"),
            });
        }
        let info = v.get("model_info")?.as_object()?;
        let (k, n) = info.iter().find_map(|(k, v)| {
            k.ends_with(".context_length")
                .then(|| Some((k, v.as_u64()?)))?
        })?;
        Some(WindowProbe {
            tokens: n,
            source: format!("Ollama POST {url} model_info.{k}"),
        })
    }

    fn redact(&self, s: &str) -> String {
        match &self.key {
            Some(k) => k.redact(s),
            None => s.to_owned(),
        }
    }

    /// One HTTP exchange. `Ok` is a parsed success; `Err(Attempt)` says
    /// whether to retry.
    async fn attempt(&self, body: &[u8]) -> Result<ChatResponse, AttemptError> {
        let mut rb = self
            .http
            .post(&self.url)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(k) = &self.key {
            let mut v = HeaderValue::from_str(&format!("Bearer {}", k.expose())).map_err(|_| {
                AttemptError::Fatal(ModelError::Transport {
                    provider: self.info.provider.clone(),
                    message: "the API key contains characters not allowed in an HTTP header".into(),
                })
            })?;
            v.set_sensitive(true);
            rb = rb.header(AUTHORIZATION, v);
        }
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => return Err(self.transport_error(&e, "sending the request")),
        };
        let status = resp.status().as_u16();
        let retry_after = parse_retry_after(resp.headers());
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return Err(self.transport_error(&e, "reading the response body")),
        };
        if (200..300).contains(&status) {
            return parse_response(&self.info, &bytes)
                .map_err(|e| ModelError::InvalidResponse {
                    provider: self.info.provider.clone(),
                    message: self.redact(&e.to_string()),
                })
                .map_err(AttemptError::Fatal);
        }
        let message = self.redact(&error_message(&bytes));
        if let Some((prompt_tokens, window)) = context_overflow(status, &bytes) {
            return Err(AttemptError::Fatal(ModelError::ContextOverflow {
                provider: self.info.provider.clone(),
                status,
                message,
                prompt_tokens,
                window,
            }));
        }
        if is_retryable_status(status) {
            Err(AttemptError::Retry {
                status: Some(status),
                retry_after,
                message: format!("HTTP {status}: {message}"),
            })
        } else {
            Err(AttemptError::Fatal(ModelError::Api {
                provider: self.info.provider.clone(),
                status,
                message,
            }))
        }
    }

    fn transport_error(&self, e: &reqwest::Error, during: &str) -> AttemptError {
        if e.is_builder() {
            return AttemptError::Fatal(ModelError::Transport {
                provider: self.info.provider.clone(),
                message: self.redact(&format!("{e}")),
            });
        }
        let what = if e.is_timeout() {
            format!("timed out after {:?} while {during}", self.timeout)
        } else if e.is_connect() {
            format!(
                "could not connect to {} ({}); is the server running and reachable?",
                self.url,
                error_chain(e)
            )
        } else {
            format!("connection failed while {during} ({})", error_chain(e))
        };
        AttemptError::Retry {
            status: None,
            retry_after: None,
            message: self.redact(&what),
        }
    }
}

enum AttemptError {
    Retry {
        status: Option<u16>,
        retry_after: Option<Duration>,
        message: String,
    },
    Fatal(ModelError),
}

#[async_trait]
impl ChatModel for OpenAiCompatModel {
    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ModelError> {
        let body =
            serde_json::to_vec(&self.request_body(req)?).map_err(|e| ModelError::Transport {
                provider: self.info.provider.clone(),
                message: format!("cannot serialize request: {e}"),
            })?;
        let max_attempts = self.retry.max_attempts();
        let started = Instant::now();
        let mut attempt = 1u32;
        loop {
            tracing::debug!(
                model = %self.info.id,
                attempt,
                max_attempts,
                messages = req.messages.len(),
                "chat request"
            );
            let t0 = Instant::now();
            match self.attempt(&body).await {
                Ok(resp) => {
                    tracing::debug!(
                        model = %self.info.id,
                        attempt,
                        elapsed_ms = t0.elapsed().as_millis() as u64,
                        prompt_tokens = resp.usage.prompt_tokens,
                        completion_tokens = resp.usage.completion_tokens,
                        cached_tokens = resp.usage.cached_tokens,
                        "chat response"
                    );
                    if attempt > 1 {
                        tracing::info!(
                            model = %self.info.id,
                            attempts = attempt,
                            total_ms = started.elapsed().as_millis() as u64,
                            "chat request succeeded after retries"
                        );
                    }
                    return Ok(resp);
                }
                Err(AttemptError::Fatal(e)) => {
                    tracing::warn!(model = %self.info.id, attempt, error = %e, "chat request failed (not retryable)");
                    return Err(e);
                }
                Err(AttemptError::Retry {
                    status,
                    retry_after,
                    message,
                }) => {
                    if attempt >= max_attempts {
                        tracing::warn!(
                            model = %self.info.id,
                            attempt,
                            status,
                            error = %message,
                            "chat request failed; no retries left"
                        );
                        return Err(ModelError::RetriesExhausted {
                            provider: self.info.provider.clone(),
                            attempts: attempt,
                            last_status: status,
                            last_error: message,
                        });
                    }
                    let delay = self.retry.delay(attempt, retry_after);
                    tracing::warn!(
                        model = %self.info.id,
                        attempt,
                        max_attempts,
                        status,
                        retry_after_ms = retry_after.map(|d| d.as_millis() as u64),
                        delay_ms = delay.as_millis() as u64,
                        error = %message,
                        "chat request failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    fn info(&self) -> &ModelInfo {
        &self.info
    }

    async fn detect_context_window(&self) -> Option<WindowProbe> {
        if !self.info.detect_window {
            return None;
        }
        let found = match self.probe_llamacpp().await {
            Some(p) => Some(p),
            None => match self.probe_vllm().await {
                Some(p) => Some(p),
                None => self.probe_ollama().await,
            },
        };
        let found = found.filter(|p| p.tokens > 0);
        match &found {
            Some(p) => {
                tracing::info!(model = %self.info.id, tokens = p.tokens, source = %p.source, "context window reported by the server")
            }
            None => {
                tracing::info!(model = %self.info.id, tokens = self.info.context_window, "the server did not report its context window; using the configured one")
            }
        }
        found
    }

    async fn count_tokens(&self, text: &str) -> Option<u64> {
        if !self.llamacpp.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        let v = self
            .side_call(
                &format!("{}/tokenize", self.root),
                Some(&serde_json::json!({"content": text})),
            )
            .await?;
        Some(v.get("tokens")?.as_array()?.len() as u64)
    }
}

/// Whether an error answer says the request did not fit the window: llama.cpp's
/// `exceed_context_size_error` ("exceeds the available context size"), OpenAI's
/// `context_length_exceeded`, vLLM's "maximum context length", Anthropic's "prompt is too long".
/// Returns the prompt size and window when the server gave them.
pub(crate) fn context_overflow(status: u16, bytes: &[u8]) -> Option<(Option<u64>, Option<u64>)> {
    if !matches!(status, 400 | 413 | 422 | 500) {
        return None;
    }
    let text = String::from_utf8_lossy(bytes).to_lowercase();
    let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let err = v.get("error").unwrap_or(&v);
    let typed = ["type", "code"].iter().any(|f| {
        err.get(*f)
            .and_then(Value::as_str)
            .is_some_and(|t| t == "exceed_context_size_error" || t == "context_length_exceeded")
    });
    const PHRASES: [&str; 6] = [
        "exceeds the available context size",
        "exceed_context_size",
        "context_length_exceeded",
        "maximum context length",
        "prompt is too long",
        "is longer than the model's context length",
    ];
    if !typed && !PHRASES.iter().any(|p| text.contains(p)) {
        return None;
    }
    let num = |f: &str| err.get(f).and_then(Value::as_u64);
    let prompt = num("n_prompt_tokens")
        .or_else(|| number_before(&text, " tokens) exceeds"))
        .or_else(|| number_before(&text, " in the messages"))
        .or_else(|| number_after(&text, "you requested "));
    let window = num("n_ctx")
        .or_else(|| number_after(&text, "maximum context length is "))
        .or_else(|| number_after(&text, "available context size ("));
    Some((prompt, window))
}

/// The integer right after `marker` in `text`.
fn number_after(text: &str, marker: &str) -> Option<u64> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The integer right before `marker` in `text`.
fn number_before(text: &str, marker: &str) -> Option<u64> {
    let head = &text[..text.find(marker)?];
    let digits: String = head
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.chars().count() <= EXCERPT {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(EXCERPT).collect();
        format!("{cut}… ({} bytes in all)", bytes.len())
    }
}

/// The provider's error message from an error body: OpenAI's
/// `{"error": {"message"}}`, `{"error": "..."}`, vLLM's `{"message"}`,
/// FastAPI's `{"detail"}`, else the start of the body.
fn error_message(bytes: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        let found = v
            .pointer("/error/message")
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .or_else(|| v.get("message"))
            .or_else(|| v.get("detail"));
        if let Some(m) = found {
            let text = match m {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let Some(kind) = v.pointer("/error/type").and_then(Value::as_str) {
                return format!("{text} ({kind})");
            }
            return text;
        }
    }
    if bytes.is_empty() {
        "(empty body)".into()
    } else {
        excerpt(bytes)
    }
}

// ------------------------------------------------------------------ request

/// Builds async-openai's request type from ours.
pub(crate) fn build_request(
    model: &str,
    req: &ChatRequest,
    max_tokens_field: MaxTokensField,
) -> CreateChatCompletionRequest {
    let messages = req.messages.iter().map(to_openai_message).collect();
    let tools = (!req.tools.is_empty()).then(|| {
        req.tools
            .iter()
            .map(|t| {
                ChatCompletionTools::Function(ChatCompletionTool {
                    function: FunctionObject {
                        name: t.name.clone(),
                        description: Some(t.description.clone()),
                        parameters: Some(t.parameters.clone()),
                        strict: None,
                    },
                })
            })
            .collect()
    });
    let mut r = CreateChatCompletionRequest {
        model: model.to_owned(),
        messages,
        tools,
        temperature: req.temperature,
        ..Default::default()
    };
    // `seed` and `max_tokens` are marked deprecated in async-openai 0.43
    // (OpenAI's schema), but most compatible servers still use them.
    #[allow(deprecated)]
    {
        r.seed = req.seed;
        match max_tokens_field {
            MaxTokensField::MaxTokens => r.max_tokens = req.max_tokens,
            MaxTokensField::MaxCompletionTokens => r.max_completion_tokens = req.max_tokens,
        }
    }
    r
}

fn to_openai_message(m: &Message) -> ChatCompletionRequestMessage {
    match m {
        Message::System { content } => {
            ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
                content: ChatCompletionRequestSystemMessageContent::Text(content.clone()),
                name: None,
            })
        }
        Message::User { content } => {
            ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                content: ChatCompletionRequestUserMessageContent::Text(content.clone()),
                name: None,
            })
        }
        Message::Assistant {
            content,
            tool_calls,
        } => {
            let calls: Vec<ChatCompletionMessageToolCalls> = tool_calls
                .iter()
                .map(|c| {
                    ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                        id: c.id.clone(),
                        function: FunctionCall {
                            name: c.name.clone(),
                            arguments: c.arguments.clone(),
                        },
                    })
                })
                .collect();
            // An assistant message needs content or tool calls.
            let content = match content {
                Some(c) => Some(c.clone()),
                None if calls.is_empty() => Some(String::new()),
                None => None,
            };
            ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                content: content.map(ChatCompletionRequestAssistantMessageContent::Text),
                tool_calls: (!calls.is_empty()).then_some(calls),
                ..Default::default()
            })
        }
        Message::Tool {
            tool_call_id,
            content,
        } => ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
            content: ChatCompletionRequestToolMessageContent::Text(content.clone()),
            tool_call_id: tool_call_id.clone(),
        }),
    }
}

// ------------------------------------------------------------------ response

const KNOWN_FINISH: [&str; 5] = [
    "stop",
    "length",
    "tool_calls",
    "content_filter",
    "function_call",
];

/// Fills in fields that async-openai's types require but some compatible
/// servers omit or spell differently, without touching what we report:
/// `id`, `object`, `created`, `choices[].index`, `message.role`,
/// `tool_calls[].type`/`id`, non-string `arguments`, `usage.total_tokens`, and
/// finish reasons outside OpenAI's enum (the raw one is kept separately).
fn normalize(v: &mut Value) {
    let Some(obj) = v.as_object_mut() else { return };
    obj.entry("id")
        .or_insert_with(|| Value::String(String::new()));
    obj.entry("object")
        .or_insert_with(|| Value::String("chat.completion".into()));
    if !obj.get("created").is_some_and(Value::is_u64) {
        obj.insert("created".into(), Value::from(0u32));
    }
    if !obj.get("model").is_some_and(Value::is_string) {
        obj.insert("model".into(), Value::String(String::new()));
    }
    if let Some(Value::Array(choices)) = obj.get_mut("choices") {
        for (i, c) in choices.iter_mut().enumerate() {
            let Some(c) = c.as_object_mut() else { continue };
            c.entry("index").or_insert_with(|| Value::from(i));
            if let Some(fr) = c.get("finish_reason") {
                if fr.as_str().is_none_or(|s| !KNOWN_FINISH.contains(&s)) {
                    c.insert("finish_reason".into(), Value::Null);
                }
            }
            let Some(msg) = c.get_mut("message").and_then(Value::as_object_mut) else {
                continue;
            };
            if !msg.get("role").is_some_and(Value::is_string) {
                msg.insert("role".into(), Value::String("assistant".into()));
            }
            if let Some(Value::Array(calls)) = msg.get_mut("tool_calls") {
                for (j, call) in calls.iter_mut().enumerate() {
                    let Some(call) = call.as_object_mut() else {
                        continue;
                    };
                    call.entry("type")
                        .or_insert_with(|| Value::String("function".into()));
                    if !call.get("id").is_some_and(Value::is_string) {
                        call.insert("id".into(), Value::String(format!("call_{j}")));
                    }
                    if let Some(f) = call.get_mut("function").and_then(Value::as_object_mut) {
                        match f.get("arguments") {
                            Some(Value::String(_)) => {}
                            None | Some(Value::Null) => {
                                f.insert("arguments".into(), Value::String(String::new()));
                            }
                            Some(other) => {
                                let text = other.to_string();
                                f.insert("arguments".into(), Value::String(text));
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(u) = obj.get_mut("usage").and_then(Value::as_object_mut) {
        let p = u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0);
        let c = u
            .get("completion_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        u.entry("prompt_tokens").or_insert_with(|| Value::from(p));
        u.entry("completion_tokens")
            .or_insert_with(|| Value::from(c));
        u.entry("total_tokens")
            .or_insert_with(|| Value::from(p + c));
    }
}

/// What is wrong with a 2xx body; each variant quotes (an excerpt of) the body.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("body is not valid JSON ({reason}): {excerpt}")]
    NotJson { reason: String, excerpt: String },
    #[error("body is not a JSON object: {0}")]
    NotObject(String),
    #[error("the provider returned an error with status 200: {0}")]
    ErrorWith200(String),
    #[error("response has no `choices`: {0}")]
    NoChoicesField(String),
    #[error("unexpected chat.completion shape ({reason}): {excerpt}")]
    UnexpectedShape { reason: String, excerpt: String },
    #[error("response has no choices (empty `choices` array)")]
    EmptyChoices,
}

/// Parses a 200 body into our response.
pub(crate) fn parse_response(info: &ModelInfo, bytes: &[u8]) -> Result<ChatResponse, BodyError> {
    let mut v: Value = serde_json::from_slice(bytes).map_err(|e| BodyError::NotJson {
        reason: e.to_string(),
        excerpt: excerpt(bytes),
    })?;
    if !v.is_object() {
        return Err(BodyError::NotObject(excerpt(bytes)));
    }
    if v.get("choices").is_none() {
        if v.get("error").is_some() {
            return Err(BodyError::ErrorWith200(error_message(bytes)));
        }
        return Err(BodyError::NoChoicesField(excerpt(bytes)));
    }
    let raw_finish = v
        .pointer("/choices/0/finish_reason")
        .and_then(Value::as_str)
        .map(str::to_owned);
    // DeepSeek reports cache hits outside prompt_tokens_details.
    let deepseek_cached = v
        .pointer("/usage/prompt_cache_hit_tokens")
        .and_then(Value::as_u64);
    normalize(&mut v);
    let typed: CreateChatCompletionResponse =
        serde_json::from_value(v).map_err(|e| BodyError::UnexpectedShape {
            reason: e.to_string(),
            excerpt: excerpt(bytes),
        })?;
    let Some(choice) = typed.choices.into_iter().next() else {
        return Err(BodyError::EmptyChoices);
    };
    let tool_calls = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|c| match c {
            ChatCompletionMessageToolCalls::Function(f) => ToolCall {
                id: f.id,
                name: f.function.name,
                arguments: f.function.arguments,
            },
            ChatCompletionMessageToolCalls::Custom(c) => ToolCall {
                id: c.id,
                name: c.custom_tool.name,
                arguments: c.custom_tool.input,
            },
        })
        .collect();
    let usage = match typed.usage {
        Some(u) => Usage {
            prompt_tokens: u64::from(u.prompt_tokens),
            completion_tokens: u64::from(u.completion_tokens),
            cached_tokens: u
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .map(u64::from)
                .or(deepseek_cached)
                .unwrap_or(0),
        },
        None => {
            tracing::warn!(model = %info.id, "response has no usage; counting 0 tokens");
            Usage::default()
        }
    };
    Ok(ChatResponse {
        content: choice.message.content,
        tool_calls,
        finish_reason: raw_finish,
        usage,
        model: if typed.model.is_empty() {
            info.model.clone()
        } else {
            typed.model
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Pricing, ToolSpec};
    use serde_json::json;

    fn info() -> ModelInfo {
        ModelInfo {
            id: "p/m".into(),
            provider: "p".into(),
            model: "m".into(),
            context_window: 1000,
            pricing: Pricing::default(),
            output_limit: Default::default(),
            detect_window: false,
        }
    }

    #[test]
    fn request_uses_openai_wire_format() {
        let req = ChatRequest {
            messages: vec![
                Message::system("sys"),
                Message::user("hi"),
                Message::Assistant {
                    content: None,
                    tool_calls: vec![ToolCall {
                        id: "c1".into(),
                        name: "f".into(),
                        arguments: "{bad".into(),
                    }],
                },
                Message::tool("c1", "error: arguments are not valid JSON"),
                Message::Assistant {
                    content: None,
                    tool_calls: vec![],
                },
            ],
            tools: vec![ToolSpec {
                name: "f".into(),
                description: "does f".into(),
                parameters: json!({"type": "object"}),
            }],
            temperature: Some(0.5),
            seed: Some(7),
            max_tokens: Some(99),
        };
        let v = serde_json::to_value(build_request(
            "m",
            &req,
            MaxTokensField::MaxCompletionTokens,
        ))
        .unwrap();
        assert_eq!(v["model"], "m");
        assert_eq!(
            v["messages"][0],
            json!({"role": "system", "content": "sys"})
        );
        assert_eq!(v["messages"][2]["tool_calls"][0]["type"], "function");
        assert_eq!(
            v["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{bad"
        );
        assert!(v["messages"][2].get("content").is_none());
        assert_eq!(
            v["messages"][3],
            json!({"role": "tool", "tool_call_id": "c1", "content": "error: arguments are not valid JSON"})
        );
        assert_eq!(v["messages"][4]["content"], "");
        assert_eq!(v["tools"][0]["type"], "function");
        assert_eq!(v["tools"][0]["function"]["name"], "f");
        assert_eq!(v["seed"], 7);
        assert_eq!(v["max_completion_tokens"], 99);
        assert!(v.get("max_tokens").is_none());
        assert_eq!(v["temperature"], 0.5);

        let v = serde_json::to_value(build_request(
            "m",
            &ChatRequest {
                messages: vec![Message::user("x")],
                max_tokens: Some(5),
                ..Default::default()
            },
            MaxTokensField::MaxTokens,
        ))
        .unwrap();
        assert_eq!(v["max_tokens"], 5);
        assert!(v.get("tools").is_none(), "empty tools must be omitted");
        assert!(v.get("seed").is_none());
    }

    #[test]
    fn lenient_parse_of_local_server_dialects() {
        let body = json!({
            "model": "qwen",
            "choices": [{
                "message": {"content": null, "tool_calls": [
                    {"function": {"name": "f", "arguments": {"a": 1}}}
                ]},
                "finish_reason": "eos"
            }],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4}
        });
        let r = parse_response(&info(), body.to_string().as_bytes()).unwrap();
        assert_eq!(r.tool_calls[0].name, "f");
        assert_eq!(r.tool_calls[0].arguments, r#"{"a":1}"#);
        assert_eq!(r.tool_calls[0].id, "call_0");
        assert_eq!(r.finish_reason.as_deref(), Some("eos"));
        assert_eq!(r.usage.prompt_tokens, 3);
        assert_eq!(r.model, "qwen");
    }

    #[test]
    fn deepseek_cache_hits_are_counted() {
        let body = json!({
            "id": "x", "object": "chat.completion", "created": 1, "model": "deepseek-chat",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 4, "total_tokens": 104,
                      "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36}
        });
        let r = parse_response(&info(), body.to_string().as_bytes()).unwrap();
        assert_eq!(r.usage.cached_tokens, 64);
    }

    #[test]
    fn bad_bodies_are_explained() {
        let e = parse_response(&info(), b"<html>oops</html>")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not valid JSON") && e.contains("<html>oops"),
            "{e}"
        );
        let e = parse_response(&info(), br#"{"choices": []}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no choices"), "{e}");
        let e = parse_response(&info(), br#"{"id": "x"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no `choices`"), "{e}");
        let e = parse_response(&info(), br#"{"error": {"message": "upstream overloaded"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("upstream overloaded"), "{e}");
    }

    #[test]
    fn context_overflow_bodies_of_llamacpp_openai_and_vllm_are_recognised() {
        let llama = br#"{"error":{"code":400,"message":"request (8247 tokens) exceeds the available context size (8192 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":8247,"n_ctx":8192}}"#;
        assert_eq!(context_overflow(400, llama), Some((Some(8247), Some(8192))));
        let openai = br#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        assert_eq!(context_overflow(400, openai), Some((None, Some(128000))));
        let vllm = br#"{"object":"error","message":"This model's maximum context length is 8192 tokens. However, you requested 9000 tokens (8000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.","type":"BadRequestError","param":null,"code":400}"#;
        assert_eq!(context_overflow(400, vllm), Some((Some(8000), Some(8192))));
        // Other 400s, and 429s, are not overflows.
        assert_eq!(
            context_overflow(400, br#"{"error":{"message":"bad model"}}"#),
            None
        );
        assert_eq!(context_overflow(429, llama), None);
    }

    #[test]
    fn error_messages_are_extracted() {
        assert_eq!(
            error_message(br#"{"error":{"message":"bad model","type":"invalid_request_error"}}"#),
            "bad model (invalid_request_error)"
        );
        assert_eq!(error_message(br#"{"object":"error","message":"m"}"#), "m");
        assert_eq!(error_message(br#"{"detail":"d"}"#), "d");
        assert_eq!(error_message(b"plain"), "plain");
        assert_eq!(error_message(b""), "(empty body)");
    }
}
