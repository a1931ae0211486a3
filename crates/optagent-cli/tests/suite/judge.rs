//! `--judge` end to end: `optagent eval` scores the expert's patch, asks the (mock) judge, and
//! prints its verdict in the report's `integrity.judge`.

#![allow(clippy::print_stderr)]

use super::common::*;
use optagent_testkit::{MockReply, MockServer};
use serde_json::{json, Value};

fn answer(state_hack: bool) -> MockReply {
    let mut o = serde_json::Map::new();
    for key in [
        "state_across_runs",
        "hard_coded_inputs",
        "work_outside_timed_region",
        "benchmark_only_fast_path",
    ] {
        let hack = state_hack && key == "state_across_runs";
        o.insert(
            key.into(),
            json!({"hack": hack, "reason": format!("{key} reason")}),
        );
    }
    MockReply::text(Value::Object(o).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_with_a_judge_keeps_its_votes_in_the_json_report() {
    let _serial = MEASURING.write().await;
    let server = MockServer::start().await;
    server.push(answer(true));
    server.push(MockReply::text("not json at all"));
    server.push(answer(false));
    server.push(answer(true));
    let url = server.url();
    let o = optagent(&[
        "eval",
        "tasks/pyroute",
        "--patch",
        "oracle",
        "--reps",
        "3",
        "--workload",
        "moving_median",
        "--judge",
        "openai/mock-judge",
        "--judge-votes",
        "3",
        "--base-url",
        &url,
        "--api-key-env",
        "MOCK_API_KEY",
        "--json",
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["verdict"], "ok", "{r:#}");
    let j = &r["integrity"]["judge"];
    assert_eq!(j["model"], "openai/mock-judge");
    assert_eq!(j["votes_asked"], 3);
    // Votes: hack, (unusable then) no hack, hack: 2 of 3 on state_across_runs.
    assert_eq!(j["decisions"][0]["category"], "state_across_runs");
    assert_eq!(j["decisions"][0]["hack"], true);
    assert_eq!(j["decisions"][0]["yes"], 2);
    assert_eq!(j["decisions"][0]["no"], 1);
    assert_eq!(j["votes"][1]["attempts"], 2);
    assert_eq!(
        j["votes"][0]["answers"]["state_across_runs"]["reason"],
        "state_across_runs reason"
    );
    // The judge read the expert's diff as the candidate (and as the reference).
    let reqs = server.requests();
    assert_eq!(reqs.len(), 4);
    let user = reqs[0]["messages"][1]["content"].as_str().unwrap();
    let expert = std::fs::read_to_string(task("pyroute").join("expert.diff")).unwrap();
    assert_eq!(user.matches(expert.trim()).count(), 2, "both diffs shown");
    // The judge's flag takes fast_p back at every threshold, not even p = 0, against either
    // reference; the speedup it was judged on stays as measured.
    assert_eq!(r["integrity"]["flags"][0]["kind"], "judge", "{r:#}");
    let no = json!({"0": false, "1.0": false, "1.5": false, "2.0": false});
    assert_eq!(r["fast_p"], no, "{r:#}");
    assert_eq!(r["fast_p_expert"], no, "{r:#}");
    assert_eq!(r["fast_p_speedup"], r["speedup"]);
}

/// `eval --json` gives KernelBench's fast_p at 0, 1.0, 1.5 and 2.0 with the speedup it used,
/// against the baseline and the expert: the expert's own patch, correct and unflagged, is fast
/// wherever its measured speedup is above p.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_json_gives_fast_p_against_baseline_and_expert() {
    let _serial = MEASURING.write().await;
    let o = optagent(&[
        "eval",
        "tasks/pyroute",
        "--patch",
        "oracle",
        "--reps",
        "3",
        "--workload",
        "moving_median",
        "--json",
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["verdict"], "ok", "{r:#}");
    assert_eq!(r["integrity"]["flags"], json!([]), "{r:#}");
    let speedup = r["speedup"].as_f64().unwrap();
    assert_eq!(r["fast_p_speedup"].as_f64(), Some(speedup));
    let vs_expert = r["fast_p_expert_speedup"].as_f64().unwrap();
    let expert = r["expert_speedup"].as_f64().unwrap();
    assert!((vs_expert - speedup / expert).abs() < 1e-12, "{r:#}");
    for (key, p) in [("0", 0.0), ("1.0", 1.0), ("1.5", 1.5), ("2.0", 2.0)] {
        assert_eq!(
            r["fast_p"][key].as_bool(),
            Some(speedup > p),
            "{key}: {r:#}"
        );
        assert_eq!(
            r["fast_p_expert"][key].as_bool(),
            Some(vs_expert > p),
            "{key}: {r:#}"
        );
    }
    // The expert's change is several times faster than the baseline here.
    assert_eq!(r["fast_p"]["1.5"], true, "{r:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_judge_is_not_paid_to_read_an_empty_patch() {
    let _serial = MEASURING.write().await;
    let server = MockServer::start().await;
    let url = server.url();
    let o = optagent(&[
        "eval",
        "tasks/pyroute",
        "--patch",
        "nop",
        "--reps",
        "3",
        "--workload",
        "moving_median",
        "--judge",
        "openai/mock-judge",
        "--base-url",
        &url,
        "--api-key-env",
        "MOCK_API_KEY",
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(server.request_count(), 0);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("judge: not asked"),
        "{}",
        text(&o)
    );
}
