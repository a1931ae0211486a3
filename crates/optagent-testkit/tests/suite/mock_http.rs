//! The mock server over real HTTP with a plain reqwest client: response
//! shapes, headers, recording, exhaustion, handlers, delays.

use std::time::{Duration, Instant};

use optagent_testkit::{MockReply, MockServer};
use serde_json::{json, Value};

async fn post(server: &MockServer, body: Value, auth: Option<&str>) -> reqwest::Response {
    let mut rb = reqwest::Client::new()
        .post(format!("{}/chat/completions", server.url()))
        .json(&body);
    if let Some(a) = auth {
        rb = rb.header("authorization", a);
    }
    rb.send().await.unwrap()
}

#[tokio::test]
async fn serves_script_in_order_and_records_requests() {
    let server = MockServer::start().await;
    assert!(server.url().starts_with("http://127.0.0.1:"));
    assert!(server.url().ends_with("/v1"));
    server
        .push(MockReply::text("hello").with_usage(12, 3).with_cached(4))
        .push(MockReply::tool_calls([("a", "{}"), ("b", "{oops")]));

    let r = post(
        &server,
        json!({"model": "m1", "messages": []}),
        Some("Bearer k"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "m1");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(v["created"].as_u64().unwrap() > 1_600_000_000);
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "hello");
    assert!(choice["message"].get("tool_calls").is_none());
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
               "prompt_tokens_details": {"cached_tokens": 4}})
    );

    let v: Value = post(&server, json!({"model": "m2"}), None)
        .await
        .json()
        .await
        .unwrap();
    let msg = &v["choices"][0]["message"];
    assert_eq!(msg["content"], Value::Null);
    let calls = msg["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1]["type"], "function");
    assert_eq!(calls[1]["function"]["name"], "b");
    assert_eq!(calls[1]["function"]["arguments"], "{oops");
    assert_ne!(calls[0]["id"], calls[1]["id"]);
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");

    assert_eq!(server.request_count(), 2);
    assert_eq!(server.requests()[1]["model"], "m2");
    assert_eq!(server.authorizations(), [Some("Bearer k".to_owned()), None]);
    assert_eq!(server.remaining(), 0);

    // Script exhausted: 500 saying so.
    let r = post(&server, json!({}), None).await;
    assert_eq!(r.status(), 500);
    assert!(r.text().await.unwrap().contains("script exhausted"));
}

#[tokio::test]
async fn error_replies_garbage_and_headers() {
    let server = MockServer::start().await;
    server.push_all([
        MockReply::status(429, "slow").retry_after(7),
        MockReply::error(400, "bad request"),
        MockReply::garbage(),
        MockReply::empty().with_finish_reason("length"),
    ]);
    let r = post(&server, json!({}), None).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(r.text().await.unwrap(), "slow");

    let r = post(&server, json!({}), None).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["message"], "bad request");

    let r = post(&server, json!({}), None).await;
    assert_eq!(r.status(), 200);
    assert!(serde_json::from_str::<Value>(&r.text().await.unwrap()).is_err());

    let v: Value = post(&server, json!({}), None).await.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], Value::Null);
    assert_eq!(v["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn handler_answers_once_the_script_is_empty() {
    let server = MockServer::with_handler(|req| {
        let n = req["messages"].as_array().map_or(0, Vec::len);
        MockReply::text(format!("{n} messages"))
    })
    .await;
    server.push(MockReply::text("scripted"));
    let body = json!({"messages": [{"role": "user", "content": "x"}]});
    let first: Value = post(&server, body.clone(), None)
        .await
        .json()
        .await
        .unwrap();
    let second: Value = post(&server, body, None).await.json().await.unwrap();
    assert_eq!(first["choices"][0]["message"]["content"], "scripted");
    assert_eq!(second["choices"][0]["message"]["content"], "1 messages");
}

#[tokio::test]
async fn delay_and_disconnect() {
    let server = MockServer::start().await;
    server.push(MockReply::text("slow").delay(Duration::from_millis(300)));
    server.push(MockReply::disconnect());
    let t0 = Instant::now();
    let r = post(&server, json!({}), None).await;
    assert_eq!(r.status(), 200);
    assert!(t0.elapsed() >= Duration::from_millis(300));

    let outcome = match reqwest::Client::new()
        .post(format!("{}/chat/completions", server.url()))
        .body("{}")
        .send()
        .await
    {
        Ok(r) => r.bytes().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(outcome.is_err(), "a dropped connection must be an error");
}

#[tokio::test]
async fn other_paths_are_404() {
    let server = MockServer::start().await;
    let r = reqwest::get(format!("{}/models", server.url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(server.request_count(), 0);
}
