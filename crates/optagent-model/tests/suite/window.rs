//! Local servers against the mock over real HTTP: asking the server for its context window
//! (llama.cpp `/props`, vLLM `/v1/models`, Ollama `/api/show`), counting tokens with llama.cpp's
//! `/tokenize`, the context-length errors of each server classified as overflows (not retried),
//! and the per-call output limit on the wire.

use super::common::{opts, user};
use optagent_model::{open_model, ModelError, ModelOptions, OutputLimit};
use optagent_testkit::{MockReply, MockServer};

fn local(server: &MockServer) -> ModelOptions {
    // A loopback base URL: the window is asked for.
    opts(server)
}

#[tokio::test]
async fn llamacpp_props_gives_the_window_and_tokenize_counts() {
    let server = MockServer::start().await;
    server.serve_llamacpp_props(8192);
    let model = open_model("llamacpp/smollm2", &local(&server)).unwrap();
    assert_eq!(model.info().context_window, 32768, "the table's guess");
    assert_eq!(model.info().output_limit, OutputLimit::Window);
    let p = model
        .detect_context_window()
        .await
        .expect("the server tells");
    assert_eq!(p.tokens, 8192);
    assert!(
        p.source.contains("/props") && p.source.contains("n_ctx"),
        "{}",
        p.source
    );
    // 30 bytes at 3 bytes a token in the mock.
    assert_eq!(model.count_tokens(&"x".repeat(30)).await, Some(10));
    assert_eq!(server.side_requests(), ["GET /props", "POST /tokenize"]);
}

#[tokio::test]
async fn vllm_models_and_ollama_show_give_the_window() {
    let server = MockServer::start().await;
    server.serve_vllm_models(4096);
    let model = open_model("vllm/Qwen/Qwen2.5-0.5B-Instruct", &local(&server)).unwrap();
    let p = model.detect_context_window().await.unwrap();
    assert_eq!(p.tokens, 4096);
    assert!(p.source.contains("max_model_len"), "{}", p.source);
    // No /tokenize on vLLM.
    assert_eq!(model.count_tokens("abc").await, None);

    let server = MockServer::start().await;
    server.serve_ollama_show(2048);
    let model = open_model("ollama/qwen2.5:0.5b", &local(&server)).unwrap();
    let p = model.detect_context_window().await.unwrap();
    assert_eq!(p.tokens, 2048);
    assert!(p.source.contains("context_length"), "{}", p.source);
}

#[tokio::test]
async fn a_server_that_cannot_tell_leaves_the_config_and_an_explicit_window_is_not_asked() {
    let server = MockServer::start().await;
    let model = open_model("llamacpp/m", &local(&server)).unwrap();
    assert_eq!(model.detect_context_window().await, None);
    assert_eq!(
        server.side_requests().len(),
        3,
        "each server kind was tried once"
    );

    let server = MockServer::start().await;
    server.serve_llamacpp_props(8192);
    let mut o = local(&server);
    o.context_window = Some(4000);
    let model = open_model("llamacpp/m", &o).unwrap();
    assert_eq!(model.info().context_window, 4000);
    assert_eq!(model.detect_context_window().await, None);
    assert!(server.side_requests().is_empty());
}

#[tokio::test]
async fn context_length_errors_of_each_server_are_overflows_and_not_retried() {
    for reply in [
        MockReply::exceed_context(8247, 8192),
        MockReply::context_length_exceeded(128000, 130000),
        MockReply::vllm_max_context(8192, 8000, 1000),
    ] {
        let server = MockServer::start().await;
        server.push(reply);
        let model = open_model("openai/gpt-4o", &opts(&server)).unwrap();
        let e = model.chat(&user("hi")).await.unwrap_err();
        match &e {
            ModelError::ContextOverflow { status, window, .. } => {
                assert_eq!(*status, 400);
                assert!(window.is_some(), "{e}");
            }
            other => panic!("expected an overflow, got {other:?}"),
        }
        assert_eq!(server.request_count(), 1, "not retried");
    }
}

#[tokio::test]
async fn the_output_limit_goes_on_the_wire_under_the_providers_field() {
    let server = MockServer::start().await;
    server.push(MockReply::text("ok"));
    let mut o = local(&server);
    o.max_output_tokens = Some(300);
    let model = open_model("llamacpp/m", &o).unwrap();
    assert_eq!(model.info().output_limit, OutputLimit::Fixed(300));
    let mut req = user("hi");
    req.max_tokens = model
        .info()
        .output_limit
        .for_call(8192, 100)
        .map(|n| n as u32);
    model.chat(&req).await.unwrap();
    assert_eq!(server.requests()[0]["max_tokens"], 300);
    // The window caps it: 8192 - 8000 = 192 left.
    assert_eq!(OutputLimit::Fixed(300).for_call(8192, 8000), Some(192));
    assert_eq!(OutputLimit::Window.for_call(8192, 100), Some(2048));
    assert_eq!(OutputLimit::Unset.for_call(8192, 100), None);
}
