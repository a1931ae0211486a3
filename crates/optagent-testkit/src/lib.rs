//! Test helpers for optagent: a local mock of the OpenAI chat completions API
//! served over real HTTP.
//!
//! [`MockServer::start`] binds an axum server on `127.0.0.1:0` and serves
//! `POST /v1/chat/completions` from a FIFO script of [`MockReply`] values, so
//! tests can drive the real model client (and the agent loop above it) through
//! the same HTTP stack that users run:
//!
//! ```no_run
//! # async fn demo() {
//! use optagent_testkit::{MockReply, MockServer};
//! use std::time::Duration;
//!
//! let server = MockServer::start().await;
//! server.push(MockReply::status(429, "slow down").retry_after(1));
//! server.push(MockReply::tool_call("edit_file", r#"{"path": "a.c""#)); // malformed on purpose
//! server.push(MockReply::text("done").with_usage(120, 7));
//! server.push(MockReply::text("late").delay(Duration::from_secs(5)));
//! let base_url = server.url(); // "http://127.0.0.1:PORT/v1"
//! // ... run the client against base_url, then inspect what it sent:
//! let bodies = server.requests();
//! let auth = server.authorizations();
//! # let _ = (base_url, bodies, auth);
//! # }
//! ```
//!
//! Every reply is popped when its request *arrives* (before any `delay`), so a
//! client that times out and retries gets the next scripted reply. When the
//! script is empty the server answers HTTP 500 with a body saying the script is
//! exhausted, unless the server was built with [`MockServer::with_handler`], in
//! which case the handler produces replies once the script is empty.
//!
//! Like the local servers users run, it can also say how large its context window is, each route
//! off until set: llama.cpp's `GET /props` and `POST /tokenize`
//! ([`MockServer::serve_llamacpp_props`]), vLLM's `GET /v1/models` with `max_model_len`
//! ([`MockServer::serve_vllm_models`]) and Ollama's `POST /api/show`
//! ([`MockServer::serve_ollama_show`]); [`MockReply::exceed_context`] and friends are the error
//! bodies each server sends for a request that does not fit.
//!
//! Successful replies are complete OpenAI `chat.completion` objects: `id`,
//! `object`, `created`, `model` (echoing the request's `model`), `choices[0]`
//! with an assistant `message` (`role`, `content`, and `tool_calls` of
//! `{id, type: "function", function: {name, arguments}}` when there are any),
//! `finish_reason`, and `usage` (`prompt_tokens`, `completion_tokens`,
//! `total_tokens`, `prompt_tokens_details.cached_tokens`).
//!
//! [`skip`] is how a test that cannot run here (no Docker, valgrind, GPU...) says so, in a line
//! that `.ci/run` counts and lists (see [`skip::SKIP_LOG_VAR`]).

pub mod skip;

pub use skip::skip;

/// Base64 (standard alphabet, padded) of `bytes`: a reference encoder, written independently of
/// the redactor it checks, for tests that print a secret the way a command could.
pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for g in bytes.chunks(3) {
        let b = [g[0], *g.get(1).unwrap_or(&0), *g.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= g.len() {
                T[((n >> shift) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

/// Default usage reported by a reply that did not call [`MockReply::with_usage`].
pub const DEFAULT_PROMPT_TOKENS: u64 = 10;
/// Default completion tokens reported by a reply that did not call [`MockReply::with_usage`].
pub const DEFAULT_COMPLETION_TOKENS: u64 = 5;

/// One tool call inside a scripted reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockToolCall {
    /// Function name the "model" calls.
    pub name: String,
    /// Argument text, sent verbatim (it need not be valid JSON).
    pub arguments: String,
}

#[derive(Debug, Clone)]
enum ReplyKind {
    /// A 200 chat.completion with this assistant message.
    Message {
        content: Option<String>,
        tool_calls: Vec<MockToolCall>,
    },
    /// A non-200 status (or any status) with a raw body.
    Status { code: u16, body: String },
    /// A 200 whose body is not JSON.
    Garbage,
    /// A 200 with an arbitrary JSON body.
    Json(Value),
    /// A 200 whose body stream fails part-way: the connection is dropped.
    Disconnect,
}

/// One scripted answer of the [`MockServer`].
#[derive(Debug, Clone)]
pub struct MockReply {
    kind: ReplyKind,
    prompt_tokens: u64,
    completion_tokens: u64,
    cached_tokens: u64,
    finish_reason: Option<String>,
    retry_after: Option<String>,
    delay: Option<Duration>,
}

impl MockReply {
    fn new(kind: ReplyKind) -> Self {
        Self {
            kind,
            prompt_tokens: DEFAULT_PROMPT_TOKENS,
            completion_tokens: DEFAULT_COMPLETION_TOKENS,
            cached_tokens: 0,
            finish_reason: None,
            retry_after: None,
            delay: None,
        }
    }

    /// An assistant message with text content and no tool calls
    /// (`finish_reason: "stop"`).
    pub fn text(content: impl Into<String>) -> Self {
        Self::new(ReplyKind::Message {
            content: Some(content.into()),
            tool_calls: Vec::new(),
        })
    }

    /// An assistant message calling one tool. `arguments` is sent as raw text,
    /// so tests can send malformed JSON (`finish_reason: "tool_calls"`).
    pub fn tool_call(name: impl Into<String>, arguments: impl Into<String>) -> Self {
        Self::tool_calls([(name, arguments)])
    }

    /// An assistant message calling several tools in one turn, each given as
    /// `(name, raw argument text)`.
    pub fn tool_calls<N, A>(calls: impl IntoIterator<Item = (N, A)>) -> Self
    where
        N: Into<String>,
        A: Into<String>,
    {
        Self::new(ReplyKind::Message {
            content: None,
            tool_calls: calls
                .into_iter()
                .map(|(name, arguments)| MockToolCall {
                    name: name.into(),
                    arguments: arguments.into(),
                })
                .collect(),
        })
    }

    /// An assistant message with `content: null` and no tool calls.
    pub fn empty() -> Self {
        Self::new(ReplyKind::Message {
            content: None,
            tool_calls: Vec::new(),
        })
    }

    /// An HTTP `code` answer with `body` sent verbatim (as `application/json`
    /// when it parses as JSON, else `text/plain`).
    pub fn status(code: u16, body: impl Into<String>) -> Self {
        Self::new(ReplyKind::Status {
            code,
            body: body.into(),
        })
    }

    /// An HTTP `code` answer with an OpenAI-style error body
    /// `{"error": {"message": ..., "type": ..., "code": null}}`.
    pub fn error(code: u16, message: impl Into<String>) -> Self {
        let body = json!({
            "error": {"message": message.into(), "type": "mock_error", "param": null, "code": null}
        });
        Self::status(code, body.to_string())
    }

    /// llama.cpp's answer to a request larger than its window: HTTP 400, `type:
    /// exceed_context_size_error`, with `n_prompt_tokens` and `n_ctx`.
    pub fn exceed_context(n_prompt_tokens: u64, n_ctx: u64) -> Self {
        let body = json!({"error": {
            "code": 400,
            "message": format!("request ({n_prompt_tokens} tokens) exceeds the available context size ({n_ctx} tokens), try increasing it"),
            "type": "exceed_context_size_error",
            "n_prompt_tokens": n_prompt_tokens,
            "n_ctx": n_ctx,
        }});
        Self::status(400, body.to_string())
    }

    /// OpenAI's answer to a request larger than the window: HTTP 400, `code:
    /// context_length_exceeded`.
    pub fn context_length_exceeded(window: u64, requested: u64) -> Self {
        let body = json!({"error": {
            "message": format!("This model's maximum context length is {window} tokens. However, your messages resulted in {requested} tokens. Please reduce the length of the messages."),
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }});
        Self::status(400, body.to_string())
    }

    /// vLLM's answer to a request larger than `max_model_len`: HTTP 400 with a top-level
    /// `message` naming the maximum context length.
    pub fn vllm_max_context(window: u64, in_messages: u64, in_completion: u64) -> Self {
        let body = json!({
            "object": "error",
            "message": format!("This model's maximum context length is {window} tokens. However, you requested {} tokens ({in_messages} in the messages, {in_completion} in the completion). Please reduce the length of the messages or completion.", in_messages + in_completion),
            "type": "BadRequestError",
            "param": null,
            "code": 400,
        });
        Self::status(400, body.to_string())
    }

    /// A 200 answer whose body is not JSON.
    pub fn garbage() -> Self {
        Self::new(ReplyKind::Garbage)
    }

    /// A 200 answer with this exact JSON body (e.g. a completion with no
    /// choices, or a provider's odd dialect).
    pub fn json(body: Value) -> Self {
        Self::new(ReplyKind::Json(body))
    }

    /// A 200 answer whose body is cut off: the server sends part of it and
    /// then drops the connection.
    pub fn disconnect() -> Self {
        Self::new(ReplyKind::Disconnect)
    }

    /// Adds a `Retry-After: secs` header to the answer.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.to_string());
        self
    }

    /// Adds a `Retry-After` header with an arbitrary value (e.g. `"0.2"` or an
    /// HTTP date).
    pub fn retry_after_raw(mut self, value: impl Into<String>) -> Self {
        self.retry_after = Some(value.into());
        self
    }

    /// Sets the `usage` reported for this answer.
    pub fn with_usage(mut self, prompt: u64, completion: u64) -> Self {
        self.prompt_tokens = prompt;
        self.completion_tokens = completion;
        self
    }

    /// Sets `usage.prompt_tokens_details.cached_tokens` (a subset of the
    /// prompt tokens, as OpenAI reports it).
    pub fn with_cached(mut self, cached: u64) -> Self {
        self.cached_tokens = cached;
        self
    }

    /// Adds text content to a message answer (e.g. reasoning next to a tool
    /// call). No effect on other kinds.
    pub fn with_content(mut self, text: impl Into<String>) -> Self {
        if let ReplyKind::Message { content, .. } = &mut self.kind {
            *content = Some(text.into());
        }
        self
    }

    /// Overrides `finish_reason` (default: `"tool_calls"` when the message
    /// calls tools, else `"stop"`).
    pub fn with_finish_reason(mut self, reason: impl Into<String>) -> Self {
        self.finish_reason = Some(reason.into());
        self
    }

    /// Waits this long before answering (to exercise client timeouts).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

type Handler = dyn Fn(&Value) -> MockReply + Send + Sync;

struct Shared {
    script: Mutex<VecDeque<MockReply>>,
    handler: Option<Box<Handler>>,
    requests: Mutex<Vec<Value>>,
    authorizations: Mutex<Vec<Option<String>>>,
    served: AtomicU64,
    next_call_id: AtomicU64,
    routes: Mutex<SideRoutes>,
}

/// What the server says about its window, per server kind (None: the route answers 404).
#[derive(Debug, Clone, Default)]
struct SideRoutes {
    llamacpp_n_ctx: Option<u64>,
    vllm_max_model_len: Option<u64>,
    ollama_context_length: Option<u64>,
    /// Paths of every request to these routes, in arrival order.
    hits: Vec<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not make every later assertion panic too.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A mock OpenAI-compatible server on `127.0.0.1`, shut down when dropped.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
            .field("queued", &self.remaining())
            .field("requests", &lock(&self.shared.requests).len())
            .finish()
    }
}

impl MockServer {
    /// Starts a server with an empty script; add replies with [`push`](Self::push).
    ///
    /// # Panics
    /// If no loopback port can be bound (the test cannot run anyway).
    pub async fn start() -> Self {
        Self::start_inner(None).await
    }

    /// Starts a server whose replies come from `handler`, called with each
    /// request's JSON body, whenever the FIFO script is empty.
    pub async fn with_handler<F>(handler: F) -> Self
    where
        F: Fn(&Value) -> MockReply + Send + Sync + 'static,
    {
        Self::start_inner(Some(Box::new(handler))).await
    }

    async fn start_inner(handler: Option<Box<Handler>>) -> Self {
        let shared = Arc::new(Shared {
            script: Mutex::new(VecDeque::new()),
            handler,
            requests: Mutex::new(Vec::new()),
            authorizations: Mutex::new(Vec::new()),
            served: AtomicU64::new(0),
            next_call_id: AtomicU64::new(1),
            routes: Mutex::new(SideRoutes::default()),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/props", get(props))
            .route("/tokenize", post(tokenize))
            .route("/v1/models", get(models))
            .route("/api/show", post(ollama_show))
            .fallback(not_found)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0 for MockServer");
        let addr = listener.local_addr().expect("MockServer local_addr");
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "MockServer stopped");
            }
        });
        tracing::debug!(%addr, "MockServer listening");
        Self { addr, shared, task }
    }

    /// Base URL of the API, `http://127.0.0.1:PORT/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Appends one reply to the script.
    pub fn push(&self, reply: MockReply) -> &Self {
        lock(&self.shared.script).push_back(reply);
        self
    }

    /// Appends several replies to the script, in order.
    pub fn push_all(&self, replies: impl IntoIterator<Item = MockReply>) -> &Self {
        lock(&self.shared.script).extend(replies);
        self
    }

    /// Number of scripted replies not yet served.
    pub fn remaining(&self) -> usize {
        lock(&self.shared.script).len()
    }

    /// Every request body received on `/v1/chat/completions`, in arrival
    /// order. A body that is not JSON is recorded as a JSON string of its text.
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.shared.requests).clone()
    }

    /// Number of requests received on `/v1/chat/completions`.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.requests).len()
    }

    /// Serve llama.cpp's `GET /props` with `default_generation_settings.n_ctx = n_ctx`, and
    /// `POST /tokenize` (one token per 3 bytes of `content`, rounded up).
    pub fn serve_llamacpp_props(&self, n_ctx: u64) -> &Self {
        lock(&self.shared.routes).llamacpp_n_ctx = Some(n_ctx);
        self
    }

    /// Serve vLLM's `GET /v1/models` listing every requested model with `max_model_len`.
    pub fn serve_vllm_models(&self, max_model_len: u64) -> &Self {
        lock(&self.shared.routes).vllm_max_model_len = Some(max_model_len);
        self
    }

    /// Serve Ollama's `POST /api/show` with `model_info["llama.context_length"]`.
    pub fn serve_ollama_show(&self, context_length: u64) -> &Self {
        lock(&self.shared.routes).ollama_context_length = Some(context_length);
        self
    }

    /// `METHOD path` of every request to `/props`, `/tokenize`, `/v1/models` and `/api/show`
    /// (served or not), in arrival order.
    pub fn side_requests(&self) -> Vec<String> {
        lock(&self.shared.routes).hits.clone()
    }

    /// The `Authorization` header of every request (None when absent), in
    /// arrival order.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        lock(&self.shared.authorizations).clone()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn not_found() -> Response {
    let body = json!({"error": {"message": "MockServer only serves POST /v1/chat/completions", "type": "invalid_request_error"}});
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

fn side_not_found(what: &str) -> Response {
    let body = json!({"error": {"message": format!("MockServer: {what} is not served (not set up by the test)"), "type": "not_found_error"}});
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

async fn props(State(shared): State<Arc<Shared>>) -> Response {
    let mut r = lock(&shared.routes);
    r.hits.push("GET /props".into());
    match r.llamacpp_n_ctx {
        Some(n) => axum::Json(json!({
            "default_generation_settings": {"n_ctx": n, "params": {"n_predict": -1}},
            "total_slots": 1,
            "model_path": "mock.gguf",
            "chat_template": "{{ messages }}",
        }))
        .into_response(),
        None => side_not_found("GET /props"),
    }
}

async fn tokenize(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let mut r = lock(&shared.routes);
    r.hits.push("POST /tokenize".into());
    if r.llamacpp_n_ctx.is_none() {
        return side_not_found("POST /tokenize");
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let n = v
        .get("content")
        .and_then(Value::as_str)
        .map_or(0, |c| c.len().div_ceil(3));
    axum::Json(json!({"tokens": (0..n as u64).collect::<Vec<_>>()})).into_response()
}

async fn models(State(shared): State<Arc<Shared>>) -> Response {
    let mut r = lock(&shared.routes);
    r.hits.push("GET /v1/models".into());
    let Some(n) = r.vllm_max_model_len else {
        return side_not_found("GET /v1/models");
    };
    drop(r);
    // Every model any request named, else one called mock-model.
    let mut ids: Vec<String> = lock(&shared.requests)
        .iter()
        .filter_map(|q| q.get("model").and_then(Value::as_str).map(str::to_owned))
        .collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        ids.push("mock-model".into());
    }
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "object": "model", "owned_by": "vllm", "max_model_len": n}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn ollama_show(State(shared): State<Arc<Shared>>) -> Response {
    let mut r = lock(&shared.routes);
    r.hits.push("POST /api/show".into());
    match r.ollama_context_length {
        Some(n) => axum::Json(json!({
            "modelfile": "FROM mock",
            "parameters": "stop \"<|im_end|>\"",
            "details": {"family": "llama"},
            "model_info": {"general.architecture": "llama", "llama.context_length": n},
        }))
        .into_response(),
        None => side_not_found("POST /api/show"),
    }
}

async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let auth = headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());

    // Record and pick the reply atomically with respect to arrival order.
    let reply = {
        lock(&shared.requests).push(request.clone());
        lock(&shared.authorizations).push(auth);
        lock(&shared.script).pop_front()
    };
    let reply = match reply {
        Some(r) => Some(r),
        None => shared.handler.as_ref().map(|h| h(&request)),
    };
    let served = shared.served.fetch_add(1, Ordering::SeqCst);
    let Some(reply) = reply else {
        let body = json!({"error": {
            "message": format!("optagent-testkit MockServer: script exhausted ({served} scripted replies served); push more MockReply values"),
            "type": "mock_script_exhausted",
        }});
        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response();
    };

    if let Some(d) = reply.delay {
        tokio::time::sleep(d).await;
    }
    render(&shared, &request, reply)
}

fn render(shared: &Shared, request: &Value, reply: MockReply) -> Response {
    let mut response = match &reply.kind {
        ReplyKind::Message {
            content,
            tool_calls,
        } => {
            let body = completion_body(shared, request, &reply, content.as_deref(), tool_calls);
            json_response(StatusCode::OK, body.to_string())
        }
        ReplyKind::Json(v) => json_response(StatusCode::OK, v.to_string()),
        ReplyKind::Status { code, body } => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if serde_json::from_str::<Value>(body).is_ok() {
                json_response(status, body.clone())
            } else {
                let mut r = (status, body.clone()).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                r
            }
        }
        ReplyKind::Garbage => {
            let mut r = (
                StatusCode::OK,
                "<html><body>502 Bad Gateway (not JSON)</body></html>",
            )
                .into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            r
        }
        ReplyKind::Disconnect => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(
                    b"{\"id\":\"chatcmpl-cut\",\"choices\":[",
                )),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "MockServer: dropping the connection",
                )),
            ];
            let mut r = Response::new(Body::from_stream(futures::stream::iter(chunks)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
    };
    if let Some(ra) = &reply.retry_after {
        if let Ok(v) = HeaderValue::from_str(ra) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    response
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn completion_body(
    shared: &Shared,
    request: &Value,
    reply: &MockReply,
    content: Option<&str>,
    tool_calls: &[MockToolCall],
) -> Value {
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("mock-model");
    let mut message = json!({"role": "assistant", "content": content});
    if !tool_calls.is_empty() {
        let calls: Vec<Value> = tool_calls
            .iter()
            .map(|c| {
                let n = shared.next_call_id.fetch_add(1, Ordering::SeqCst);
                json!({
                    "id": format!("call_mock_{n}"),
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                })
            })
            .collect();
        message["tool_calls"] = Value::Array(calls);
    }
    let finish_reason = reply.finish_reason.clone().unwrap_or_else(|| {
        if tool_calls.is_empty() {
            "stop".to_owned()
        } else {
            "tool_calls".to_owned()
        }
    });
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let n = shared.served.load(Ordering::SeqCst);
    json!({
        "id": format!("chatcmpl-mock-{n}"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_mock",
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason,
        }],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_call_reply_keeps_raw_arguments() {
        let shared = Shared {
            script: Mutex::new(VecDeque::new()),
            handler: None,
            requests: Mutex::new(Vec::new()),
            authorizations: Mutex::new(Vec::new()),
            served: AtomicU64::new(0),
            next_call_id: AtomicU64::new(1),
            routes: Mutex::new(SideRoutes::default()),
        };
        let reply = MockReply::tool_call("f", "{not json");
        let ReplyKind::Message {
            content,
            tool_calls,
        } = &reply.kind
        else {
            panic!("expected a message reply");
        };
        let body = completion_body(
            &shared,
            &json!({"model": "m"}),
            &reply,
            content.as_deref(),
            tool_calls,
        );
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["model"], "m");
        let call = &body["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["arguments"], "{not json");
        assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(body["usage"]["total_tokens"], 15);
    }
}
