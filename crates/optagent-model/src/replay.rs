//! The replay provider: `replay:<path>` returns the model responses recorded
//! in an agent trajectory, in order, without calling any model.
//!
//! The trajectory is JSON Lines. Every non-blank line must be a JSON object;
//! lines whose `"type"` is `"model_response"` carry a [`ChatResponse`] in
//! their `"response"` field. All other lines are ignored:
//!
//! ```text
//! {"type":"run_start","task":"..."}
//! {"type":"model_response","response":{"content":null,"tool_calls":[{"id":"call_1","name":"read_file","arguments":"{\"path\":\"a.c\"}"}],"finish_reason":"tool_calls","usage":{"prompt_tokens":812,"completion_tokens":31,"cached_tokens":0},"model":"gpt-4o-2024-08-06"}}
//! {"type":"tool_result","content":"..."}
//! {"type":"model_response","response":{"content":"done","tool_calls":[],"finish_reason":"stop","usage":{"prompt_tokens":900,"completion_tokens":2,"cached_tokens":512},"model":"gpt-4o-2024-08-06"}}
//! ```
//!
//! Requests are not compared with the recorded ones. After the last recorded
//! response, `chat` fails with [`ModelError::ReplayExhausted`]
//! ("replay exhausted after N responses").

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::Value;

use crate::error::ModelError;
use crate::types::{ChatModel, ChatRequest, ChatResponse, ModelInfo, Pricing};

/// Context window reported for replays (the recording does not say).
pub const REPLAY_CONTEXT_WINDOW: u64 = 128_000;

/// Replays recorded [`ChatResponse`]s in order.
#[derive(Debug)]
pub struct ReplayModel {
    path: PathBuf,
    responses: Vec<ChatResponse>,
    next: Mutex<usize>,
    info: ModelInfo,
}

impl ReplayModel {
    /// Reads every `model_response` line of the trajectory at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref().to_owned();
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Replay {
            path: path.clone(),
            message: format!("cannot read: {e}"),
        })?;
        let mut responses = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let err = |message: String| ModelError::Replay {
                path: path.clone(),
                message: format!("line {}: {message}", i + 1),
            };
            let v: Value =
                serde_json::from_str(line).map_err(|e| err(format!("not valid JSON: {e}")))?;
            if v.get("type").and_then(Value::as_str) != Some("model_response") {
                continue;
            }
            let r = v
                .get("response")
                .ok_or_else(|| err("model_response line has no `response` field".into()))?;
            let r: ChatResponse = serde_json::from_value(r.clone())
                .map_err(|e| err(format!("`response` is not a ChatResponse: {e}")))?;
            responses.push(r);
        }
        tracing::debug!(path = %path.display(), responses = responses.len(), "replay loaded");
        Ok(Self::from_responses(path, responses))
    }

    /// A replay of the given responses; `path` only names it in messages.
    pub fn from_responses(path: impl Into<PathBuf>, responses: Vec<ChatResponse>) -> Self {
        let path = path.into();
        let model = responses
            .iter()
            .map(|r| r.model.as_str())
            .find(|m| !m.is_empty())
            .unwrap_or("unknown")
            .to_owned();
        ReplayModel {
            info: ModelInfo {
                id: format!("replay/{model}"),
                provider: "replay".into(),
                model,
                context_window: REPLAY_CONTEXT_WINDOW,
                pricing: Pricing::default(),
                output_limit: Default::default(),
                detect_window: false,
            },
            path,
            responses,
            next: Mutex::new(0),
        }
    }

    /// Number of recorded responses.
    pub fn len(&self) -> usize {
        self.responses.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.responses.is_empty()
    }

    /// Responses not yet returned.
    pub fn remaining(&self) -> usize {
        let next = *self.next.lock().unwrap_or_else(|e| e.into_inner());
        self.responses.len().saturating_sub(next)
    }
}

#[async_trait]
impl ChatModel for ReplayModel {
    async fn chat(&self, _req: &ChatRequest) -> Result<ChatResponse, ModelError> {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        match self.responses.get(*next) {
            Some(r) => {
                *next += 1;
                Ok(r.clone())
            }
            None => Err(ModelError::ReplayExhausted {
                count: self.responses.len(),
                path: self.path.clone(),
            }),
        }
    }

    fn info(&self) -> &ModelInfo {
        &self.info
    }
}
