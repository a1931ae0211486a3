//! The LLM judge against a local server speaking the OpenAI API (optagent-testkit's MockServer),
//! through the same model client the agent uses: the majority decides, unusable replies are asked
//! again and then abstain, reasons are kept, and the prompt holds both diffs and the workloads.

use std::path::PathBuf;

use optagent_agent::judge::{Category, Judge, JudgeVerdict, MAX_ATTEMPTS};
use optagent_model::{ApiKey, ModelOptions};
use optagent_testkit::{MockReply, MockServer};
use serde_json::{json, Value};

fn task() -> optagent_task::Task {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tasks/pyroute");
    optagent_task::Task::load(&dir).unwrap()
}

fn judge(server: &MockServer, votes: usize) -> Judge {
    let opts = ModelOptions {
        base_url: Some(server.url()),
        api_key: Some(ApiKey::new("judge-test-key-0123456789")),
        max_retries: Some(0),
        ..Default::default()
    };
    let m = optagent_model::open_model("openai/mock-judge", &opts).unwrap();
    Judge::new(m, votes)
}

/// A reply answering every category, `hacks` naming those judged a hack.
fn reply(hacks: &[Category], reason: &str) -> MockReply {
    let mut o = serde_json::Map::new();
    for c in optagent_agent::judge::CATEGORIES {
        let hack = hacks.contains(&c);
        o.insert(
            c.key().to_string(),
            json!({"hack": hack, "reason": if hack { reason.to_string() } else { "general change".to_string() }}),
        );
    }
    MockReply::text(format!("```json\n{}\n```", Value::Object(o)))
}

const CANDIDATE: &str = "diff --git a/pyroute/graph.py b/pyroute/graph.py\n--- a/pyroute/graph.py\n+++ b/pyroute/graph.py\n@@ -1 +1,2 @@\n+_CACHE_FILE = '/tmp/candidate-marker-cache'\n";

#[tokio::test]
async fn the_majority_of_three_votes_flags_a_cache_and_keeps_every_reason() {
    let server = MockServer::start().await;
    server.push(reply(
        &[Category::StateAcrossRuns],
        "writes results to /tmp and reads them back",
    ));
    server.push(reply(
        &[Category::StateAcrossRuns, Category::HardCodedInputs],
        "cache file",
    ));
    server.push(reply(&[], ""));
    let v = judge(&server, 3).judge(&task(), CANDIDATE).await;
    assert_eq!(server.request_count(), 3);
    assert!(v.flags_hack());
    assert_eq!(
        v.hacks(),
        [Category::StateAcrossRuns],
        "1 of 3 on hard-coding is no majority"
    );
    let d = &v.decisions[0];
    assert_eq!(
        (d.category, d.yes, d.no, d.abstained),
        (Category::StateAcrossRuns, 2, 1, 0)
    );
    assert_eq!(
        v.votes[0].answers[&Category::StateAcrossRuns].reason,
        "writes results to /tmp and reads them back"
    );
    assert_eq!(
        v.votes[2].answers[&Category::StateAcrossRuns].reason,
        "general change"
    );
    assert_eq!(v.votes_cast(), 3);
    assert!(v.usage.prompt_tokens > 0);
    // The verdict travels in the report's JSON and reads back the same.
    let back = JudgeVerdict::from_value(&v.to_value()).unwrap();
    assert_eq!(back, v);
    // Each vote is asked with its own seed, so sampled votes can differ.
    let seeds: Vec<Value> = server
        .requests()
        .iter()
        .map(|r| r["seed"].clone())
        .collect();
    assert_eq!(seeds, [json!(0), json!(1), json!(2)]);
}

#[tokio::test]
async fn an_honest_patch_found_clean_by_the_majority_is_not_flagged() {
    let server = MockServer::start().await;
    server.push(reply(
        &[Category::WorkOutsideTimedRegion],
        "moves the sort to import time",
    ));
    server.push(reply(&[], ""));
    server.push(reply(&[], ""));
    let v = judge(&server, 3).judge(&task(), CANDIDATE).await;
    assert!(!v.flags_hack(), "{}", v.summary());
    assert!(v.summary().contains("no hack found"), "{}", v.summary());
    // The minority's reason is still kept.
    assert_eq!(
        v.votes[0].answers[&Category::WorkOutsideTimedRegion].reason,
        "moves the sort to import time"
    );
}

#[tokio::test]
async fn malformed_replies_are_asked_again_then_abstain_and_a_provider_error_abstains() {
    let server = MockServer::start().await;
    // Vote 0: not JSON, then a category missing, then a good answer (third and last attempt).
    server.push(MockReply::text("I think it is fine."));
    server.push(MockReply::text(
        r#"{"state_across_runs": {"hack": true, "reason": "x"}}"#,
    ));
    server.push(reply(&[Category::HardCodedInputs], "special-cases n=300"));
    // Vote 1: never usable: abstains after MAX_ATTEMPTS asks.
    for _ in 0..MAX_ATTEMPTS {
        server.push(MockReply::text("{not json}"));
    }
    // Vote 2: the provider refuses: abstains at once.
    server.push(MockReply::error(400, "bad request"));
    let v = judge(&server, 3).judge(&task(), CANDIDATE).await;
    assert_eq!(server.request_count(), 3 + MAX_ATTEMPTS + 1);
    assert_eq!(v.votes[0].attempts, 3);
    assert!(v.votes[0].abstained.is_none());
    assert_eq!(v.votes[1].attempts, MAX_ATTEMPTS);
    let why = v.votes[1].abstained.as_deref().unwrap();
    assert!(why.contains("not valid JSON"), "{why}");
    assert!(
        v.votes[2]
            .abstained
            .as_deref()
            .unwrap()
            .contains("provider"),
        "{:?}",
        v.votes[2]
    );
    // The one vote cast decides.
    assert_eq!(v.votes_cast(), 1);
    assert_eq!(v.hacks(), [Category::HardCodedInputs]);
    let d = &v.decisions[1];
    assert_eq!((d.yes, d.no, d.abstained), (1, 0, 2));
    // A retry shows the model its reply and says what was wrong.
    let reqs = server.requests();
    let msgs = reqs[1]["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 4, "{msgs:#?}");
    assert_eq!(msgs[2]["content"], "I think it is fine.");
    let fix = msgs[3]["content"].as_str().unwrap();
    assert!(fix.contains("no JSON object"), "{fix}");
    let fix = reqs[2]["messages"][5]["content"].as_str().unwrap();
    assert!(
        fix.contains("categories missing") && fix.contains("hard_coded_inputs"),
        "{fix}"
    );
}

#[tokio::test]
async fn every_vote_abstaining_decides_nothing_and_never_fails() {
    let server = MockServer::start().await;
    // A body that is no chat completion is an unusable reply too: asked again, then abstains.
    for _ in 0..MAX_ATTEMPTS {
        server.push(MockReply::garbage());
    }
    let v = judge(&server, 1).judge(&task(), CANDIDATE).await;
    assert_eq!(server.request_count(), MAX_ATTEMPTS);
    assert_eq!(v.votes[0].attempts, MAX_ATTEMPTS);
    assert!(!v.flags_hack());
    assert_eq!(v.votes_cast(), 0);
    assert!(
        v.summary().contains("every vote abstained"),
        "{}",
        v.summary()
    );
}

#[tokio::test]
async fn the_prompt_holds_both_diffs_the_workloads_and_their_files() {
    let server = MockServer::start().await;
    server.push(reply(&[], ""));
    let t = task();
    judge(&server, 1).judge(&t, CANDIDATE).await;
    let reqs = server.requests();
    let user = reqs[0]["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let expert = std::fs::read_to_string(t.dir.join("expert.diff")).unwrap();
    assert!(user.contains(expert.trim()), "the expert's diff is shown");
    assert!(
        user.contains("candidate-marker-cache"),
        "the candidate's diff is shown"
    );
    // Every workload, hidden ones included, with its command; and the file the commands run.
    for w in &t.spec.workloads {
        assert!(
            user.contains(&w.name) && user.contains(&w.command),
            "{}",
            w.name
        );
    }
    let runner = std::fs::read_to_string(t.dir.join("repo/bench/run.py")).unwrap();
    assert!(user.contains("### Workload file `bench/run.py`"));
    assert!(user.contains(runner.lines().find(|l| l.contains("def ")).unwrap()));
    for c in optagent_agent::judge::CATEGORIES {
        assert!(user.contains(c.key()), "{}", c.key());
    }
    let system = reqs[0]["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("JSON"));
    // No tools are offered: the judge only answers.
    assert!(reqs[0].get("tools").is_none());
}
