//! The replay provider reads a trajectory JSONL and returns its recorded
//! responses in order, then errors.

use std::io::Write;

use super::common::{opts, user};
use optagent_model::{
    open_model, ChatResponse, Message, ModelError, ToolCall, Usage, REPLAY_CONTEXT_WINDOW,
};
use optagent_testkit::{MockReply, MockServer};
use serde_json::json;

fn response(content: Option<&str>, calls: Vec<ToolCall>, prompt: u64) -> ChatResponse {
    ChatResponse {
        content: content.map(str::to_owned),
        finish_reason: Some(
            if calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            }
            .into(),
        ),
        tool_calls: calls,
        usage: Usage {
            prompt_tokens: prompt,
            completion_tokens: 7,
            cached_tokens: 3,
        },
        model: "gpt-4o-2024-08-06".into(),
    }
}

#[tokio::test]
async fn replays_recorded_responses_in_order_then_errors() {
    let first = response(
        None,
        vec![ToolCall {
            id: "call_1".into(),
            name: "edit_file".into(),
            arguments: "{\"path\": \"a.c\", \"content\": \"unterminated".into(),
        }],
        100,
    );
    let second = response(Some("done"), vec![], 200);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trajectory.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    for line in [
        json!({"type": "run_start", "task": "t1"}),
        json!({"type": "model_response", "step": 0, "response": first}),
        json!({"type": "tool_result", "content": "error: invalid JSON"}),
        json!({"type": "model_response", "step": 1, "response": second}),
    ] {
        writeln!(f, "{line}").unwrap();
    }
    writeln!(f).unwrap();
    drop(f);

    let model = open_model(&format!("replay:{}", path.display()), &Default::default()).unwrap();
    assert_eq!(model.info().id, "replay/gpt-4o-2024-08-06");
    assert_eq!(model.info().context_window, REPLAY_CONTEXT_WINDOW);
    assert_eq!(model.info().pricing.cost(&first.usage), 0.0);

    let req = user("anything");
    assert_eq!(model.chat(&req).await.unwrap(), first);
    assert_eq!(model.chat(&req).await.unwrap(), second);
    let err = model.chat(&req).await.unwrap_err();
    assert!(matches!(err, ModelError::ReplayExhausted { count: 2, .. }));
    assert!(
        err.to_string()
            .contains("replay exhausted after 2 responses"),
        "{err}"
    );
}

#[tokio::test]
async fn a_live_response_round_trips_through_a_trajectory() {
    let server = MockServer::start().await;
    server.push(MockReply::tool_call("run", "{not json").with_usage(11, 2));
    let live = open_model("openai/gpt-4o", &opts(&server)).unwrap();
    let recorded = live.chat(&user("x")).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    let line = json!({"type": "model_response", "response": recorded});
    std::fs::write(&path, format!("{line}\n")).unwrap();
    let replay = open_model(&format!("replay:{}", path.display()), &Default::default()).unwrap();
    assert_eq!(replay.chat(&user("x")).await.unwrap(), recorded);
}

#[test]
fn messages_round_trip_through_json() {
    let msgs = vec![
        Message::system("s"),
        Message::user("u"),
        Message::Assistant {
            content: None,
            tool_calls: vec![ToolCall {
                id: "c".into(),
                name: "n".into(),
                arguments: "{bad".into(),
            }],
        },
        Message::Assistant {
            content: Some("text".into()),
            tool_calls: vec![],
        },
        Message::tool("c", "result"),
    ];
    let text = serde_json::to_string(&msgs).unwrap();
    let back: Vec<Message> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, msgs);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v[0], json!({"role": "system", "content": "s"}));
    assert_eq!(
        v[4],
        json!({"role": "tool", "tool_call_id": "c", "content": "result"})
    );
}

#[test]
fn bad_trajectories_are_reported_with_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    std::fs::write(
        &path,
        "{\"type\":\"run_start\"}\n{\"type\":\"model_response\",\"response\":{\"content\":\n",
    )
    .unwrap();
    let err = open_model(&format!("replay:{}", path.display()), &Default::default())
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("line 2") && msg.contains("not valid JSON"),
        "{msg}"
    );

    std::fs::write(
        &path,
        "{\"type\":\"model_response\",\"response\":{\"tool_calls\":3}}\n",
    )
    .unwrap();
    let err = open_model(&format!("replay:{}", path.display()), &Default::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("line 1"), "{err}");

    let err = open_model("replay:/nonexistent/t.jsonl", &Default::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("/nonexistent/t.jsonl"), "{err}");
}

#[tokio::test]
async fn an_empty_trajectory_is_exhausted_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    std::fs::write(&path, "").unwrap();
    let model = open_model(&format!("replay:{}", path.display()), &Default::default()).unwrap();
    let err = model.chat(&user("x")).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("replay exhausted after 0 responses"),
        "{err}"
    );
}
