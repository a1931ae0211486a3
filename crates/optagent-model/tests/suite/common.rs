//! Shared helpers for the integration tests: options pointing a real client
//! at a [`MockServer`], and small request builders.
#![allow(dead_code)]

use std::time::Duration;

use optagent_model::{ApiKey, ChatRequest, Message, ModelOptions, ToolSpec};
use optagent_testkit::MockServer;

/// A key distinctive enough to search for in output.
pub const TEST_KEY: &str = "sk-test-SECRET-6f1d2c9a8b7e";

/// Options for `openai/...` redirected to the mock, with tiny backoff delays.
pub fn opts(server: &MockServer) -> ModelOptions {
    ModelOptions {
        base_url: Some(server.url()),
        api_key: Some(ApiKey::new(TEST_KEY)),
        ignore_user_config: true,
        timeout: Some(Duration::from_secs(10)),
        max_retries: Some(3),
        retry_base_delay: Some(Duration::from_millis(1)),
        retry_max_delay: Some(Duration::from_millis(20)),
        ..Default::default()
    }
}

pub fn user(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::system("You optimize code."), Message::user(text)],
        ..Default::default()
    }
}

pub fn with_tools(mut req: ChatRequest) -> ChatRequest {
    req.tools = vec![ToolSpec {
        name: "edit_file".into(),
        description: "Replace a file's contents".into(),
        parameters: serde_json::json!({
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"]
        }),
    }];
    req
}
