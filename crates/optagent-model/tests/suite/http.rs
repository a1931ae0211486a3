//! The OpenAI-compatible client against the mock server over real HTTP:
//! parsing, usage and cost, retries (429 + Retry-After, 5xx, timeouts,
//! dropped connections), non-retryable errors, and what is sent.

use std::time::{Duration, Instant};

use super::common::{opts, user, with_tools, TEST_KEY};
use optagent_model::{open_model, Message, ModelError, ModelOptions, Usage};
use optagent_testkit::{MockReply, MockServer};
use serde_json::json;

#[tokio::test]
async fn text_reply_with_usage_and_cost() {
    let server = MockServer::start().await;
    server.push(
        MockReply::text("Use -O3.")
            .with_usage(1_000_000, 200_000)
            .with_cached(400_000),
    );
    let model = open_model("openai/gpt-4o", &opts(&server)).unwrap();
    let r = model.chat(&user("speed this up")).await.unwrap();

    assert_eq!(r.content.as_deref(), Some("Use -O3."));
    assert!(r.tool_calls.is_empty());
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    assert_eq!(r.model, "gpt-4o");
    assert_eq!(
        r.usage,
        Usage {
            prompt_tokens: 1_000_000,
            completion_tokens: 200_000,
            cached_tokens: 400_000
        }
    );
    // gpt-4o: 2.50 in, 1.25 cached in, 10.00 out per Mtok.
    let info = model.info();
    assert_eq!(info.id, "openai/gpt-4o");
    let cost = info.pricing.cost(&r.usage);
    let expected = 0.6 * 2.5 + 0.4 * 1.25 + 0.2 * 10.0;
    assert!((cost - expected).abs() < 1e-9, "cost {cost} != {expected}");
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn tool_calls_keep_raw_arguments_even_when_malformed() {
    let server = MockServer::start().await;
    let malformed = r#"{"path": "src/main.c", "content": "int main("#;
    server.push(MockReply::tool_call("edit_file", malformed));
    server.push(
        MockReply::tool_calls([
            ("edit_file", r#"{"path":"a.c","content":"x"}"#),
            ("run_tests", ""),
        ])
        .with_content("Two edits."),
    );
    let model = open_model("openai/gpt-4o", &opts(&server)).unwrap();
    let req = with_tools(user("fix it"));

    let r1 = model.chat(&req).await.unwrap();
    assert_eq!(r1.content, None);
    assert_eq!(r1.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(r1.tool_calls.len(), 1);
    assert_eq!(r1.tool_calls[0].name, "edit_file");
    assert_eq!(r1.tool_calls[0].arguments, malformed);
    assert!(!r1.tool_calls[0].id.is_empty());

    // The agent feeds the error back; check exactly what goes on the wire.
    let mut req2 = req.clone();
    req2.messages.push(r1.to_message());
    req2.messages.push(Message::tool(
        r1.tool_calls[0].id.clone(),
        "error: arguments are not valid JSON: EOF while parsing a string",
    ));
    let r2 = model.chat(&req2).await.unwrap();
    assert_eq!(r2.content.as_deref(), Some("Two edits."));
    let names: Vec<_> = r2.tool_calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["edit_file", "run_tests"]);
    assert_eq!(
        r2.tool_calls[0].arguments,
        r#"{"path":"a.c","content":"x"}"#
    );
    assert_eq!(r2.tool_calls[1].arguments, "");

    let sent = server.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["tools"][0]["function"]["name"], "edit_file");
    let msgs = sent[1]["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 4);
    assert_eq!(msgs[2]["role"], "assistant");
    assert_eq!(
        msgs[2]["tool_calls"][0]["function"]["arguments"], malformed,
        "the malformed arguments must be sent back verbatim"
    );
    assert_eq!(
        msgs[3],
        json!({
            "role": "tool",
            "tool_call_id": r1.tool_calls[0].id,
            "content": "error: arguments are not valid JSON: EOF while parsing a string"
        })
    );
}

#[tokio::test]
async fn empty_reply_has_no_content_and_no_calls() {
    let server = MockServer::start().await;
    server.push(MockReply::empty());
    let model = open_model("openai/gpt-4o", &opts(&server)).unwrap();
    let r = model.chat(&user("hi")).await.unwrap();
    assert_eq!(r.content, None);
    assert!(r.tool_calls.is_empty());
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    let server = MockServer::start().await;
    server.push(MockReply::error(429, "Rate limit reached").retry_after(1));
    server.push(MockReply::text("ok"));
    let mut o = opts(&server);
    o.retry_max_delay = Some(Duration::from_secs(10));
    let model = open_model("openai/gpt-4o", &o).unwrap();

    let t0 = Instant::now();
    let r = model.chat(&user("hi")).await.unwrap();
    let waited = t0.elapsed();
    assert_eq!(r.content.as_deref(), Some("ok"));
    assert_eq!(server.request_count(), 2, "attempts");
    // The backoff alone would wait ~1 ms; Retry-After asked for 1 s.
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");
    assert!(waited < Duration::from_secs(8), "waited {waited:?}");
}

#[tokio::test]
async fn retry_after_is_capped_by_max_delay() {
    let server = MockServer::start().await;
    server.push(MockReply::error(429, "slow down").retry_after(30));
    server.push(MockReply::text("ok"));
    let mut o = opts(&server);
    o.retry_max_delay = Some(Duration::from_millis(300));
    let model = open_model("openai/gpt-4o", &o).unwrap();

    let t0 = Instant::now();
    model.chat(&user("hi")).await.unwrap();
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "waited only {waited:?}"
    );
    assert!(waited < Duration::from_secs(10), "cap ignored: {waited:?}");
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn server_error_then_success() {
    let server = MockServer::start().await;
    server.push(MockReply::status(500, "internal error"));
    server.push(MockReply::text("recovered"));
    let model = open_model("openai/gpt-4o", &opts(&server)).unwrap();
    let r = model.chat(&user("hi")).await.unwrap();
    assert_eq!(r.content.as_deref(), Some("recovered"));
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn persistent_503_fails_after_max_retries_plus_one_attempts() {
    let server =
        MockServer::with_handler(|_| MockReply::error(503, "The server is overloaded")).await;
    let mut o = opts(&server);
    o.max_retries = Some(3);
    let model = open_model("openai/gpt-4o", &o).unwrap();
    let err = model.chat(&user("hi")).await.unwrap_err();

    assert_eq!(server.request_count(), 4);
    match &err {
        ModelError::RetriesExhausted {
            attempts,
            last_status,
            last_error,
            ..
        } => {
            assert_eq!(*attempts, 4);
            assert_eq!(*last_status, Some(503));
            assert!(last_error.contains("overloaded"), "{last_error}");
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("4 attempts") && msg.contains("503"), "{msg}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn zero_retries_means_one_attempt() {
    let server = MockServer::with_handler(|_| MockReply::status(502, "bad gateway")).await;
    let mut o = opts(&server);
    o.max_retries = Some(0);
    let model = open_model("openai/gpt-4o", &o).unwrap();
    let err = model.chat(&user("hi")).await.unwrap_err();
    assert!(err.to_string().contains("after 1 attempt;"), "{err}");
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn timeout_is_retried() {
    let server = MockServer::start().await;
    server.push(MockReply::text("too late").delay(Duration::from_secs(5)));
    server.push(MockReply::text("in time"));
    let mut o = opts(&server);
    o.timeout = Some(Duration::from_millis(300));
    let model = open_model("openai/gpt-4o", &o).unwrap();

    let t0 = Instant::now();
    let r = model.chat(&user("hi")).await.unwrap();
    assert_eq!(r.content.as_deref(), Some("in time"));
    assert_eq!(server.request_count(), 2);
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn timeouts_exhausted_say_so() {
    let server =
        MockServer::with_handler(|_| MockReply::text("never").delay(Duration::from_secs(5))).await;
    let mut o = opts(&server);
    o.timeout = Some(Duration::from_millis(200));
    o.max_retries = Some(1);
    let model = open_model("openai/gpt-4o", &o).unwrap();
    let err = model.chat(&user("hi")).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("2 attempts") && msg.contains("timed out"),
        "{msg}"
    );
    assert!(matches!(
        err,
        ModelError::RetriesExhausted {
            last_status: None,
            ..
        }
    ));
}

#[tokio::test]
async fn dropped_connection_is_retried() {
    let server = MockServer::start().await;
    server.push(MockReply::disconnect());
    server.push(MockReply::text("second try"));
    let model = open_model("openai/gpt-4o", &opts(&server)).unwrap();
    let r = model.chat(&user("hi")).await.unwrap();
    assert_eq!(r.content.as_deref(), Some("second try"));
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn connection_refused_is_retried_then_explained() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let o = ModelOptions {
        base_url: Some(format!("http://127.0.0.1:{port}/v1")),
        ignore_user_config: true,
        max_retries: Some(2),
        retry_base_delay: Some(Duration::from_millis(1)),
        ..Default::default()
    };
    let model = open_model("vllm/some-model", &o).unwrap();
    let err = model.chat(&user("hi")).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("3 attempts"), "{msg}");
    assert!(msg.contains("could not connect"), "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
}

#[tokio::test]
async fn garbage_body_is_a_clear_error_without_retry() {
    let server = MockServer::start().await;
    server.push(MockReply::garbage());
    server.push(MockReply::text("unused"));
    let model = open_model("openai/gpt-4o", &opts(&server)).unwrap();
    let err = model.chat(&user("hi")).await.unwrap_err();
    assert!(matches!(err, ModelError::InvalidResponse { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("not valid JSON"), "{msg}");
    assert!(
        msg.contains("502 Bad Gateway"),
        "body excerpt missing: {msg}"
    );
    assert_eq!(server.request_count(), 1, "the caller decides on retrying");
}

#[tokio::test]
async fn no_choices_is_a_clear_error() {
    let server = MockServer::start().await;
    server.push(MockReply::json(json!({
        "id": "x", "object": "chat.completion", "created": 0, "model": "gpt-4o", "choices": []
    })));
    let model = open_model("openai/gpt-4o", &opts(&server)).unwrap();
    let err = model.chat(&user("hi")).await.unwrap_err();
    assert!(err.to_string().contains("no choices"), "{err}");
}

#[tokio::test]
async fn client_errors_fail_at_once_with_the_providers_message() {
    let server = MockServer::start().await;
    server.push(MockReply::error(
        400,
        "Invalid schema for function 'edit_file'",
    ));
    server.push(MockReply::text("unused"));
    let model = open_model("openai/gpt-4o", &opts(&server)).unwrap();
    let err = model.chat(&user("hi")).await.unwrap_err();
    match &err {
        ModelError::Api {
            status, message, ..
        } => {
            assert_eq!(*status, 400);
            assert!(message.contains("Invalid schema for function"), "{message}");
        }
        other => panic!("expected Api error, got {other:?}"),
    }
    assert_eq!(server.request_count(), 1);
    assert!(!err.is_transient());
}

#[tokio::test]
async fn script_exhaustion_is_visible() {
    let server = MockServer::start().await;
    let mut o = opts(&server);
    o.max_retries = Some(0);
    let model = open_model("openai/gpt-4o", &o).unwrap();
    let err = model.chat(&user("hi")).await.unwrap_err();
    assert!(err.to_string().contains("script exhausted"), "{err}");
}

#[tokio::test]
async fn authorization_header_carries_the_key() {
    let server = MockServer::start().await;
    server.push(MockReply::text("a"));
    let model = open_model("openai/gpt-4o", &opts(&server)).unwrap();
    model.chat(&user("hi")).await.unwrap();
    assert_eq!(
        server.authorizations(),
        [Some(format!("Bearer {TEST_KEY}"))]
    );
}

#[tokio::test]
async fn request_parameters_follow_the_provider() {
    let server = MockServer::start().await;
    server.push(MockReply::text("a"));
    server.push(MockReply::text("b"));
    let mut req = user("hi");
    req.temperature = Some(0.25);
    req.seed = Some(42);
    req.max_tokens = Some(1234);

    let openai = open_model("openai/o4-mini", &opts(&server)).unwrap();
    openai.chat(&req).await.unwrap();
    let deepseek = open_model("deepseek/deepseek-chat", &opts(&server)).unwrap();
    deepseek.chat(&req).await.unwrap();

    let sent = server.requests();
    assert_eq!(sent[0]["model"], "o4-mini");
    assert_eq!(sent[0]["max_completion_tokens"], 1234);
    assert!(sent[0].get("max_tokens").is_none());
    assert_eq!(sent[0]["seed"], 42);
    assert_eq!(sent[0]["temperature"], 0.25);
    assert!(sent[0].get("tools").is_none());
    assert_eq!(sent[1]["max_tokens"], 1234);
    assert_eq!(
        sent[1]["messages"][0],
        json!({"role": "system", "content": "You optimize code."})
    );
}
